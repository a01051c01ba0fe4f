"""How long "Train" takes: the app's retrain-and-repredict at 30 min of labelled 30 fps video.

    python benchmarks/heads.py [--n 54000] [--dim 1280] [--heads linear mlp attentive temporal]
                               [--quality] [--work /tmp/ethoprism-bench] [--out heads.json]

Speed: ``--n`` frames of ``--dim`` synthetic embeddings (4 behaviours + background in bouts of
20-300 frames, class means ``--separation`` apart relative to unit noise, so the heads have
something to learn but not everything), split into ``--videos`` videos. Each head is timed doing
what ``Train`` does in ``ethoprism app`` (and ``ethoprism train``): fit with threshold tuning (an
inner fit on the first 80 %, thresholds tuned on the rest, then the fit on everything), then
probabilities for every frame. Accuracy on the last video, held out, is the sanity check.
Targets (issue 13): linear <= 5 s, every other head <= 20 s on this 2-core CPU.

``--quality``: cross-validated mAP of each head on the fly and synthetic behaviour sets
(``behaviour_sets.py``), so a change that makes training faster shows what it costs.
``--n 500000 --dim 768`` is CalMS21's training size; ``--no-early-stopping`` times the heads as
they trained before early stopping.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ethoprism.heads import make_head  # noqa: E402
from ethoprism.heads.decision import ThresholdedHead  # noqa: E402

TARGET_S = {"linear": 5.0}
OTHER_TARGET_S = 20.0


def synthetic(n: int, dim: int, videos: int, separation: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 300, n // 20)
    labels = np.repeat(rng.integers(0, 5, len(lengths)), lengths)[:n]
    means = rng.standard_normal((5, dim)).astype(np.float32) * separation
    X = means[labels] + rng.standard_normal((n, dim), dtype=np.float32)
    Y = np.zeros((n, 4), np.int8)
    Y[labels > 0, labels[labels > 0] - 1] = 1
    return X, Y, np.repeat(np.arange(videos), -(-n // videos))[:n]


def speed(args) -> list[dict]:
    X, Y, groups = synthetic(args.n, args.dim, args.videos, args.separation)
    train, test = groups < groups.max(), groups == groups.max()
    rows = []
    for kind in args.heads:
        params = {} if kind == "linear" else {"early_stopping": args.early_stopping}
        head = ThresholdedHead(make_head(kind, exclusive=True, **params))
        start = time.perf_counter()
        head.fit(X, Y, groups=groups)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        head.predict_proba(X, groups=groups)
        predict_s = time.perf_counter() - start
        # sanity: the same head without the last video, scored on it (not part of the timing)
        held_out = ThresholdedHead(make_head(kind, exclusive=True, **params))
        held_out.fit(X[train], Y[train], groups=groups[train])
        accuracy = float((held_out.predict(X[test], groups=groups[test]) == Y[test]).all(axis=1).mean())
        inner = getattr(head.head_, "n_epochs_", None)
        rows.append(
            {
                "head": kind,
                "fit_s": fit_s,
                "predict_s": predict_s,
                "total_s": fit_s + predict_s,
                "target_s": TARGET_S.get(kind, OTHER_TARGET_S),
                "epochs": inner,
                "held_out_accuracy": accuracy,
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def quality(args) -> dict:
    import behaviour_sets as sets

    from ethoprism.synthetic import SyntheticConfig, generate

    videos = generate(args.work / "synthetic", SyntheticConfig(n_videos=6, n_frames=450, size=128, seed=0))
    entries, _, _ = sets.extract([sets.FLY_VIDEO], "effnet-lite0", args.work / "fly-effnet-lite0")
    fly = sets.fly_dataset(entries)
    entries, _, _ = sets.extract(
        [v.path for v in videos], "effnet-lite0", args.work / "synthetic-effnet-lite0", size=128
    )
    data = {"fly": fly, "synthetic": sets.synthetic_dataset(entries, videos)}
    report = {}
    for kind in args.heads:
        for name, dataset in data.items():
            report[f"{name}|{kind}"] = sets.evaluate_head(kind, dataset)
            print(name, kind, report[f"{name}|{kind}"]["map"], file=sys.stderr, flush=True)
    return report


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=54_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--separation", type=float, default=0.06)
    parser.add_argument(
        "--heads",
        nargs="+",
        choices=["linear", "mlp", "attentive", "temporal"],
        default=["linear", "mlp", "attentive", "temporal"],
    )
    parser.add_argument("--quality", action="store_true")
    parser.add_argument(
        "--no-early-stopping",
        dest="early_stopping",
        action="store_false",
        help="torch heads run their whole step budget (and tune thresholds with a second fit)",
    )
    parser.set_defaults(early_stopping="auto")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ethoprism-bench")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = speed(args)
    print(
        f"\n{args.n:,} x {args.dim} embeddings in {args.videos} videos, 4 behaviours + background; "
        f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}\n"
    )
    columns = ["head", "fit + tuning (s)", "predict all (s)", "total (s)", "target (s)", "epochs"]
    print("| " + " | ".join([*columns, "accuracy, held-out video"]) + " |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['head']} | {r['fit_s']:.1f} | {r['predict_s']:.1f} | **{r['total_s']:.1f}** | "
            f"≤ {r['target_s']:.0f} | {r['epochs'] or '-'} | {r['held_out_accuracy']:.3f} |"
        )
    report = {"speed": rows}
    if args.quality:
        report["quality"] = quality(args)
        print("\n| set | head | mAP (chance) | s per fold |\n| --- | --- | --- | --- |")
        for key, r in report["quality"].items():
            name, kind = key.split("|")
            print(
                f"| {name} | {kind} | {r['map']:.3f} ({r['chance_map']:.3f}) | {r['seconds_per_fold']:.1f} |"
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
