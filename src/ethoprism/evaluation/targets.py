"""Scoring the *target* of directed behaviours, the way the MABe 2025 challenge scores agents and
targets: a prediction counts only on the right (agent, target, action).

Two numbers per directed behaviour, from the same folds as the heads:

* **target accuracy**: on each held-out labelled bout, is the chosen target the labelled one?
  (:class:`~ethoprism.heads.targets.TargetChooser` fitted on the other folds' bouts), beside the
  **nearest-animal** rule and **chance** (1 / the number of other animals present in the bout);
* **pair F1**: frame-level F1 per action where a predicted frame is a true positive only when the
  agent does the action there *and* the target chosen for its predicted bout is the labelled one
  (a wrong target is a false positive and a miss, as in MABe). Undirected behaviours score as
  the ordinary per-animal F1.
"""

from __future__ import annotations

import numpy as np

from ethoprism.dataset import FrameDataset
from ethoprism.evaluation.classification import file_split
from ethoprism.heads.targets import TargetChooser, nearest_over_bout


def runs(key: np.ndarray, data: FrameDataset) -> list[np.ndarray]:
    """Row indices of each run of one value of ``key`` (>= 0) over consecutive frames of one
    track: a bout of one animal."""
    rows = np.flatnonzero(key >= 0)
    if not len(rows):
        return []
    breaks = (
        (np.diff(rows) != 1)
        | (np.diff(data.groups[rows]) != 0)
        | (np.diff(data.frames[rows]) != 1)
        | (np.diff(key[rows]) != 0)
    )
    return np.split(rows, np.flatnonzero(breaks) + 1)


def directed_behaviors(data: FrameDataset) -> list[str]:
    if data.target_of is None:
        return []
    return [b for k, b in enumerate(data.behaviors) if (data.target_of[:, k] >= 0).any()]


def _folds(data: FrameDataset, result: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows mask, test rows mask) of each fold the heads were scored on."""
    names = np.asarray(data.videos)[data.groups]
    if result["metrics"].get("splitter", "").startswith("file"):
        train_rows, test_rows = file_split(data)[0]
        train, test = np.zeros(len(names), bool), np.zeros(len(names), bool)
        train[train_rows], test[test_rows] = True, True
        return [(train, test)]
    folds = []
    for fold in result["metrics"]["folds"]:
        test = np.isin(names, fold["test_videos"])
        folds.append((~test, test))
    return folds


def target_metrics(data: FrameDataset, result: dict) -> dict | None:
    """Target accuracy (beside the nearest rule and chance) and pair F1 of one cross-validated
    head's ``result`` on per-animal ``data``; None when no labelled bout names a target."""
    directed = directed_behaviors(data)
    if not directed:
        return None
    chosen = np.full(data.Y.shape, -1, np.int16)  # the target of each predicted frame's bout
    per_behavior = {
        b: {"bouts": 0, "with_choice": 0, "correct": 0, "nearest": 0, "chance": 0.0} for b in directed
    }
    folds = _folds(data, result)
    fold_of = np.full(len(data.Y), -1)  # each row's test fold: bouts are found once, not per fold
    for u, (_, test) in enumerate(folds):
        fold_of[test] = u

    def by_fold(bouts: list[np.ndarray]) -> dict[int, list[np.ndarray]]:
        grouped: dict[int, list[np.ndarray]] = {}
        for bout in bouts:  # a track lies in one video, so a bout in one fold
            grouped.setdefault(int(fold_of[bout[0]]), []).append(bout)
        return grouped

    labelled_bouts = {b: by_fold(runs(data.target_of[:, data.behaviors.index(b)], data)) for b in directed}
    predicted_bouts = {
        b: by_fold(runs(np.where(result["pred"][:, data.behaviors.index(b)] > 0, 0, -1), data))
        for b in directed
    }
    for u, (train, _) in enumerate(folds):
        train = train & data.labelled
        chooser = TargetChooser().fit(data.pairs[train], data.target_of[train], data.behaviors)
        for behavior in directed:
            k = data.behaviors.index(behavior)
            counts = per_behavior[behavior]
            for bout in labelled_bouts[behavior].get(u, []):
                pairs = data.pairs[bout]
                present = (~np.isnan(pairs[..., 0])).any(axis=0)
                if not present.any():
                    continue
                truth = int(data.target_of[bout[0], k])
                counts["bouts"] += 1
                counts["with_choice"] += int(present.sum() > 1)
                counts["chance"] += 1.0 / present.sum()
                counts["correct"] += int(chooser.choose(behavior, pairs) == truth)
                counts["nearest"] += int(nearest_over_bout(pairs) == truth)
            for bout in predicted_bouts[behavior].get(u, []):
                chosen[bout, k] = chooser.choose(behavior, data.pairs[bout])
    out = {}
    for behavior, counts in per_behavior.items():
        n = max(counts["bouts"], 1)
        out[behavior] = {
            "bouts": counts["bouts"],
            "bouts_with_a_choice": counts["with_choice"],
            "target_accuracy": counts["correct"] / n if counts["bouts"] else float("nan"),
            "nearest_accuracy": counts["nearest"] / n if counts["bouts"] else float("nan"),
            "chance": float(counts["chance"] / n) if counts["bouts"] else float("nan"),
        }
    pair_f1 = _pair_f1(data, result, chosen)
    scored = [b for b in directed if out[b]["bouts"]]
    return {
        "per_behavior": {b: {**out.get(b, {}), "pair_f1": pair_f1[b]} for b in data.behaviors},
        "target_accuracy": _bout_mean(out, scored, "target_accuracy"),
        "nearest_accuracy": _bout_mean(out, scored, "nearest_accuracy"),
        "chance": _bout_mean(out, scored, "chance"),
        "pair_f1": float(np.nanmean([v for v in pair_f1.values()])) if pair_f1 else float("nan"),
    }


def _bout_mean(out: dict, behaviors: list[str], name: str) -> float:
    bouts = sum(out[b]["bouts"] for b in behaviors)
    return sum(out[b][name] * out[b]["bouts"] for b in behaviors) / bouts if bouts else float("nan")


def _pair_f1(data: FrameDataset, result: dict, chosen: np.ndarray) -> dict[str, float]:
    """Per behaviour, F1 over scored (animal, frame) rows where a hit needs the right target."""
    scored = result["scored"] & data.labelled
    out = {}
    for k, behavior in enumerate(data.behaviors):
        truth = data.Y[scored, k] == 1
        said = result["pred"][scored, k] > 0
        named = data.target_of[scored, k] if data.target_of is not None else np.full(len(truth), -1)
        match = (named < 0) | (chosen[scored, k] == named)
        hit = said & truth & match
        tp = int(hit.sum())
        fp = int((said & ~hit).sum())
        fn = int((truth & ~hit).sum())
        out[behavior] = 2 * tp / (2 * tp + fp + fn) if truth.any() else float("nan")
    return out
