"""Per-frame behaviour classification metrics, cross-validation by video, and the few-shot
protocol.

Metrics follow the paper and the peers: per-class average precision and their mean (mAP) over
behaviours — background excluded — macro accuracy (mean per-class recall, background included
for exclusive classes), per-class precision/recall/F1 at the chosen thresholds, and the
confusion matrix. Unlabelled frames never count.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import clone
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from ethoprism.dataset import FrameDataset
from ethoprism.errors import EthoprismError
from ethoprism.heads.base import exclusive_index
from ethoprism.heads.decision import ThresholdedHead


def held_out_map(truth: np.ndarray, proba: np.ndarray) -> float:
    """mAP of one held-out fold's labelled rows over the behaviours with both positive and
    negative frames there (NaN where none has: an all-positive behaviour scores 1 whatever the
    scores)."""
    labelled = (truth >= 0).all(axis=1)
    truth, proba = truth[labelled], proba[labelled]
    aps = [
        average_precision_score(truth[:, k], proba[:, k])
        for k in range(truth.shape[1])
        if 0 < truth[:, k].sum() < len(truth)
    ]
    return float(np.mean(aps)) if aps else float("nan")


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, pred: np.ndarray, behaviors: list[str], exclusive: bool
) -> dict:
    known = (y_true >= 0).all(axis=1)
    y_true, proba, pred = y_true[known], proba[known], pred[known]
    per_class = {}
    for k, name in enumerate(behaviors):
        positives = int(y_true[:, k].sum())
        ap = float(average_precision_score(y_true[:, k], proba[:, k])) if positives else float("nan")
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true[:, k], pred[:, k], average="binary", zero_division=0
        )
        # the AP of scores that know nothing is the behaviour's prevalence: its chance level
        chance = positives / len(y_true) if positives else float("nan")
        per_class[name] = {
            "ap": ap,
            "chance_ap": chance,
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": positives,
        }
    aps = [v["ap"] for v in per_class.values() if not np.isnan(v["ap"])]
    chances = [v["chance_ap"] for v in per_class.values() if not np.isnan(v["ap"])]
    result = {
        "n_frames": int(known.sum()),
        "map": float(np.mean(aps)) if aps else float("nan"),
        "chance_map": float(np.mean(chances)) if chances else float("nan"),
        "macro_f1": float(
            np.mean([per_class[b]["f1"] for b in behaviors if per_class[b]["support"]] or [np.nan])
        ),
        "per_class": per_class,
    }
    if exclusive:
        true_index, pred_index = exclusive_index(y_true), exclusive_index(pred)
        result["macro_accuracy"] = float(balanced_accuracy_score(true_index, pred_index))
        # macro accuracy averages the recall of the classes present; a constant guess gets one
        # of them right: chance is one over the classes present, not over all the file names
        present = len(np.unique(true_index)) if len(true_index) else 0
        result["chance_macro_accuracy"] = 1.0 / present if present else float("nan")
        result["confusion_labels"] = ["background"] + list(behaviors)
        result["confusion_matrix"] = confusion_matrix(
            true_index, pred_index, labels=list(range(len(behaviors) + 1))
        ).tolist()
    else:
        accuracies = [
            float(balanced_accuracy_score(y_true[:, k], pred[:, k]))
            for k in range(len(behaviors))
            if 0 < y_true[:, k].sum() < len(y_true)
        ]
        result["macro_accuracy"] = float(np.mean(accuracies)) if accuracies else float("nan")
        # per behaviour, balanced accuracy of a constant guess: (1 + 0) / 2
        result["chance_macro_accuracy"] = 0.5 if accuracies else float("nan")
    return result


def with_decision_rule(head, postprocess: dict | None = None, thresholds="tune") -> ThresholdedHead:
    postprocess = postprocess or {}
    return ThresholdedHead(
        head,
        thresholds=thresholds,
        smooth=int(postprocess.get("smooth", 1)),
        min_bout=int(postprocess.get("min_bout", 1)),
    )


def predict_dataset(model: ThresholdedHead, data: FrameDataset) -> tuple[np.ndarray, np.ndarray]:
    proba = model.predict_proba(data.X, groups=data.groups)
    return proba, model.decide(proba, data.groups)


def file_split(data: FrameDataset) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The label file's own split (FERAL ``splits``) as one fold: train and val videos train, test
    videos are scored, others are left out; None when the file names no train and test videos."""
    train = [i for i, v in enumerate(data.videos) if data.splits.get(v) in ("train", "val")]
    test = [i for i, v in enumerate(data.videos) if data.splits.get(v) == "test"]
    if not test or not train:
        return None
    return [(np.flatnonzero(np.isin(data.groups, train)), np.flatnonzero(np.isin(data.groups, test)))]


