"""Features with temporal context, so that motifs are actions and not poses.

Each frame's embedding is L2-normalised (the backbones' scale carries lighting and contrast, not
behaviour) and reduced by PCA; around every frame a centred window of ``window`` frames gives
two vectors: the mean (what the animal looks like over the window) and the change across it
(mean of the window's second half minus its first half: what moves). The change block is scaled
to carry as much total variance as the mean block, and both are reduced by a second PCA.

Not whitened, and not standardised per dimension: both give every low-variance direction (mostly
noise) the weight of the main ones, and on the synthetic set that dropped the agreement between
two seeds' motifs from 1.0 to 0.6 (docs/discovery.md). Balancing the two blocks as wholes keeps
the motion in without that.

Because the window's mean and change are linear in the embeddings, the first PCA can come
before the window: the window then runs on a few dozen dimensions instead of hundreds, and a
block of a 24 h recording costs megabytes, not gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from ethoprism.discovery.sequences import MotifSequence

BLOCK_FRAMES = 65536


def _normalise(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-8)


def window_features(reduced: np.ndarray, window: int, first: int, count: int, total: int, offset: int):
    """Mean and change of ``reduced`` rows over a centred window, for rows ``first:first+count`` of
    a sequence of ``total`` rows; ``reduced`` holds rows ``offset:offset+len(reduced)`` (enough
    margin on both sides, clipped at the sequence's ends). -> float32 [count, 2 * p]."""
    half = window // 2
    cumulative = np.concatenate(
        [np.zeros((1, reduced.shape[1])), np.cumsum(reduced, axis=0, dtype=np.float64)]
    )
    centre = np.arange(first, first + count)
    lo = np.maximum(centre - half, 0) - offset
    hi = np.minimum(centre + half + 1, total) - offset
    mid = centre - offset

    def mean(a, b):
        return (cumulative[b] - cumulative[a]) / np.maximum(b - a, 1)[:, None]

    whole = mean(lo, hi)
    # the halves share the centre frame, so neither is empty at the sequence's ends
    change = mean(mid, hi) - mean(lo, mid + 1)
    return np.concatenate([whole, change], axis=1).astype(np.float32)


@dataclass
class FeatureMap:
    """Embeddings -> motif features (fitted on a sample, then applied to any sequence)."""

    window: int
    reduce_dim: int = 64
    feature_dim: int = 12
    seed: int = 0

    def fit(self, sequences: list[MotifSequence], segments: list[tuple[int, int, int]]) -> FeatureMap:
        """``segments``: (sequence index, start, stop) of the sample to fit on."""
        raw = np.concatenate([_normalise(sequences[i].read(a, b)) for i, a, b in segments])
        reduce_dim = max(1, min(self.reduce_dim, raw.shape[1], len(raw) - 1))
        first = PCA(reduce_dim, random_state=self.seed).fit(raw)
        self.embedding_dim_ = raw.shape[1]
        self.reduce_mean_ = first.mean_.astype(np.float32)
        self.reduce_components_ = first.components_.astype(np.float32)
        windowed = np.concatenate([self._windowed(sequences[i], a, b) for i, a, b in segments])
        self.scale_mean_ = windowed.mean(axis=0).astype(np.float32)
        spread = windowed.var(axis=0)
        half = spread.size // 2
        balance = np.sqrt(spread[:half].sum() / max(float(spread[half:].sum()), 1e-12))
        self.scale_std_ = np.concatenate([np.ones(half), np.full(half, 1.0 / balance)]).astype(np.float32)
        standard = (windowed - self.scale_mean_) / self.scale_std_
        feature_dim = max(1, min(self.feature_dim, standard.shape[1], len(standard) - 1))
        second = PCA(feature_dim, random_state=self.seed).fit(standard)
        self.feature_mean_ = second.mean_.astype(np.float32)
        self.feature_components_ = second.components_.astype(np.float32)
        self.explained_variance_ratio_ = float(second.explained_variance_ratio_.sum())
        return self

    def _reduce(self, rows: np.ndarray) -> np.ndarray:
        return (_normalise(rows) - self.reduce_mean_) @ self.reduce_components_.T

    def _windowed(self, sequence: MotifSequence, start: int, stop: int) -> np.ndarray:
        half, total = self.window // 2, len(sequence)
        a, b = max(0, start - half), min(total, stop + half)
        return window_features(self._reduce(sequence.read(a, b)), self.window, start, stop - start, total, a)

    def transform(self, sequence: MotifSequence, start: int, stop: int) -> np.ndarray:
        """float32 [stop - start, feature_dim]: rows ``start:stop`` of ``sequence``."""
        standard = (self._windowed(sequence, start, stop) - self.scale_mean_) / self.scale_std_
        return ((standard - self.feature_mean_) @ self.feature_components_.T).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        names = ("reduce_mean_", "reduce_components_", "scale_mean_", "scale_std_")
        arrays = {name: getattr(self, name) for name in names}
        arrays.update(feature_mean_=self.feature_mean_, feature_components_=self.feature_components_)
        return {k: np.asarray(v, np.float32) for k, v in arrays.items()}

    @classmethod
    def from_arrays(cls, settings: dict, arrays: dict[str, np.ndarray]) -> FeatureMap:
        features = cls(**settings)
        for name, value in arrays.items():
            setattr(features, name, np.asarray(value, np.float32))
        features.embedding_dim_ = features.reduce_components_.shape[1]
        return features

    def settings(self) -> dict:
        return {
            "window": self.window,
            "reduce_dim": self.reduce_dim,
            "feature_dim": self.feature_dim,
            "seed": self.seed,
        }
