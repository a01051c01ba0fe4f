"""Whom a directed behaviour is directed at.

For an animal's bout of a directed behaviour (the resident attacks *the intruder*, the male
extends a wing toward *that female*), the target is one of the other animals on those frames.
:class:`TargetChooser` learns, per directed behaviour, what the pair looks like when one animal
targets the other, from the tracks' pair geometry (:data:`~ethoprism.dataset.PAIR_FEATURES`:
relative position, distance and its rank, speeds, who moves toward whom, how fast they close in)
of the labelled bouts: a logistic model over (frame, candidate) pairs, the candidate named in the
labels the positive. A bout's target is the candidate with the best mean log-probability over the
bout's frames (weighted by the share of frames it is present on). Behaviours whose labelled bouts
never had more than one candidate teach nothing: they keep the simple rule, which is also the
baseline every learned choice is reported beside: **the animal nearest over most of the bout**.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

NEAREST = "nearest"
LEARNED = "learned"
RANK = 3  # PAIR_FEATURES' "nearness_rank"


def nearest_over_bout(pairs: np.ndarray) -> int:
    """The candidate nearest on most frames of a bout (``pairs`` [frames, animals, F]); ties go to
    the smaller mean distance; -1 when no other animal is present on any frame."""
    present = ~np.isnan(pairs[..., 0])
    if not present.any():
        return -1
    nearest_frames = (np.nan_to_num(pairs[..., RANK], nan=np.inf) == 0).sum(axis=0)
    candidates = np.flatnonzero(present.any(axis=0))
    mean_distance = np.full(pairs.shape[1], np.inf)
    mean_distance[candidates] = np.nanmean(pairs[:, candidates, 2], axis=0)
    return int(candidates[np.lexsort((mean_distance[candidates], -nearest_frames[candidates]))[0]])


class TargetChooser(BaseEstimator):
    """Per directed behaviour, which candidate animal a bout is directed at (scikit-learn
    conventions: ``fit`` returns self, learned attributes end in ``_``).

    ``fit(pairs, target_of, behaviors)``: ``pairs`` float [rows, animals, F] (NaN: the row's own
    animal or absent), ``target_of`` int [rows, K] (the labelled target's index, -1 none).
    """

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, pairs: np.ndarray, target_of: np.ndarray, behaviors: list[str]) -> TargetChooser:
        self.behaviors_ = list(behaviors)
        self.rules_: dict[str, dict] = {}
        for k, behavior in enumerate(behaviors):
            rows = np.flatnonzero(target_of[:, k] >= 0)
            if not len(rows):
                continue  # never directed in the labels: no target to predict
            candidates = pairs[rows]
            present = ~np.isnan(candidates[..., 0])
            is_target = np.arange(candidates.shape[1])[None, :] == target_of[rows, k][:, None]
            choice = present.sum(axis=1) > 1
            X = candidates[choice][present[choice]].astype(np.float64)
            y = is_target[choice][present[choice]]
            if y.all() or not y.any():
                self.rules_[behavior] = {"rule": NEAREST}
                continue
            mean, scale = X.mean(axis=0), X.std(axis=0)
            scale = np.where(scale > 1e-9, scale, 1.0)
            model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=1000)
            model.fit((X - mean) / scale, y)
            self.rules_[behavior] = {
                "rule": LEARNED,
                "mean": mean.tolist(),
                "scale": scale.tolist(),
                "coef": model.coef_[0].tolist(),
                "intercept": float(model.intercept_[0]),
            }
        return self

    @property
    def directed(self) -> list[str]:
        """The behaviours whose bouts get a target."""
        return [b for b in self.behaviors_ if b in self.rules_]

    def choose(self, behavior: str, pairs: np.ndarray) -> int:
        """The target of one bout of ``behavior`` (``pairs`` [bout frames, animals, F]): an index
        into the video's animals, -1 when the behaviour is not directed or nobody else is there."""
        rule = self.rules_.get(behavior)
        if rule is None:
            return -1
        if rule["rule"] == NEAREST:
            return nearest_over_bout(pairs)
        present = ~np.isnan(pairs[..., 0])
        if not present.any():
            return -1
        z = (np.nan_to_num(pairs.astype(np.float64)) - rule["mean"]) / rule["scale"]
        logit = z @ np.asarray(rule["coef"]) + rule["intercept"]
        log_p = -np.logaddexp(0.0, -logit)  # log sigmoid, without overflow
        coverage = present.mean(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(present, log_p, 0.0).sum(axis=0) / present.sum(axis=0) + np.log(coverage)
        score[~present.any(axis=0)] = -np.inf
        return int(np.argmax(score))

    def to_dict(self) -> dict:
        return {behavior: dict(rule) for behavior, rule in self.rules_.items()}

    @classmethod
    def from_dict(cls, rules: dict, behaviors: list[str]) -> TargetChooser:
        chooser = cls()
        chooser.behaviors_ = list(behaviors)
        chooser.rules_ = {behavior: dict(rule) for behavior, rule in rules.items()}
        return chooser
