"""How long the README's test command takes, and which tests take it.

    python benchmarks/suite.py [--slowest 12]

Runs the README's test command as a new user's machine does (``COLUMNS`` unset, stdin closed,
output piped) with pytest's ``--durations`` and prints a table: the wall time of the whole run,
pytest's own count and time, and the slowest tests. The target (issue #24) is the whole run in
8 minutes or less on the 2-core development machine; nothing else may run meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slowest", type=int, default=12, help="how many of the slowest tests to list")
    args = parser.parse_args()
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    command = [sys.executable, "-m", "pytest", "-q", f"--durations={args.slowest}"]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    output = done.stdout + done.stderr
    summary = [line for line in output.splitlines() if re.search(r"\d+ passed", line)]
    slowest = re.findall(r"^(\d+\.\d+)s (call|setup|teardown)\s+(\S+)", output, re.MULTILINE)
    counts = summary[-1].strip("= ") if summary else f"no summary (exit {done.returncode})"
    print(f"| run | value |\n| --- | --- |\n| wall time | {int(wall // 60)} min {int(wall % 60):02d} s |")
    print(f"| pytest | {counts} |")
    print(f"| exit code | {done.returncode} |\n")
    print("| seconds | phase | test |\n| --- | --- | --- |")
    for seconds, phase, test in slowest:
        print(f"| {float(seconds):.1f} | {phase} | `{test}` |")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
