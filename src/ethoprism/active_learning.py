"""Which segments to label next: the head's uncertainty, spread out in embedding space.

Each video is cut into segments of ``segment`` frames. A segment's **uncertainty** is the mean
over its frames of the head's predictive entropy (exclusive heads: over background and the
behaviours; multi-label heads: each behaviour's binary entropy, averaged), in [0, 1]. Ranking by
uncertainty alone returns ten pieces of the same confusing bout, so the choice is greedy and
**diverse**: among the most uncertain unlabelled segments (a pool of ``pool_factor × n``), each
next pick maximises ``uncertainty + diversity × distance to the nearest segment already picked
or labelled`` (cosine distance between segment mean embeddings, scaled to [0, 1]). With
``diversity=0`` this is plain uncertainty sampling; ``strategy="random"`` draws segments at
random (the baseline every strategy must beat, see ``benchmarks/active_learning.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError

STRATEGIES = ("diverse", "uncertainty", "random")


@dataclass(frozen=True)
class Segments:
    """Consecutive frames of one video: row ranges ``[start, end)`` into a dataset's rows."""

    video: np.ndarray  # int [S] video index
    start: np.ndarray  # int [S] first row
    end: np.ndarray  # int [S] one past the last row

    def __len__(self) -> int:
        return len(self.start)


def segments_of(groups: np.ndarray, segment: int) -> Segments:
    """Cut every video (run of equal ``groups``) into pieces of ``segment`` frames (the last piece
    of a video may be shorter)."""
    if segment < 1:
        raise EthoprismError(f"segment length must be at least 1 frame, not {segment}")
    video, start, end = [], [], []
    boundaries = np.flatnonzero(np.diff(groups)) + 1
    for first, last in zip(np.r_[0, boundaries], np.r_[boundaries, len(groups)]):
        for s in range(first, last, segment):
            video.append(groups[first])
            start.append(s)
            end.append(min(s + segment, last))
    return Segments(np.asarray(video), np.asarray(start), np.asarray(end))


def frame_uncertainty(proba: np.ndarray, exclusive: bool) -> np.ndarray:
    """Predictive entropy per frame, normalised to [0, 1]."""
    p = np.clip(np.asarray(proba, np.float64), 1e-9, 1 - 1e-9)
    if exclusive:
        background = np.clip(1 - p.sum(axis=1, keepdims=True), 1e-9, 1)
        full = np.concatenate([background, p], axis=1)
        full /= full.sum(axis=1, keepdims=True)
        return -(full * np.log(full)).sum(axis=1) / np.log(full.shape[1])
    binary = -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2)
    return binary.mean(axis=1)


def _segment_means(values: np.ndarray, segments: Segments) -> np.ndarray:
    sums = np.add.reduceat(values, segments.start, axis=0)
    return sums / (segments.end - segments.start).reshape(-1, *([1] * (values.ndim - 1)))


def suggest_segments(
    X: np.ndarray,
    proba: np.ndarray,
    labelled: np.ndarray,
    groups: np.ndarray,
    exclusive: bool,
    n: int = 20,
    segment: int = 30,
    strategy: str = "diverse",
    diversity: float = 1.0,
    pool_factor: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Rank unlabelled segments to label next. ``X`` rows are frames (in video order, as a
    :class:`~ethoprism.dataset.FrameDataset` holds them), ``labelled`` marks frames that carry
    labels already (a segment with any labelled frame is not suggested, and counts as covered
    for diversity). -> ``rank, row_start, row_end, uncertainty, distance`` sorted by rank."""
    if strategy not in STRATEGIES:
        raise EthoprismError(f"unknown strategy '{strategy}'; choose one of {STRATEGIES}")
    if n < 1:
        raise EthoprismError(f"number of suggestions must be at least 1, not {n}")
    segments = segments_of(np.asarray(groups), segment)
    uncertainty = _segment_means(frame_uncertainty(proba, exclusive), segments)
    covered = _segment_means(np.asarray(labelled, np.float64), segments) > 0
    candidates = np.flatnonzero(~covered)
    if not len(candidates):
        raise EthoprismError("every segment already has labels: nothing left to suggest")
    rng = np.random.default_rng(seed)
    distance = np.full(len(segments), np.nan)
    if strategy == "random":
        chosen = list(rng.choice(candidates, size=min(n, len(candidates)), replace=False))
    elif strategy == "uncertainty":
        chosen = list(candidates[np.argsort(-uncertainty[candidates], kind="stable")[:n]])
    else:
        means = _segment_means(np.asarray(X, np.float32), segments)
        means = means - means.mean(axis=0)
        means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-12
        pool = candidates[np.argsort(-uncertainty[candidates], kind="stable")[: max(pool_factor * n, n)]]
        anchors = means[covered]
        # cosine distance to the nearest labelled segment (1 when nothing is labelled yet)
        nearest = (1 - anchors @ means[pool].T).min(axis=0) / 2 if len(anchors) else np.ones(len(pool))
        chosen = []
        for _ in range(min(n, len(pool))):
            score = uncertainty[pool] + diversity * nearest
            score[np.isin(pool, chosen)] = -np.inf
            best = int(np.argmax(score))
            chosen.append(int(pool[best]))
            distance[pool[best]] = nearest[best]
            nearest = np.minimum(nearest, (1 - means[pool] @ means[pool[best]]) / 2)
    chosen = np.asarray(chosen, np.int64)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(chosen) + 1),
            "video_index": segments.video[chosen],
            "row_start": segments.start[chosen],
            "row_end": segments.end[chosen],
            "uncertainty": uncertainty[chosen],
            "distance": distance[chosen],
        }
    )
