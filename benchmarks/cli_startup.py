"""How long the CLI takes to answer before any work: `ethoprism --help`, a command's --help and an
argument error, beside the floor of starting Python and importing numpy.

    python benchmarks/cli_startup.py [--repeats 7]

Prints a table of median wall times (s) of fresh processes."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

CASES = [
    ("python -c 'import numpy' (floor)", [sys.executable, "-c", "import numpy"]),
    ("ethoprism --help", ["ethoprism", "--help"]),
    ("ethoprism extract --help", ["ethoprism", "extract", "--help"]),
    ("ethoprism localize train --help", ["ethoprism", "localize", "train", "--help"]),
    ("ethoprism train --bogus (argument error)", ["ethoprism", "train", "--bogus"]),
    (
        "python -c 'import ethoprism.backbones.base' (torch)",
        [sys.executable, "-c", "import ethoprism.backbones.base"],
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("ethoprism") is None:
        sys.exit("install ethoprism first (pip install -e .)")
    print(f"| command | median s ({args.repeats} runs) |")
    print("| --- | --- |")
    for name, command in CASES:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
