"""Per-frame behaviour classification metrics, cross-validation by video, and the few-shot
protocol.

Metrics follow the paper and the peers: per-class average precision and their mean (mAP) over
behaviours — background excluded — macro accuracy (mean per-class recall, background included
for exclusive classes), per-class precision/recall/F1 at the chosen thresholds, and the
confusion matrix. Unlabelled frames never count.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.metrics import (average_precision_score, balanced_accuracy_score, confusion_matrix,
                             precision_recall_fscore_support)
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from ethoprism.dataset import FrameDataset
from ethoprism.heads.base import decide, exclusive_index
from ethoprism.heads.postprocess import best_f1_thresholds, remove_short_bouts, smooth_probabilities


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, pred: np.ndarray, behaviors: list[str],
                           exclusive: bool) -> dict:
    known = (y_true >= 0).all(axis=1)
    y_true, proba, pred = y_true[known], proba[known], pred[known]
    per_class = {}
    for k, name in enumerate(behaviors):
        positives = int(y_true[:, k].sum())
        ap = float(average_precision_score(y_true[:, k], proba[:, k])) if positives else float("nan")
        precision, recall, f1, _ = precision_recall_fscore_support(y_true[:, k], pred[:, k], average="binary",
                                                                   zero_division=0)
        per_class[name] = {"ap": ap, "precision": float(precision), "recall": float(recall), "f1": float(f1),
                           "support": positives}
    aps = [v["ap"] for v in per_class.values() if not np.isnan(v["ap"])]
    result = {"n_frames": int(known.sum()), "map": float(np.mean(aps)) if aps else float("nan"),
              "macro_f1": float(np.mean([per_class[b]["f1"] for b in behaviors if per_class[b]["support"]] or [np.nan])),
              "per_class": per_class}
    if exclusive:
        true_index, pred_index = exclusive_index(y_true), exclusive_index(pred)
        result["macro_accuracy"] = float(balanced_accuracy_score(true_index, pred_index))
        result["confusion_labels"] = ["background"] + list(behaviors)
        result["confusion_matrix"] = confusion_matrix(true_index, pred_index,
                                                      labels=list(range(len(behaviors) + 1))).tolist()
    else:
        accuracies = [float(balanced_accuracy_score(y_true[:, k], pred[:, k])) for k in range(len(behaviors))
                      if 0 < y_true[:, k].sum() < len(y_true)]
        result["macro_accuracy"] = float(np.mean(accuracies)) if accuracies else float("nan")
    return result


def validation_split(data: FrameDataset, train_videos: list[int], tail: float = 0.2):
    """-> (inner, tune): with three or more training videos, the last one is the tuning video;
    with one or two, the last ``tail`` of each video (contiguous, so sequence heads keep their
    context) is tuned on and the rest trained on."""
    if len(train_videos) >= 3:
        return data.subset(train_videos[:-1]), data.subset([train_videos[-1]])
    train = data.subset(train_videos)
    held_out = np.zeros(len(train.X), bool)
    for video in train_videos:
        rows = np.flatnonzero(train.groups == video)
        held_out[rows[int(round(len(rows) * (1 - tail))):]] = True
    return train.rows(~held_out), train.rows(held_out)


def fit_with_thresholds(head, data: FrameDataset, train_videos: list[int], postprocess: dict | None = None):
    """Fit on ``train_videos``; choose per-class thresholds (best F1) on held-out training data
    (:func:`validation_split`), then refit on all of it (thresholds kept). Behaviours absent
    from the held-out frames keep 0.5."""
    postprocess = postprocess or {}
    train = data.subset(train_videos)
    thresholds = None
    inner, tune = validation_split(data, train_videos)
    if inner.labelled.any() and tune.labelled.any():
        fitted = clone(head).fit(inner.X, inner.Y, groups=inner.groups)
        proba = smooth_probabilities(fitted.predict_proba(tune.X, groups=tune.groups), postprocess.get("smooth", 1),
                                     tune.groups)
        known = tune.labelled
        thresholds = best_f1_thresholds(tune.Y[known], proba[known])
    fitted = clone(head).fit(train.X, train.Y, groups=train.groups)
    if thresholds is not None:
        fitted.thresholds_ = thresholds
    return fitted


def predict_dataset(head, data: FrameDataset, postprocess: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    postprocess = postprocess or {}
    proba = smooth_probabilities(head.predict_proba(data.X, groups=data.groups), postprocess.get("smooth", 1),
                                 data.groups)
    pred = decide(proba, head.thresholds_, data.exclusive)
    pred = remove_short_bouts(pred, postprocess.get("min_bout", 1), data.groups)
    return proba, pred


def cross_validate(head, data: FrameDataset, n_splits: int | None = None, postprocess: dict | None = None) -> dict:
    """Leave-one-video-out (``n_splits=None``) or group k-fold by video: out-of-fold predictions
    for every labelled frame, then one set of metrics over all of them."""
    videos = np.unique(data.groups)
    if len(videos) < 2:
        raise ValueError("cross-validation needs at least two labelled videos")
    splitter = LeaveOneGroupOut() if n_splits is None or n_splits >= len(videos) else GroupKFold(n_splits)
    proba = np.zeros(data.Y.shape, np.float32)
    pred = np.zeros(data.Y.shape, np.int8)
    folds = []
    for train_rows, test_rows in splitter.split(data.X, groups=data.groups):
        train_videos = sorted(np.unique(data.groups[train_rows]).tolist())
        test_videos = sorted(np.unique(data.groups[test_rows]).tolist())
        fitted = fit_with_thresholds(head, data, train_videos, postprocess)
        test = data.subset(test_videos)
        p, d = predict_dataset(fitted, test, postprocess)
        proba[test_rows], pred[test_rows] = p, d
        folds.append({"test_videos": [data.videos[v] for v in test_videos],
                      "thresholds": [float(t) for t in fitted.thresholds_]})
    metrics = classification_metrics(data.Y, proba, pred, data.behaviors, data.exclusive)
    metrics["folds"] = folds
    metrics["splitter"] = type(splitter).__name__
    return {"metrics": metrics, "proba": proba, "pred": pred}


def sample_few_shot(Y: np.ndarray, shots: int, rng: np.random.Generator, exclusive: bool) -> np.ndarray:
    """Keep ``shots`` labelled frames per class (background included when exclusive); every other
    frame becomes unlabelled (-1). Classes with fewer frames keep all they have."""
    known = (Y >= 0).all(axis=1)
    keep = np.zeros(len(Y), bool)
    classes = exclusive_index(np.maximum(Y, 0)) if exclusive else None
    columns = range(Y.shape[1] + 1) if exclusive else range(Y.shape[1])
    for c in columns:
        members = np.flatnonzero(known & ((classes == c) if exclusive else (Y[:, c] == 1)))
        if len(members):
            keep[rng.choice(members, size=min(shots, len(members)), replace=False)] = True
    out = Y.copy()
    out[~keep] = -1
    return out


def few_shot(head, data: FrameDataset, train_videos: list[int], test_videos: list[int],
             shots: tuple[int, ...] = (10, 50, 100), seeds: int = 5, postprocess: dict | None = None) -> dict:
    """The paper's few-shot protocol: k labelled frames per class from the training videos,
    n seeds, metrics on the test videos; mean ± std over seeds."""
    train, test = data.subset(train_videos), data.subset(test_videos)
    table = {}
    for k in shots:
        runs = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            fitted = clone(head).set_params(**({"random_state": seed} if "random_state" in head.get_params() else {}))
            fitted.fit(train.X, sample_few_shot(train.Y, k, rng, data.exclusive), groups=train.groups)
            proba, pred = predict_dataset(fitted, test, postprocess)
            m = classification_metrics(test.Y, proba, pred, data.behaviors, data.exclusive)
            runs.append({"seed": seed, "map": m["map"], "macro_accuracy": m["macro_accuracy"], "macro_f1": m["macro_f1"]})
        table[str(k)] = {
            "runs": runs,
            **{f"{name}_{stat}": float(fn([r[name] for r in runs]))
               for name in ("map", "macro_accuracy", "macro_f1") for stat, fn in (("mean", np.nanmean), ("std", np.nanstd))}}
    return {"shots": table, "train_videos": [data.videos[v] for v in train_videos],
            "test_videos": [data.videos[v] for v in test_videos], "seeds": seeds}
