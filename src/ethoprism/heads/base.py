"""Common ground of the heads: scikit-learn conventions on per-frame embeddings.

``fit(X, y, groups=None)`` with ``X`` float ``[N, D]``, ``y`` 0/1 ``[N, K]`` (one column per
behaviour; a row of zeros is background) and ``groups`` the video of each row (rows of a video
in frame order; sequence heads never look across videos). ``predict_proba(X, groups=None)``
returns ``[N, K]`` behaviour probabilities.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ethoprism.errors import EthoprismError


def as_targets(y) -> np.ndarray:
    """0/1 ``[N, K]``; rows holding -1 are unlabelled (per-frame heads drop them, sequence heads
    keep them as context and leave them out of the loss)."""
    y = np.asarray(y)
    if y.ndim == 1:
        raise ValueError("y must be 0/1 [n_samples, n_behaviors]; use labels.VideoLabels.targets")
    return y.astype(np.float32)


def labelled_rows(y: np.ndarray) -> np.ndarray:
    return (np.asarray(y) >= 0).all(axis=1)


def exclusive_index(y: np.ndarray) -> np.ndarray:
    """Multi-hot -> class index with 0 = background."""
    return np.where(y.max(axis=1) > 0, y.argmax(axis=1) + 1, 0)


def balanced_weights(counts: np.ndarray) -> np.ndarray:
    """Inverse-frequency class weights (scikit-learn's 'balanced'); absent classes weigh 0."""
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def sequences(groups, n: int) -> list[np.ndarray]:
    """Row indices of each sequence (video), in order."""
    if groups is None:
        return [np.arange(n)]
    groups = np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} rows")
    _, first = np.unique(groups, return_index=True)
    return [np.flatnonzero(groups == groups[i]) for i in sorted(first)]


class HeadMixin(ClassifierMixin, BaseEstimator):
    """What all heads share. ``groups`` (the video of each row) is requested by default under
    scikit-learn's metadata routing, so ``Pipeline``, ``cross_val_predict`` and ``GridSearchCV``
    hand it to sequence heads (``params={"groups": groups}``) and windows never cross videos."""

    exclusive: bool
    __metadata_request__fit = {"groups": True}
    __metadata_request__predict = {"groups": True}
    __metadata_request__predict_proba = {"groups": True}

    def predict(self, X, groups=None) -> np.ndarray:
        """Decisions at a fixed 0.5 threshold; :class:`~ethoprism.heads.decision.ThresholdedHead`
        tunes thresholds and post-processes."""
        from ethoprism.heads.decision import decide

        proba = self.predict_proba(X, groups=groups)
        return decide(proba, np.full(proba.shape[1], 0.5), self.exclusive)

    def _check_dim(self, X: np.ndarray, dtype=np.float32) -> np.ndarray:
        X = np.asarray(X, dtype)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise EthoprismError(
                f"embeddings have {X.shape[-1]} dimensions but the head was trained on {self.n_features_in_}"
            )
        return X
