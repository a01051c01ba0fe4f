"""A/B of the extraction pipeline on CPU: this checkout against another source tree, in the same
run, alternating, so a change to the pipeline can be shown not to slow CPU users down.

    git worktree add /tmp/baseline <commit>
    python benchmarks/cpu_ab.py --baseline-src /tmp/baseline/src [--repeats 3]

Each measurement is a fresh process that extracts a cut of a real video (decode to store) with
the offline default (EfficientNet-Lite0, tiled 16-frame batches at 224 px) and with VideoPrism-B
at its real size (random weights; speed does not depend on the values), and prints frames/s.
The table gives the median per tree and the ratio (this checkout / baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from gpu import cut_video  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared/data/dlc_openfield_mouse/m3v1mp4.mp4"

MEASURE = """
import json, sys, tempfile, time
from pathlib import Path
import torch
from ethoprism.backbones import load_backbone
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore
name, weights, video, dtype = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
random = weights == "random"
backbone = load_backbone(
    name, None if weights == "-" else weights, config={} if random else None, device="cpu", dtype=dtype
)
spec = backbone.default_clip_spec("tiled")
with tempfile.TemporaryDirectory() as folder:
    start = time.perf_counter()
    store = EmbeddingStore(folder)
    entry, _ = extract_video(video, backbone, store, spec, batch_size=2 if random else 4)
    print(json.dumps({"frames_per_s": entry.n_frames / (time.perf_counter() - start)}))
"""


def measure(src: Path, name: str, weights: str, video: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, name, weights, str(video), "fp32"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["frames_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-src", type=Path, required=True)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trees = {"this checkout": ROOT / "src", "baseline": args.baseline_src}
    cases = [("effnet-lite0", "-", 480), ("videoprism-b", "random", 48)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, weights, n_frames in cases:
            video = cut_video(args.video, n_frames, Path(folder))
            rates = {tree: [] for tree in trees}
            for _ in range(args.repeats):
                for tree, src in trees.items():  # alternate, so drift hits both alike
                    rates[tree].append(measure(src, name, weights, video))
                    print(name, tree, rates[tree][-1], file=sys.stderr, flush=True)
            rows.append((name, n_frames, {t: statistics.median(r) for t, r in rates.items()}))
    print(f"\nCPU: {os.cpu_count()} cores; median of {args.repeats} fresh processes each, alternating\n")
    print("| backbone (tiled, fp32) | frames | this checkout, frames/s | baseline, frames/s | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for name, n_frames, median in rows:
        ratio = median["this checkout"] / median["baseline"]
        print(
            f"| {name} | {n_frames} | {median['this checkout']:.1f} | {median['baseline']:.1f} "
            f"| {ratio:.2f} |"
        )


if __name__ == "__main__":
    main()
