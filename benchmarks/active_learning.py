"""Does active learning save labels? A simulated annotator labels 1-second segments, chosen by
each strategy of ``ethoprism suggest`` (diverse, uncertainty) or at random.

    python benchmarks/active_learning.py [--seeds 5] [--plot docs/active_learning.png]

Sets (embeddings: the offline default, EfficientNet-Lite0; see ``behaviour_sets.py``):

* **synthetic**: 6 videos x 450 frames; the annotator labels videos 0-3, mAP is measured on
  videos 4-5;
* **fly**: the real two-fly clip, behaviours derived from its pose (which the heads never see);
  the annotator labels folds 0-3 (interleaved 100-frame blocks), mAP on fold 4.

Each run starts from 4 random segments; every round the head is refitted on what is labelled,
suggests 4 segments (or 4 are drawn at random), and the annotator reveals their true labels.
12 rounds (fewer where the pool runs out: the fly pool holds 40 segments), ``--seeds`` runs
per strategy, linear and temporal heads. Reported: mean test mAP per
round, the fully-labelled mAP (every pool frame labelled), and the labelled frames each strategy
needs to reach 95 % of it (first round where the mean over seeds gets there).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
import behaviour_sets as sets  # noqa: E402

from ethoprism.active_learning import STRATEGIES, suggest_segments  # noqa: E402
from ethoprism.evaluation.classification import classification_metrics, with_decision_rule  # noqa: E402
from ethoprism.heads.io import make_head  # noqa: E402
from ethoprism.synthetic import SyntheticConfig, generate  # noqa: E402

SEGMENT, START, PER_ROUND, ROUNDS = 30, 4, 4, 12


def fit_on(kind: str, data, pool, labelled, seed: int = 0):
    """The head fitted on the pool's frames, only the labelled ones carrying labels (the others
    still give sequence heads their context)."""
    head = make_head(kind, exclusive=data.exclusive)
    if "random_state" in head.get_params():
        head.set_params(random_state=seed)
    model = with_decision_rule(head, thresholds=0.5)
    Y = np.where(labelled[:, None], data.Y, -1)
    return model.fit(data.X[pool], Y[pool], groups=data.groups[pool])


def test_map(model, data, test) -> float:
    proba = model.predict_proba(data.X[test], groups=data.groups[test])
    pred = (proba > 0.5).astype(np.int8)
    return classification_metrics(data.Y[test], proba, pred, data.behaviors, data.exclusive)["map"]


def run(data, pool, test, kind: str, strategy: str, seed: int) -> list[tuple[int, float]]:
    """-> (labelled frames, test mAP) per round."""
    rng = np.random.default_rng(seed)
    labelled = np.zeros(len(data.X), bool)
    pool_rows = np.flatnonzero(pool)
    for start in rng.choice(len(pool_rows) // SEGMENT, size=START, replace=False) * SEGMENT:
        labelled[pool_rows[start : start + SEGMENT]] = True
    curve = []
    for round_ in range(ROUNDS):
        model = fit_on(kind, data, pool, labelled, seed)
        curve.append((int(labelled.sum()), test_map(model, data, test)))
        if (~labelled[pool]).sum() < PER_ROUND * SEGMENT:  # the pool is (nearly) all labelled
            break
        proba = model.predict_proba(data.X[pool], groups=data.groups[pool])
        picks = suggest_segments(
            data.X[pool],
            proba,
            labelled[pool],
            data.groups[pool],
            data.exclusive,
            PER_ROUND,
            SEGMENT,
            strategy,
            seed=seed * 100 + round_,
        )
        for pick in picks.itertuples():
            labelled[pool_rows[pick.row_start : pick.row_end]] = True
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ethoprism-bench")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--heads", nargs="+", default=["linear", "temporal"])
    parser.add_argument("--sets", nargs="+", default=["synthetic", "fly"], choices=["synthetic", "fly"])
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    args.work.mkdir(parents=True, exist_ok=True)
    videos = generate(args.work / "synthetic", SyntheticConfig(n_videos=6, n_frames=450, size=128, seed=0))
    entries, _, _ = sets.extract(
        [v.path for v in videos], "effnet-lite0", args.work / "synthetic-effnet-lite0", 128
    )
    synthetic = sets.synthetic_dataset(entries, videos)
    entries, _, _ = sets.extract([sets.FLY_VIDEO], "effnet-lite0", args.work / "fly-effnet-lite0")
    fly = sets.fly_dataset(entries)
    datasets = {
        "synthetic": (synthetic, synthetic.groups < 4, synthetic.groups >= 4),
        "fly": (fly, fly.groups < 4, fly.groups == 4),
    }
    # --out gathers results across runs (one set at a time, if need be)
    report = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    for name, (data, pool, test) in datasets.items():
        if name not in args.sets:
            continue
        for kind in args.heads:
            full = test_map(fit_on(kind, data, pool, pool), data, test)
            curves = {
                strategy: [run(data, pool, test, kind, strategy, seed) for seed in range(args.seeds)]
                for strategy in STRATEGIES
            }
            summary = {}
            for strategy, runs in curves.items():
                rounds = min(len(r) for r in runs)  # runs that exhaust the pool stop early
                frames = np.mean([[f for f, _ in r[:rounds]] for r in runs], axis=0)
                maps = np.array([[m for _, m in r[:rounds]] for r in runs])
                reached = np.flatnonzero(maps.mean(axis=0) >= 0.95 * full)
                summary[strategy] = {
                    "frames": frames.tolist(),
                    "map_mean": maps.mean(axis=0).tolist(),
                    "map_std": maps.std(axis=0).tolist(),
                    "frames_to_95": float(frames[reached[0]]) if len(reached) else None,
                }
            report[f"{name}|{kind}"] = {
                "full_map": full,
                "pool_frames": int(pool.sum()),
                "strategies": summary,
            }
            if args.out:
                args.out.write_text(json.dumps(report, indent=2))
            print(
                name,
                kind,
                full,
                {s: v["frames_to_95"] for s, v in summary.items()},
                file=sys.stderr,
                flush=True,
            )

    print(
        f"\n{args.seeds} seeds; {START} random 1-s segments to start, {PER_ROUND} per round, "
        f"{ROUNDS} rounds\n"
    )
    print(
        "| set | head | fully labelled mAP (pool frames) | strategy | mAP after 4 rounds | after 12 rounds "
        "| labelled frames to reach 95 % of full |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key, result in report.items():
        name, kind = key.split("|")
        for strategy, s in result["strategies"].items():
            reach = (
                f"{s['frames_to_95']:.0f}"
                if s["frames_to_95"] is not None
                else f"not within {s['frames'][-1]:.0f}"
            )
            print(
                f"| {name} | {kind} | {result['full_map']:.3f} ({result['pool_frames']}) | {strategy} "
                f"| {s['map_mean'][4]:.3f} ± {s['map_std'][4]:.3f} "
                f"| {s['map_mean'][-1]:.3f} ± {s['map_std'][-1]:.3f} "
                f"| {reach} |"
            )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(report), figsize=(4 * len(report), 3.2), squeeze=False)
        for ax, (key, result) in zip(axes[0], report.items()):
            for strategy, s in result["strategies"].items():
                ax.errorbar(s["frames"], s["map_mean"], yerr=s["map_std"], label=strategy, capsize=2)
            ax.axhline(result["full_map"], color="k", ls="--", lw=0.8, label="fully labelled")
            ax.axhline(0.95 * result["full_map"], color="k", ls=":", lw=0.8)
            ax.set_title(key.replace("|", ", "))
            ax.set_xlabel("labelled frames")
            ax.set_ylabel("test mAP")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
