"""Clean-up around decisions: smoothing of probabilities and removal of bouts shorter than a
minimum length (thresholds and the decision rule are in :mod:`ethoprism.heads.decision`)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from ethoprism.heads.base import sequences
from ethoprism.labels.model import bouts_from_mask


def smooth_probabilities(proba: np.ndarray, window: int, groups=None) -> np.ndarray:
    """Moving average over ``window`` frames within each video (``window <= 1``: unchanged)."""
    if window <= 1:
        return proba
    out = np.empty_like(proba)
    for rows in sequences(groups, len(proba)):
        out[rows] = uniform_filter1d(proba[rows], size=window, axis=0, mode="nearest")
    return out


def remove_short_bouts(pred: np.ndarray, min_frames: int, groups=None) -> np.ndarray:
    """Drop predicted bouts shorter than ``min_frames`` (per behaviour, within each video)."""
    if min_frames <= 1:
        return pred
    out = pred.copy()
    for rows in sequences(groups, len(pred)):
        for k in range(pred.shape[1]):
            for start, end in bouts_from_mask(pred[rows, k] > 0):
                if end - start + 1 < min_frames:
                    out[rows[start : end + 1], k] = 0
    return out
