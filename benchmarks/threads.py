"""Head fit time with the compute pools sized as ethoprism sizes them, on an idle and on a loaded
machine (``--load`` busy processes, one per core by default, stand in for the decoder, a second
job or a browser).

    python benchmarks/threads.py [--n 20000] [--dim 1280] [--head mlp] [--threads 2 1]

Each run is a fresh process (OpenMP reads its environment at start): the ThresholdedHead fit of
``benchmarks/heads.py`` (inner fit, threshold tuning, final fit) on synthetic embeddings."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIT = """
import sys, time
sys.path.insert(0, {here!r})
from heads import synthetic
from ethoprism.heads import make_head
from ethoprism.heads.decision import ThresholdedHead
X, Y, groups = synthetic({n}, {dim}, 6, 0.15)
started = time.perf_counter()
ThresholdedHead(make_head({head!r}, exclusive=True)).fit(X, Y, groups=groups)
print(time.perf_counter() - started)
"""


def fit_seconds(args, env: dict) -> float:
    code = FIT.format(here=str(HERE), n=args.n, dim=args.dim, head=args.head)
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )
    if out.returncode:
        sys.exit(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--head", default="mlp")
    parser.add_argument("--threads", type=int, nargs="+", default=[len(os.sched_getaffinity(0)), 1])
    parser.add_argument("--load", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    settings = [(f"{t} threads", {"OMP_NUM_THREADS": str(t)}) for t in args.threads]
    settings.append(
        (
            f"{args.threads[0]} threads, OMP_WAIT_POLICY=PASSIVE",
            {"OMP_NUM_THREADS": str(args.threads[0]), "OMP_WAIT_POLICY": "PASSIVE"},
        )
    )
    print(f"| {args.head} fit, {args.n} x {args.dim} | idle s | loaded ({args.load} busy processes) s |")
    print("| --- | --- | --- |")
    for name, env in settings:
        idle = fit_seconds(args, env)
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
        try:
            time.sleep(0.5)
            loaded = fit_seconds(args, env)
        finally:
            for burner in burners:
                burner.kill()
        print(f"| {name} | {idle:.1f} | {loaded:.1f} |", flush=True)


if __name__ == "__main__":
    main()
