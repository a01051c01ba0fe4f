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

    ``clip_frames[c]`` are the source frame indices of clip ``c`` (clamped at the video ends, so
    clips near the edges repeat the edge frame); ``source_clip[f], source_row[f]`` say which clip
    and which row give frame ``f`` its embedding.
    """

    clip_frames: np.ndarray  # int64 [n_clips, frames]
    source_clip: np.ndarray  # int64 [n_frames]
    source_row: np.ndarray  # int64 [n_frames]

    @property
    def n_clips(self) -> int:
        return int(self.clip_frames.shape[0])


def plan_clips(n_frames: int, spec: ClipSpec) -> ClipPlan:
    if n_frames < 1:
        raise ValueError("a video needs at least one frame")
    offsets = np.arange(spec.frames) * spec.frame_step
    if spec.protocol == "centered":
        centre_row = spec.frames // 2
        starts = np.arange(n_frames) - offsets[centre_row]
        clip_frames = np.clip(starts[:, None] + offsets[None, :], 0, n_frames - 1)
        return ClipPlan(clip_frames, np.arange(n_frames), np.full(n_frames, centre_row))

    span = (spec.frames - 1) * spec.frame_step + 1
    hop = (spec.frames - spec.overlap) * spec.frame_step
    last_start = max(n_frames - span, 0)
    starts = list(range(0, last_start + 1, hop))
    if starts[-1] != last_start:
        starts.append(last_start)  # one more clip, aligned to the end, so no frame is left out
    starts = np.asarray(starts)
    clip_frames = np.clip(starts[:, None] + offsets[None, :], 0, n_frames - 1)
    frames = np.arange(n_frames)
    # position of each frame inside each clip, in rows (fractional between sampled rows)
    position = (frames[None, :] - starts[:, None]) / spec.frame_step  # [clips, frames]
    inside = (position >= -0.5) & (position <= spec.frames - 0.5)
    distance_from_centre = np.where(inside, np.abs(position - (spec.frames - 1) / 2), np.inf)
    source_clip = np.argmin(distance_from_centre, axis=0)
    row = np.floor(position[source_clip, frames] + 0.5 - 1e-9).astype(np.int64)
    source_row = np.clip(row, 0, spec.frames - 1)
    return ClipPlan(clip_frames, source_clip, source_row)
