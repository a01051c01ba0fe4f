"""Do heads on spatio-temporal tokens (``--head attentive-tokens`` on ``extract --token-grid 4``)
pay for themselves against the pooled-frame heads?

    python benchmarks/token_heads.py [--work /tmp/ethoprism-bench] [--out docs/token_heads.json]

Embeddings: the offline default (EfficientNet-Lite0, 224 px: a 7x7 token map per frame, pooled
to 4x4 for the grid). Two sets (see ``behaviour_sets.py``):

* **synthetic, 3 animals**: the labelled animal's behaviours while two other animals walk and
  rest in the same arena (6 videos x 450 frames, leave-one-video-out) — where attending to one
  animal should matter;
* **fly**: the real two-fly clip with pose-derived behaviours (5 folds of interleaved blocks).

Reported: mAP beside chance, seconds per fold (fit + predict), and the store's size per hour of
video with and without grids (measured on these entries, scaled to 1 h at 30 fps).
``--token-dim K`` runs the token head on grids reduced by the store's PCA basis (``extract
--token-dim``) instead, reported as its own row.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
import behaviour_sets as sets  # noqa: E402

from ethoprism.synthetic import SyntheticConfig, generate  # noqa: E402

POOLED_HEADS = ("linear", "attentive", "temporal")


def bytes_per_hour(entries, fps: float = 30.0) -> float:
    frames = sum(e.n_frames for e in entries)
    return sum(e.path.stat().st_size for e in entries) / frames * fps * 3600


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ethoprism-bench")
    parser.add_argument("--grid", type=int, default=4)
    parser.add_argument("--heads", nargs="+", default=[*POOLED_HEADS, "attentive-tokens"])
    parser.add_argument("--sets", nargs="+", default=["synthetic", "fly"], choices=["synthetic", "fly"])
    parser.add_argument("--token-dim", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    dim = {"token_grid": args.grid, "token_dim": args.token_dim}
    torch.manual_seed(0)
    args.work.mkdir(parents=True, exist_ok=True)
    videos = generate(
        args.work / "synthetic3",
        SyntheticConfig(n_videos=6, n_frames=450, size=224, n_animals=3, seed=1, name_prefix="three"),
    )
    sets_ = {}
    if "synthetic" in args.sets:
        plain, _, _ = sets.extract([v.path for v in videos], "effnet-lite0", args.work / "synthetic3-plain")
        gridded, seconds, frames = sets.extract(
            [v.path for v in videos], "effnet-lite0", args.work / "synthetic3-grid", **dim
        )
        sets_["synthetic, 3 animals"] = (sets.synthetic_dataset(gridded, videos, grid=True), plain, gridded)
    if "fly" in args.sets:
        plain, _, _ = sets.extract([sets.FLY_VIDEO], "effnet-lite0", args.work / "fly-effnet-lite0")
        gridded, _, _ = sets.extract([sets.FLY_VIDEO], "effnet-lite0", args.work / "fly-grid", **dim)
        sets_["fly"] = (sets.fly_dataset(gridded, grid=True), plain, gridded)

    # --out gathers results across runs (a set or a head at a time, if need be)
    report = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    for name, (data, plain, gridded) in sets_.items():
        report.setdefault(name, {"heads": {}})
        for kind in args.heads:
            tokens = kind == "attentive-tokens"
            label = f"{kind} (PCA to {args.token_dim})" if tokens and args.token_dim else kind
            if not tokens and args.token_dim:
                continue  # the pooled heads do not read the grids: their rows stand
            report[name]["heads"][label] = {
                **sets.evaluate_head(kind, data),
                "features": "token grid" if tokens else "pooled",
                "gb_per_hour": bytes_per_hour(gridded if tokens else plain) / 1e9,
            }
            print(name, label, report[name]["heads"][label], file=sys.stderr, flush=True)
            if args.out:
                args.out.write_text(json.dumps(report, indent=2, default=float))

    print(f"\nEfficientNet-Lite0 at 224 px, token grid {args.grid}x{args.grid}; mAP (chance in brackets)\n")
    print("| set | head | features | mAP | seconds per fold | store GB per hour (30 fps) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, result in report.items():
        for kind, row in result["heads"].items():
            print(
                f"| {name} | {kind} | {row['features']} | {row['map']:.3f} "
                f"({row['chance_map']:.3f}) | {row['seconds_per_fold']:.1f} | {row['gb_per_hour']:.2f} |"
            )


if __name__ == "__main__":
    main()
