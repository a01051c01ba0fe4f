"""From a head's probabilities to behaviour decisions, as one estimator.

:class:`ThresholdedHead` wraps any head (in the style of scikit-learn's
``TunedThresholdClassifierCV`` / ``FixedThresholdClassifier``) and owns everything between
probabilities and decisions: smoothing, per-behaviour thresholds and the removal of short bouts.
Thresholds are tuned with the very rule that later applies them (:func:`decide`), so a tuned
threshold always means what it says, exclusive classes included.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.metrics import precision_recall_curve

from ethoprism.heads.base import labelled_rows, sequences
from ethoprism.heads.postprocess import remove_short_bouts, smooth_probabilities

NEUTRAL_THRESHOLD = 0.5
# tuned thresholds stay inside these bounds: a cut at 6.6e-09 or 1.0 found on a few held-out frames
# would make the decision ignore the probabilities
THRESHOLD_BOUNDS = (0.05, 0.95)
MIN_TUNING_POSITIVES = 5  # fewer held-out positive frames of a behaviour cannot support a tuned cut


def exclusive_scores(proba: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (background probability, each behaviour's weighted probability ``p_k * 0.5 / t_k``):
    the quantities the exclusive rule takes the arg-max of."""
    background = np.clip(1.0 - proba.sum(axis=1), 0.0, None)
    weighted = proba * (NEUTRAL_THRESHOLD / np.maximum(np.asarray(thresholds, np.float64), 1e-12))
    return background, weighted


def decide(proba: np.ndarray, thresholds: np.ndarray, exclusive: bool) -> np.ndarray:
    """Probabilities -> 0/1 decisions.

    Multi-label: each behaviour on its own, present when its probability reaches its threshold.
    Exclusive: the arg-max over background (``1 - sum(p)``) and the behaviours, each behaviour's
    probability weighted by ``0.5 / t_k``. At ``t = 0.5`` for all, this is the plain arg-max: with
    (0.45, 0.25) and background 0.30 the first behaviour wins. A tuned threshold below 0.5 lets a
    behaviour win more often, above 0.5 less; a tie with background goes to the behaviour (as
    ``p >= t`` does in the multi-label rule)."""
    thresholds = np.asarray(thresholds, np.float64)
    if not exclusive:
        return (proba >= thresholds).astype(np.int8)
    out = np.zeros(proba.shape, np.int8)
    if proba.shape[1] == 0 or not len(proba):
        return out
    background, weighted = exclusive_scores(proba, thresholds)
    best = weighted.argmax(axis=1)
    rows = np.flatnonzero(weighted[np.arange(len(proba)), best] >= background)
    out[rows, best[rows]] = 1
    return out


def _best_f1_cut(y: np.ndarray, score: np.ndarray, default: float) -> float:
    if int((y > 0).sum()) < MIN_TUNING_POSITIVES or (y > 0).all():
        return default  # too few positives (or no negatives) to tune on: the untuned rule
    precision, recall, cuts = precision_recall_curve(y, score)
    if not len(cuts):
        return default
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(np.clip(cuts[int(np.argmax(f1[:-1]))], *THRESHOLD_BOUNDS))


def tune_thresholds(
    y_true: np.ndarray,
    proba: np.ndarray,
    exclusive: bool,
    default: float = NEUTRAL_THRESHOLD,
    rounds: int = 3,
) -> np.ndarray:
    """Per behaviour, the threshold that maximises its F1 under :func:`decide`, within
    :data:`THRESHOLD_BOUNDS`; a behaviour with fewer than :data:`MIN_TUNING_POSITIVES` held-out
    positive frames keeps ``default`` (the untuned rule).

    Multi-label: one precision-recall curve per behaviour. Exclusive: behaviour ``k`` is decided
    iff ``0.5 * p_k / c_k >= t_k`` with ``c_k`` its strongest competitor (background or another
    behaviour's weighted probability), so with the other thresholds fixed its F1 is a
    precision-recall curve of that score; a few rounds of this coordinate ascent settle it."""
    y_true = np.asarray(y_true)
    thresholds = np.full(proba.shape[1], default, np.float64)
    if not exclusive:
        for k in range(proba.shape[1]):
            thresholds[k] = _best_f1_cut(y_true[:, k], proba[:, k], default)
        return thresholds.astype(np.float32)
    for _ in range(rounds):
        previous = thresholds.copy()
        for k in range(proba.shape[1]):
            background, weighted = exclusive_scores(proba, thresholds)
            weighted[:, k] = 0
            competitor = np.maximum(np.maximum(weighted.max(axis=1), background), 1e-12)
            thresholds[k] = _best_f1_cut(y_true[:, k], NEUTRAL_THRESHOLD * proba[:, k] / competitor, default)
        if np.allclose(previous, thresholds):
            break
    return thresholds.astype(np.float32)


