"""Choosing a recipe (features x head) by cross-validation, and scoring that choice honestly.

Picking the recipe with the best cross-validated mAP and reporting that mAP overstates what the
choice delivers: the held-out videos picked it. Here each fold's held-out videos get the recipe
that scored best on the *other* folds' out-of-fold predictions, and the assembled predictions are
scored. No label of a held-out video takes part in choosing its recipe's score; its labels did
train the other folds' models (a nested cross-validation would refit every recipe once more per
fold: ``folds`` times the cost, for a bias that only the training side carries).

"Best on the other folds" is the mean of their per-fold mAPs (each fold's videos scored on their
own, as a new video will be), not the mAP of their predictions pooled: pooling rewards scores that
agree across folds, and a choice that changes from fold to fold assembles scores that do not (on
the fly clip the pooled criterion flipped between three heads and its assembled mAP fell 0.07
below the per-fold one, which kept one head). A fold counts where some behaviour has both
positive and negative frames in it; where none does (single-behaviour clips left out one by one)
the pooled mAP of the other folds decides.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.evaluation.classification import classification_metrics, held_out_map


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


def fold_maps(result: dict, data) -> list[float]:
    """Per fold of ``result`` (a cross-validation of ``data``), the mAP of its held-out videos on
    their own (NaN where no behaviour has both positives and negatives): as cross-validation
    recorded it, else computed (:func:`fold_map`)."""
    videos = row_videos(data)
    return [
        f["map"] if "map" in f else fold_map(result, np.isin(videos, f["test_videos"]))
        for f in result["metrics"]["folds"]
    ]


def fold_map(result: dict, rows: np.ndarray) -> float:
    """:func:`~ethoprism.evaluation.classification.held_out_map` of ``result``'s scored ``rows``."""
    rows = rows & result["scored"]
    return held_out_map(result["truth"][rows], result["proba"][rows])


def _criterion(result: dict, data, per_fold: list[float], leave_out: np.ndarray | None, fold: int | None):
    """How good a recipe is on the folds other than ``fold`` (all where None): the mean of their
    per-fold mAPs, else (no informative fold) the mAP of their predictions pooled."""
    others = [v for o, v in enumerate(per_fold) if o != fold and not np.isnan(v)]
    if others:
        return float(np.mean(others))
    scored = result["scored"] if leave_out is None else result["scored"] & ~leave_out
    truth = np.where(scored[:, None], result["truth"], -1)
    return classification_metrics(truth, result["proba"], result["pred"], data.behaviors, data.exclusive)[
        "map"
    ]


def _best(candidates: dict) -> str | None:
    """The highest value (ties: the first named, the cheaper heads come first); None if all NaN."""
    best, best_value = None, -np.inf
    for name, value in candidates.items():
        if not np.isnan(value) and value > best_value:
            best, best_value = name, value
    return best


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
    per_fold = {name: fold_maps(results[name], data) for name in names}
    shape = results[names[0]]["proba"].shape
    proba, pred = np.zeros(shape, np.float32), np.zeros(shape, np.int8)
    scored = np.zeros(len(videos), bool)
    fold_notes = []
    for u, test_videos in enumerate(folds):
        held_out = np.isin(videos, list(test_videos))
        values = {n: _criterion(results[n], data, per_fold[n], held_out, u) for n in names}
        best = _best(values)
        if best is None:
            raise EthoprismError("no recipe could be scored on the videos outside a fold")
        rows = held_out & results[best]["scored"]
        proba[rows], pred[rows] = results[best]["proba"][rows], results[best]["pred"][rows]
        scored |= rows
        fold_notes.append(
            {
                "test_videos": list(test_videos),
                "recipe": best,
                "score_elsewhere": values[best],
                "fold_map": per_fold[best][u],
            }
        )
    truth = np.where(scored[:, None], data.Y, -1)
    metrics = classification_metrics(truth, proba, pred, data.behaviors, data.exclusive)
    metrics["folds"] = fold_notes
    metrics["splitter"] = results[names[0]]["metrics"]["splitter"] + ", recipe chosen on the other folds"
    chosen = Counter(note["recipe"] for note in fold_notes)
    own = [note["fold_map"] for note in fold_notes if not np.isnan(note["fold_map"])]
    return {
        "metrics": metrics,
        # each held-out fold's own mAP under the recipe it got, averaged (beside the recipes' own)
        "fold_map": float(np.mean(own)) if own else float("nan"),
        "proba": proba,
        "pred": pred,
        "scored": scored,
        "truth": truth,
        "chosen": dict(chosen.most_common()),
    }


def best_overall(results: dict, datasets: dict) -> str:
    """The recipe to train on all labelled videos, by the criterion each fold's choice used, over
    every fold."""
    values = {
        name: _criterion(result, datasets[name], fold_maps(result, datasets[name]), None, None)
        for name, result in results.items()
    }
    best = _best(values)
    if best is None:
        raise EthoprismError("no recipe could be scored on these labels (no behaviour in any held-out video)")
    return best