def cross_validate(
    head,
    data: FrameDataset,
    n_splits: int | None = None,
    postprocess: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    split: str = "videos",
) -> dict:
    """Out-of-fold predictions for every scored frame, then one set of metrics over them.
    ``split="videos"``: leave-one-video-out (``n_splits=None``) or group k-fold by video;
    ``split="file"``: the label file's own train/test split (:func:`file_split`), where only the
    test videos are scored. ``progress(fold, n_folds)`` hears of each finished fold."""
    if split == "file":
        splits = file_split(data)
        if splits is None:
            raise EthoprismError(
                "the labels define no train and test videos (FERAL 'splits'); use --split videos"
            )
        splitter_name = "file split (train+val -> test)"
    else:
        # by video: two animals of one video are never on both sides of a fold
        video_groups = data.video_groups
        videos = np.unique(video_groups)
        if len(videos) < 2:
            raise EthoprismError("cross-validation needs at least two labelled videos")
        if n_splits is not None and not 2 <= n_splits <= len(videos):
            raise EthoprismError(
                f"--folds {n_splits}: needs 2 to {len(videos)} folds, one per labelled video at most"
            )
        splitter = LeaveOneGroupOut() if n_splits is None or n_splits == len(videos) else GroupKFold(n_splits)
        splits = list(splitter.split(data.X, groups=video_groups))
        splitter_name = type(splitter).__name__
    scored = np.zeros(len(data.groups), bool)
    proba = np.zeros(data.Y.shape, np.float32)
    pred = np.zeros(data.Y.shape, np.int8)
    folds = []
    for fold, (train_rows, test_rows) in enumerate(splits):
        scored[test_rows] = True
        test_videos = sorted(np.unique(data.groups[test_rows]).tolist())
        fitted = with_decision_rule(head, postprocess).fit(
            data.X[train_rows], data.Y[train_rows], groups=data.groups[train_rows]
        )
        p, d = predict_dataset(fitted, data.rows(np.isin(np.arange(len(data.X)), test_rows)))
        proba[test_rows], pred[test_rows] = p, d
        folds.append(
            {
                "test_videos": sorted({data.videos[v] for v in test_videos}),
                "thresholds": [float(t) for t in fitted.thresholds_],
            }
        )
        if progress:
            progress(fold + 1, len(splits))
    truth = np.where(scored[:, None], data.Y, -1)  # frames outside the test videos are not scored
    for note, (_, test_rows) in zip(folds, splits):  # each fold's videos scored on their own
        note["map"] = held_out_map(truth[test_rows], proba[test_rows])
    metrics = classification_metrics(truth, proba, pred, data.behaviors, data.exclusive)
    metrics["folds"] = folds
    metrics["splitter"] = splitter_name
    # truth: the one source of every number and curve (frames outside the test videos are -1)
    return {"metrics": metrics, "proba": proba, "pred": pred, "scored": scored, "truth": truth}


def sample_few_shot(Y: np.ndarray, shots: int, rng: np.random.Generator, exclusive: bool) -> np.ndarray:
    """Keep ``shots`` labelled frames per behaviour and ``shots`` background frames (labelled,
    no behaviour), for exclusive and multi-label data alike; every other frame becomes
    unlabelled (-1). Classes with fewer frames keep all they have."""
    known = (Y >= 0).all(axis=1)
    keep = np.zeros(len(Y), bool)
    positive = np.maximum(Y, 0)
    classes = exclusive_index(positive)
    pools = [known & (classes == 0)]  # background
    pools += [known & ((classes == c + 1) if exclusive else (positive[:, c] == 1)) for c in range(Y.shape[1])]
    for pool in pools:
        members = np.flatnonzero(pool)
        if len(members):
            keep[rng.choice(members, size=min(shots, len(members)), replace=False)] = True
    out = Y.copy()
    out[~keep] = -1
    return out


def few_shot(
    head,
    data: FrameDataset,
    train_videos: list[int],
    test_videos: list[int],
    shots: tuple[int, ...] = (10, 50, 100),
    seeds: int = 5,
    postprocess: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """The paper's few-shot protocol: k labelled frames per class from the training videos,
    n seeds, metrics on the test videos; mean ± std over seeds."""
    train, test = data.subset(train_videos), data.subset(test_videos)
    table = {}
    for k in shots:
        runs = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            seeded = clone(head).set_params(
                **({"random_state": seed} if "random_state" in head.get_params() else {})
            )
            # a few labelled frames cannot spare a held-out part: fixed 0.5 thresholds, as in the paper
            fitted = with_decision_rule(seeded, postprocess, thresholds=0.5)
            fitted.fit(train.X, sample_few_shot(train.Y, k, rng, data.exclusive), groups=train.groups)
            proba, pred = predict_dataset(fitted, test)
            m = classification_metrics(test.Y, proba, pred, data.behaviors, data.exclusive)
            runs.append(
                {
                    "seed": seed,
                    "map": m["map"],
                    "chance_map": m["chance_map"],
                    "macro_accuracy": m["macro_accuracy"],
                    "macro_f1": m["macro_f1"],
                }
            )
            if progress:
                progress(len(runs) + seeds * shots.index(k), seeds * len(shots))
        table[str(k)] = {
            "runs": runs,
            **{
                f"{name}_{stat}": float(fn([r[name] for r in runs]))
                for name in ("map", "chance_map", "macro_accuracy", "macro_f1")
                for stat, fn in (("mean", np.nanmean), ("std", np.nanstd))
            },
        }
    return {
        "shots": table,
        "train_videos": [data.videos[v] for v in train_videos],
        "test_videos": [data.videos[v] for v in test_videos],
        "seeds": seeds,
    }
