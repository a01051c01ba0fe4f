"""``ethoprism compare`` on this machine: the recipe table, its cost, and the family smoke run.

    python benchmarks/compare.py [--work /tmp/ethoprism-compare] [--parts real smoke]

* **real**: 4 labelled 1-minute synthetic videos (30 fps, 128 px, ethoprism's generator) x
  2 offline backbones (``effnet-lite0``, ``effnet-lite0-motion``) x 4 heads (linear, mlp,
  attentive, temporal), through the command itself, timed end to end from an empty store
  (target: <= 10 min); then the B-SOiD clips' store of ``benchmarks/discover.py`` (33 bouts,
  11 behaviours; frame features) x the same 4 heads, if that store exists.
* **smoke**: every supported transformers family as a tiny randomly initialised model in a
  folder (``--backbone hf:<folder>``) on 3 short videos, linear head: the path works for each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
from ethoprism.cli import app  # noqa: E402
from ethoprism.workflows.compare import SUMMARY_COLUMNS as SHOWN  # noqa: E402

runner = CliRunner()


def run(args: list[str]) -> None:
    result = runner.invoke(app, args)
    if result.exit_code != 0:
        raise SystemExit(result.output)


def show(folder: Path, title: str) -> None:
    table = pd.read_csv(folder / "compare.csv")
    print(f"\n{title}\n")
    print("| " + " | ".join(SHOWN) + " |")
    print("| " + " | ".join("---" for _ in SHOWN) + " |")
    for row in table[SHOWN].itertuples(index=False):
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |")
    print("\n" + (folder / "recommendation.txt").read_text())


def real(work: Path) -> None:
    from ethoprism.synthetic import SyntheticConfig, generate

    videos = generate(work / "videos", SyntheticConfig(n_videos=4, n_frames=1800, size=128, seed=11))
    start = time.perf_counter()
    run(
        [
            "compare",
            *[str(v.path) for v in videos],
            "--labels",
            str(work / "videos" / "labels.csv"),
            "--backbone",
            "effnet-lite0",
            "--backbone",
            "effnet-lite0-motion",
            "--out",
            str(work / "synthetic"),
        ]
    )
    seconds = time.perf_counter() - start
    show(work / "synthetic", f"4 synthetic 1-min videos x 2 backbones x 4 heads: {seconds:.0f} s end to end")
    bsoid = Path("/tmp/ethoprism-discover/bsoid")
    if (bsoid / "store").exists():
        panels = sorted((bsoid / "videos").glob("*.mp4"))
        start = time.perf_counter()
        run(
            [
                "compare",
                *map(str, panels),
                "--labels",
                str(bsoid / "labels.csv"),
                "--store",
                str(bsoid / "store"),
                "--out",
                str(work / "bsoid"),
            ]
        )
        show(
            work / "bsoid",
            f"B-SOiD clips (33 bouts) x 4 heads, effnet-lite0: {time.perf_counter() - start:.0f} s",
        )


def smoke(work: Path) -> None:
    from test_hf_backbones import FAMILIES, save_family

    from ethoprism.synthetic import SyntheticConfig, generate

    videos = generate(work / "smoke_videos", SyntheticConfig(n_videos=3, n_frames=60, size=64, seed=2))
    backbones = []
    for family in sorted(FAMILIES):
        backbones += ["--backbone", f"hf:{save_family(work / 'models' / family, family)}"]
    run(
        [
            "compare",
            *[str(v.path) for v in videos],
            "--labels",
            str(work / "smoke_videos" / "labels.csv"),
            *backbones,
            "--head",
            "linear",
            "--out",
            str(work / "smoke"),
        ]
    )
    show(work / "smoke", "every family's tiny random model (a smoke run: the numbers mean nothing)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ethoprism-compare"))
    parser.add_argument("--parts", nargs="+", default=["real", "smoke"])
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if "real" in args.parts:
        real(args.work)
    if "smoke" in args.parts:
        smoke(args.work)
    print(json.dumps({"work": str(args.work)}))


if __name__ == "__main__":
    main()
