"""The SLEAP fly clip through the command line, exactly as docs/localization.md shows it:
extract -> localize train (frames 0-1049) -> predict (1050-1499) -> evaluate, each step timed.

    python benchmarks/localization_cli.py [--size 896] [--token-step 2] [--smooth 1] [--work DIR]

Prints one Markdown table row per step and the metrics; ~25 min at 896 px on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLY = Path(__file__).resolve().parents[2] / "shared" / "data" / "sleap_fly_videos"


def step(name: str, args: list[str], rows: list[tuple[str, float]]) -> None:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ethoprism.cli", *args], check=True)
    rows.append((name, time.perf_counter() - start))
    print(f"{name}: {rows[-1][1]:.0f} s", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=896)
    parser.add_argument("--token-step", type=int, default=2)
    parser.add_argument("--smooth", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None, help="keep the store and outputs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        store, head, pred = str(work / "store"), str(work / "box_head"), str(work / "pred")
        video, pose = str(FLY / "clip.mp4"), str(FLY / "clip.slp")
        rows: list[tuple[str, float]] = []
        step(
            "extract",
            [
                "extract",
                video,
                "--store",
                store,
                "--size",
                str(args.size),
                "--token-step",
                str(args.token_step),
                "--overlap",
                "0",
            ],
            rows,
        )
        step(
            "localize train",
            [
                "localize",
                "train",
                store,
                "--boxes",
                pose,
                "--video",
                "clip.mp4",
                "--frames",
                "0-1049",
                "--out",
                head,
            ],
            rows,
        )
        step(
            "localize predict",
            [
                "localize",
                "predict",
                store,
                "--head",
                head + ".json",
                "--out",
                pred,
                "--frames",
                "1050-1499",
                "--smooth",
                str(args.smooth),
            ],
            rows,
        )
        step(
            "localize evaluate",
            [
                "localize",
                "evaluate",
                store,
                "--boxes",
                pose,
                "--video",
                "clip.mp4",
                "--predictions",
                pred + "/predictions.json",
                "--frames",
                "1050-1499",
                "--out",
                str(work / "ap.json"),
            ],
            rows,
        )
        metrics = json.loads((work / "ap.json").read_text())
    print(
        f"\nSLEAP fly clip.mp4, {args.size} px, token maps every {args.token_step} frames, "
        f"smooth {args.smooth}\n"
    )
    print("| step | seconds |\n| --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.0f} |")
    print(
        f"\nmAP {metrics['map']:.3f}  AP@50 {metrics['ap50']:.3f}  AP@75 {metrics['ap75']:.3f}  "
        f"({metrics['n_frames']} frames, {metrics['n_predictions']} detections)"
    )


if __name__ == "__main__":
    main()