def tuning_rows(groups, n: int, tail: float = 0.2) -> np.ndarray:
    """Rows held out to tune thresholds: with three or more videos the last one; with fewer, the
    last ``tail`` of each (contiguous, so sequence heads keep their context)."""
    videos = sequences(groups, n)
    held_out = np.zeros(n, bool)
    if len(videos) >= 3:
        held_out[videos[-1]] = True
        return held_out
    for rows in videos:
        held_out[rows[int(round(len(rows) * (1 - tail))) :]] = True
    return held_out


class ThresholdedHead(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A head with its decision rule.

    ``thresholds``: ``"tune"`` (best F1 per behaviour on held-out training rows), a number or one
    number per behaviour (fixed). The held-out rows are those the head itself kept out of
    training for early stopping (``validation_rows_``, torch heads on thousands of labelled
    frames): one fit. Otherwise :func:`tuning_rows`: a fit without them to tune on, then the
    head is refitted on all rows. ``smooth``: moving average of the probabilities over this many frames
    within each video; ``min_bout``: predicted bouts shorter than this many frames are dropped.
    Learned: ``head_`` (the fitted head) and ``thresholds_``."""

    __metadata_request__fit = {"groups": True}
    __metadata_request__predict = {"groups": True}
    __metadata_request__predict_proba = {"groups": True}

    def __init__(self, head, thresholds="tune", smooth: int = 1, min_bout: int = 1, tail: float = 0.2):
        self.head = head
        self.thresholds = thresholds
        self.smooth = smooth
        self.min_bout = min_bout
        self.tail = tail

    @property
    def exclusive(self) -> bool:
        return self.head.exclusive

    def fit(self, X, y, groups=None):
        X, y = np.asarray(X), np.asarray(y)
        n_behaviors = y.shape[1]
        tune = isinstance(self.thresholds, str)
        if tune and self.thresholds != "tune":
            raise ValueError(f"thresholds must be 'tune' or numbers, not {self.thresholds!r}")
        self.head_ = clone(self.head).fit(X, y, groups=groups)
        if tune:
            thresholds = self._tuned_on_validation(X, y, groups)
            self.thresholds_ = (
                thresholds if thresholds is not None else self._tuned(X, y, groups, n_behaviors)
            )
        else:
            self.thresholds_ = np.broadcast_to(np.asarray(self.thresholds, np.float32), (n_behaviors,)).copy()
        self.n_features_in_ = self.head_.n_features_in_
        self.classes_ = np.arange(n_behaviors)
        return self

    def _tuned_on_validation(self, X, y, groups) -> np.ndarray | None:
        rows = getattr(self.head_, "validation_rows_", None)
        if rows is None:
            return None
        known = labelled_rows(y[rows])
        if not known.any():
            return None
        # the whole videos are predicted so that sequence heads see the context they were trained with
        proba = smooth_probabilities(self.head_.predict_proba(X, groups=groups), self.smooth, groups)[rows]
        return tune_thresholds(y[rows][known], proba[known], self.exclusive)

    def _tuned(self, X, y, groups, n_behaviors) -> np.ndarray:
        held_out = tuning_rows(groups, len(X), self.tail)
        known = labelled_rows(y)
        if not (known & held_out).any() or not (known & ~held_out).any():
            return np.full(n_behaviors, 0.5, np.float32)
        inner_groups = None if groups is None else np.asarray(groups)[~held_out]
        tune_groups = None if groups is None else np.asarray(groups)[held_out]
        inner = clone(self.head).fit(X[~held_out], y[~held_out], groups=inner_groups)
        proba = smooth_probabilities(
            inner.predict_proba(X[held_out], groups=tune_groups), self.smooth, tune_groups
        )
        rows = known[held_out]
        return tune_thresholds(y[held_out][rows], proba[rows], self.exclusive)

    def predict_proba(self, X, groups=None) -> np.ndarray:
        return smooth_probabilities(self.head_.predict_proba(X, groups=groups), self.smooth, groups)

    def decide(self, proba: np.ndarray, groups=None) -> np.ndarray:
        """Decisions from probabilities this estimator already gave (no second forward pass)."""
        return remove_short_bouts(decide(proba, self.thresholds_, self.exclusive), self.min_bout, groups)

    def predict(self, X, groups=None) -> np.ndarray:
        return self.decide(self.predict_proba(X, groups=groups), groups)
