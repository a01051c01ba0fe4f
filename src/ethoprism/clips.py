"""Stage 2: how frames are grouped into clips for the backbone, and how clip outputs map back
to one embedding per frame.

A :class:`ClipSpec` says how many frames a clip holds (``frames``), the spacing between them in
source frames (``frame_step``), the square input side in pixels (``size``) and how a non-square
frame becomes square (``square``: ``crop`` keeps the centre square and drops the sides, so
animals at the arena edge can be lost; ``pad`` keeps the whole field of view with black bars,
giving fewer pixels to the animal). ``overlap`` (tiled protocol only) is how many clip positions
adjacent clips share.

Protocols:

* ``centered`` — one clip per target frame, centred on it (the paper's stride-1 protocol); the
  frame's embedding is the clip's centre row. Costs one clip per frame.
* ``tiled`` — clips tiled over the video with ``overlap`` shared positions; every frame takes
  its row from the clip in which it sits most centrally. Costs about one clip per
  ``(frames - overlap) * frame_step`` frames.

Frames sampled with ``frame_step > 1`` leave gaps between clip rows; a frame in a gap takes the
nearest row (ties go to the earlier one).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

PROTOCOLS = ("tiled", "centered")
PLAN_BLOCK = 1 << 16


@dataclass(frozen=True)
class ClipSpec:
    frames: int = 16
    frame_step: int = 1
    size: int = 288
    square: str = "crop"
    protocol: str = "tiled"
    overlap: int = 4

    def __post_init__(self):
        if self.frames < 1 or self.frame_step < 1 or self.size < 1:
            raise ValueError(f"frames, frame_step and size must be positive: {self}")
        if self.square not in ("crop", "pad"):
            raise ValueError(f"square must be 'crop' or 'pad', not {self.square!r}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, not {self.protocol!r}")
        if self.protocol == "tiled" and not 0 <= self.overlap < self.frames:
            raise ValueError(f"overlap must be in [0, frames), got {self.overlap} with frames={self.frames}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def key(self) -> str:
        """Short stable hash naming this spec in the store."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class ClipPlan:
    """Which source frames go into each clip and where each frame's embedding comes from.

    Clip ``c`` holds source frames ``starts[c] + offsets`` clamped to the video (clips near the
    edges repeat the edge frame); ``source_clip[f], source_row[f]`` say which clip and which row
    give frame ``f`` its embedding. Memory is linear in the video's length: clip frames are
    computed for the clips asked (:meth:`frames_of`), never for all clips at once.
    """

    starts: np.ndarray  # int64 [n_clips], may be negative (centred clips at the start)
    offsets: np.ndarray  # int64 [frames]
    n_frames: int
    source_clip: np.ndarray  # int64 [n_frames]
    source_row: np.ndarray  # int64 [n_frames]

    @property
    def n_clips(self) -> int:
        return int(len(self.starts))

    def frames_of(self, clips) -> np.ndarray:
        """Source frames of the given clips, ``[len(clips), frames]``."""
        starts = self.starts[np.asarray(clips, np.int64)]
        return np.clip(starts[:, None] + self.offsets[None, :], 0, self.n_frames - 1)

    @property
    def clip_frames(self) -> np.ndarray:
        """All clips' frames ``[n_clips, frames]`` (short videos and tests; long videos use
        :meth:`frames_of`)."""
        return self.frames_of(np.arange(self.n_clips))

    def first_frame_needed(self) -> np.ndarray:
        """``[n_clips]``: the first frame any clip from ``c`` onwards still needs (frames before it
        can leave a decoding buffer)."""
        first = np.clip(self.starts + self.offsets[0], 0, self.n_frames - 1)
        return np.minimum.accumulate(first[::-1])[::-1]

    def frames_by_clip(self) -> tuple[np.ndarray, np.ndarray]:
        """(frames ordered by their source clip, where each clip's frames begin in that order
        ``[n_clips + 1]``): clip ``c`` gives rows to ``order[bounds[c]:bounds[c + 1]]``."""
        order = np.argsort(self.source_clip, kind="stable")
        bounds = np.searchsorted(self.source_clip[order], np.arange(self.n_clips + 1))
        return order, bounds


def plan_clips(n_frames: int, spec: ClipSpec) -> ClipPlan:
    """O(n) in time and memory: each frame considers only the few clips that can hold it."""
    if n_frames < 1:
        raise ValueError("a video needs at least one frame")
    offsets = np.arange(spec.frames, dtype=np.int64) * spec.frame_step
    frames = np.arange(n_frames, dtype=np.int64)
    if spec.protocol == "centered":
        centre_row = spec.frames // 2
        return ClipPlan(
            frames - offsets[centre_row],
            offsets,
            n_frames,
            frames.copy(),
            np.full(n_frames, centre_row, np.int64),
        )

    span = (spec.frames - 1) * spec.frame_step + 1
    hop = (spec.frames - spec.overlap) * spec.frame_step
    last_start = max(n_frames - span, 0)
    n_regular = last_start // hop + 1
    starts = np.arange(n_regular, dtype=np.int64) * hop
    if starts[-1] != last_start:
        starts = np.append(starts, last_start)  # one more clip, aligned to the end, so no frame is left out
    # clip c can hold frame f when (f - starts[c]) / step lies in [-0.5, frames - 0.5]: among the
    # regular clips those are a run of at most ceil(span / hop) + 2 indices; the end-aligned clip
    # is checked too. Candidates stay in increasing clip order, so ties go to the earlier clip as
    # an argmin over all clips would.
    width = -(-(span + spec.frame_step) // hop) + 2
    source_clip = np.empty(n_frames, np.int64)
    source_row = np.empty(n_frames, np.int64)
    for first in range(0, n_frames, PLAN_BLOCK):  # blocks keep the working arrays small for 24 h videos
        block = frames[first : first + PLAN_BLOCK]
        lowest = np.maximum((block - span - spec.frame_step) // hop, 0)
        candidates = np.minimum(lowest[:, None] + np.arange(width)[None, :], n_regular - 1)
        if len(starts) > n_regular:  # the end-aligned clip, always last in clip order
            candidates = np.concatenate([candidates, np.full((len(block), 1), n_regular, np.int64)], axis=1)
        position = (block[:, None] - starts[candidates]) / spec.frame_step
        inside = (position >= -0.5) & (position <= spec.frames - 0.5)
        distance = np.where(inside, np.abs(position - (spec.frames - 1) / 2), np.inf)
        best = np.argmin(distance, axis=1)
        rows = np.arange(len(block))
        source_clip[first : first + len(block)] = candidates[rows, best]
        source_row[first : first + len(block)] = np.floor(position[rows, best] + 0.5 - 1e-9)
    np.clip(source_row, 0, spec.frames - 1, out=source_row)
    return ClipPlan(starts, offsets, n_frames, source_clip, source_row)
