"""Choosing a recipe (features x head) by cross-validation, and scoring that choice honestly.

Picking the recipe with the best cross-validated mAP and reporting that mAP overstates what the
choice delivers: the held-out videos picked it. Here each fold's held-out videos get the recipe
that scored best on the *other* folds' out-of-fold predictions, and the assembled predictions are
scored. No label of a held-out video takes part in choosing its recipe's score; its labels did
train the other folds' models (a nested cross-validation would refit every recipe once more per
fold: ``folds`` times the cost, for a bias that only the training side carries).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.evaluation.classification import classification_metrics


def row_videos(data) -> np.ndarray:
    """The video name of every row."""
    return np.asarray(data.videos, dtype=object)[data.groups]


def check_aligned(datasets: dict) -> None:
    """Recipes are compared row by row: the same videos, frames and labels in the same order."""
    names = list(datasets)
    first = datasets[names[0]]
    for name in names[1:]:
        other = datasets[name]
        same = (
            other.videos == first.videos
            and np.array_equal(other.groups, first.groups)
            and np.array_equal(other.frames, first.frames)
            and np.array_equal(other.Y, first.Y)
            and other.behaviors == first.behaviors
        )
        if not same:
            raise EthoprismError(
                f"'{name}' and '{names[0]}' cover different videos, frames or labels, so their recipes "
                "cannot be compared frame by frame: extract the same videos with both, or pass --backbone"
            )


def choose_by_other_folds(results: dict, datasets: dict) -> dict:
    """``results``: recipe -> :func:`~ethoprism.evaluation.classification.cross_validate` result
    (the same folds for every recipe), ``datasets``: recipe -> the data it was scored on (aligned
    rows). -> a result of the same shape for the choice, its ``metrics["folds"]`` naming the
    recipe each fold's held-out videos got, and ``chosen``: how often each recipe was chosen."""
    names = list(results)
    check_aligned(datasets)
    data = datasets[names[0]]
    folds = [tuple(f["test_videos"]) for f in results[names[0]]["metrics"]["folds"]]
    for name in names[1:]:
        if [tuple(f["test_videos"]) for f in results[name]["metrics"]["folds"]] != folds:
            raise EthoprismError(f"recipe '{name}' was scored on other folds than '{names[0]}'")
    videos = row_videos(data)
    shape = results[names[0]]["proba"].shape
    proba, pred = np.zeros(shape, np.float32), np.zeros(shape, np.int8)
    scored = np.zeros(len(videos), bool)
    fold_notes = []
    for test_videos in folds:
        held_out = np.isin(videos, list(test_videos))
        best, best_map = None, -np.inf
        for name in names:  # ties go to the first named (the cheaper heads come first)
            result = results[name]
            truth = np.where((result["scored"] & ~held_out)[:, None], result["truth"], -1)
            value = classification_metrics(
                truth, result["proba"], result["pred"], data.behaviors, data.exclusive
            )["map"]
            if not np.isnan(value) and value > best_map:
                best, best_map = name, value
        if best is None:
            raise EthoprismError("no recipe could be scored on the videos outside a fold")
        rows = held_out & results[best]["scored"]
        proba[rows], pred[rows] = results[best]["proba"][rows], results[best]["pred"][rows]
        scored |= rows
        fold_notes.append({"test_videos": list(test_videos), "recipe": best, "map_elsewhere": best_map})
    truth = np.where(scored[:, None], data.Y, -1)
    metrics = classification_metrics(truth, proba, pred, data.behaviors, data.exclusive)
    metrics["folds"] = fold_notes
    metrics["splitter"] = results[names[0]]["metrics"]["splitter"] + ", recipe chosen on the other folds"
    chosen = Counter(note["recipe"] for note in fold_notes)
    return {
        "metrics": metrics,
        "proba": proba,
        "pred": pred,
        "scored": scored,
        "truth": truth,
        "chosen": dict(chosen.most_common()),
    }


def best_overall(results: dict) -> str:
    """The recipe to train on all labelled videos: the best cross-validated mAP (ties: first)."""
    scored = [(r["metrics"]["map"], -i, name) for i, (name, r) in enumerate(results.items())]
    scored = [s for s in scored if not np.isnan(s[0])]
    if not scored:
        raise EthoprismError("no recipe could be scored on these labels (no behaviour in any held-out video)")
    return max(scored)[2]
