"""Real data: the B-SOiD example clips (11 behaviours x 3 bouts, clip-level labels).

    python benchmarks/bsoid.py [--data ../shared/data/bsoid_mouse_behavior_clips] [--heads linear mlp ...]

Each file shows three bouts side by side; every panel is cropped (``labels.csv`` boxes) and cut
at its ``approx_panel_end_frame``, giving 33 bouts. Each bout is embedded frame by frame with the
offline default backbone (EfficientNet-Lite0, panel centre-cropped to a square, 224 px), and,
as a baseline, with raw pixels (grey, 16x16). Evaluation is leave-one-bout-out: a head trained on
32 bouts predicts every frame of the 33rd. Reported: bout accuracy (arg-max of the mean frame
probability), frame macro accuracy, and frame mAP over the 11 behaviours (out-of-fold).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ethoprism.backbones import load_backbone  # noqa: E402
from ethoprism.dataset import FrameDataset  # noqa: E402
from ethoprism.evaluation.classification import (
    classification_metrics,
    predict_dataset,  # noqa: E402
    with_decision_rule,
)
from ethoprism.heads import make_head  # noqa: E402
from ethoprism.video import VideoReader  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/bsoid_mouse_behavior_clips"


def load_bouts(data_dir: Path):
    table = pd.read_csv(data_dir / "labels.csv")
    bouts = []
    for file, rows in table.groupby("file", sort=True):
        frames = list(VideoReader(data_dir / file).iter_frames())
        for row in rows.itertuples():
            end = max(int(row.approx_panel_end_frame), 8)  # a few frames at least for near-static bouts
            panel = np.stack([f[row.y0 : row.y1, row.x0 : row.x1] for f in frames[: end + 1]])
            bouts.append({"behavior": row.behavior, "file": file, "panel": int(row.panel), "frames": panel})
    return bouts


def centre_square(frames: np.ndarray) -> np.ndarray:
    height, width = frames.shape[1:3]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return frames[:, top : top + side, left : left + side]


def embed_backbone(bouts, backbone, size: int = 224) -> list[np.ndarray]:
    out = []
    for bout in bouts:
        square = torch.as_tensor(centre_square(bout["frames"]).astype(np.float32) / 255).permute(0, 3, 1, 2)
        frames = torch.nn.functional.interpolate(square, size=(size, size), mode="bilinear", antialias=True)
        frames = frames.permute(0, 2, 3, 1).numpy()
        chunks = [
            backbone.frame_embeddings(frames[None, i : i + 32])[0].numpy() for i in range(0, len(frames), 32)
        ]
        out.append(np.concatenate(chunks))
    return out


def embed_pixels(bouts, side: int = 16) -> list[np.ndarray]:
    out = []
    for bout in bouts:
        grey = torch.as_tensor(centre_square(bout["frames"]).mean(axis=3, dtype=np.float32) / 255)[:, None]
        small = torch.nn.functional.interpolate(grey, size=(side, side), mode="area")
        out.append(small.flatten(1).numpy())
    return out


def leave_one_bout_out(features, bouts, behaviors, head_kind) -> dict:
    X = np.concatenate(features).astype(np.float32)
    groups = np.concatenate([np.full(len(f), i) for i, f in enumerate(features)])
    Y = np.zeros((len(X), len(behaviors)), np.int8)
    for i, bout in enumerate(bouts):
        Y[groups == i, behaviors.index(bout["behavior"])] = 1
    data = FrameDataset(
        X,
        Y,
        groups,
        np.concatenate([np.arange(len(f)) for f in features]),
        np.zeros(len(X)),
        [f"{b['behavior']}#{b['panel']}" for b in bouts],
        behaviors,
        True,
        {},
        [15.0] * len(bouts),
    )
    proba = np.zeros(Y.shape, np.float32)
    pred = np.zeros(Y.shape, np.int8)
    correct = []
    for held_out in range(len(bouts)):
        train = [i for i in range(len(bouts)) if i != held_out]
        # bout accuracy and mAP do not depend on thresholds, so no inner tuning split (halves the cost)
        train_data = data.subset(train)
        head = with_decision_rule(make_head(head_kind, exclusive=True), thresholds=0.5).fit(
            train_data.X, train_data.Y, groups=train_data.groups
        )
        test = data.subset([held_out])
        p, d = predict_dataset(head, test)
        rows = groups == held_out
        proba[rows], pred[rows] = p, d
        correct.append(int(p.mean(axis=0).argmax() == behaviors.index(bouts[held_out]["behavior"])))
    metrics = classification_metrics(Y, proba, pred, behaviors, exclusive=True)
    return {
        "bout_accuracy": float(np.mean(correct)),
        "frame_macro_accuracy": metrics["macro_accuracy"],
        "frame_map": metrics["map"],
        "per_class_ap": {b: (v["ap"], v["chance_ap"]) for b, v in metrics["per_class"].items()},
        "n_bouts": len(bouts),
        "n_frames": int(len(X)),
    }


def within_bout_split(features, bouts, behaviors) -> float:
    """Sanity check of the pipeline: train on the first half of every bout, predict the second."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.concatenate([f[: len(f) // 2] for f in features])
    y = np.concatenate([[behaviors.index(b["behavior"])] * (len(f) // 2) for f, b in zip(features, bouts)])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, y)
    hits = [
        model.classes_[model.predict_proba(f[len(f) // 2 :]).mean(axis=0).argmax()]
        == behaviors.index(b["behavior"])
        for f, b in zip(features, bouts)
    ]
    return float(np.mean(hits))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--heads", nargs="+", default=["linear", "temporal", "mlp", "attentive"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    bouts = load_bouts(args.data)
    behaviors = sorted({b["behavior"] for b in bouts})
    start = time.perf_counter()
    features = {
        "effnet-lite0 (offline default)": embed_backbone(bouts, load_backbone("effnet-lite0")),
        "pixels 16x16 grey (baseline)": embed_pixels(bouts),
    }
    print(
        f"embedded {sum(len(b['frames']) for b in bouts)} frames of {len(bouts)} bouts in "
        f"{time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    rows = []
    for name, feats in features.items():
        for kind in args.heads:
            result = leave_one_bout_out(feats, bouts, behaviors, kind)
            rows.append({"features": name, "head": kind, **result})
            print(rows[-1], file=sys.stderr, flush=True)
    nearest_same_class = {}
    for name, feats in features.items():
        means = np.stack([f.mean(axis=0) for f in feats])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        similarity = means @ means.T
        np.fill_diagonal(similarity, -np.inf)
        nearest = similarity.argmax(axis=1)
        nearest_same_class[name] = float(
            np.mean([bouts[i]["behavior"] == bouts[j]["behavior"] for i, j in enumerate(nearest)])
        )
    print(
        f"\nB-SOiD clips: {len(bouts)} bouts, {len(behaviors)} behaviours, leave-one-bout-out; chance = "
        f"{1 / len(behaviors):.3f}\n"
    )
    print("| features | head | bout accuracy | frame macro accuracy | frame mAP |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['features']} | {r['head']} | {r['bout_accuracy']:.3f} | {r['frame_macro_accuracy']:.3f} | "
            f"{r['frame_map']:.3f} |"
        )
    print(
        "\nsanity check, same bouts (train first half of each bout, test second half), linear, "
        "bout accuracy: "
        + ", ".join(
            f"{name} {within_bout_split(feats, bouts, behaviors):.2f}" for name, feats in features.items()
        )
    )
    print(
        "nearest other bout (cosine of mean embeddings) has the same behaviour: "
        + ", ".join(f"{name} {value:.2f}" for name, value in nearest_same_class.items())
    )
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "nearest_same_class": nearest_same_class}, indent=2))


if __name__ == "__main__":
    main()
