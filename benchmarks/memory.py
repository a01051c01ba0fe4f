"""Peak memory of one extraction batch (4 clips x 16 frames, the CLI default) for EfficientNet-Lite0
at several input sizes, with the backbone's bounded passes and with the whole batch in one pass.

    python benchmarks/memory.py [--sizes 224 448 896]

Each measurement runs in a fresh subprocess and reports its peak resident set size (ru_maxrss),
which includes the Python process, torch and the weights (~0.4 GB on its own).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {src!r})
from ethoprism.backbones import load_backbone
backbone = load_backbone("effnet-lite0")
if {one_pass}:
    backbone.pixels_per_pass = 10**12
frames = np.random.default_rng(0).random((4, 16, {size}, {size}, 3), dtype=np.float32)
start = time.perf_counter()
backbone.encode(frames)
print(json.dumps({{"seconds": time.perf_counter() - start,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}}))
"""


def measure(size: int, one_pass: bool) -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    code = CHILD.format(src=src, size=size, one_pass=one_pass)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 448, 896])
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        for one_pass in (False, True):
            result = measure(size, one_pass)
            rows.append(
                {
                    "size": size,
                    "mode": "whole batch in one pass" if one_pass else "bounded passes (default)",
                    **result,
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    print(f"\neffnet-lite0, one batch of 4 clips x 16 frames, fp32, {time.strftime('%Y-%m-%d')}\n")
    print("| input | mode | peak RSS (GB) | encode time (s) |\n| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['size']} px | {r['mode']} | {r['peak_gb']:.2f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
