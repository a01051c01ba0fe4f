"""Animal tracks: which animals a video holds and where each one is on each frame.

The animal is a dimension of the data, as ``movement`` has ``individuals``: a video with tracks
has rows ``(frame, animal)``; an animal absent on a frame has no row there (never zeros). A video
without tracks is the one-animal case. Readers of the files labs have (SLEAP, DeepLabCut
multi-animal, a boxes CSV, ``localize predict`` output) are in :mod:`ethoprism.io.tracks`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ethoprism.errors import EthoprismError

MAX_GAP = 5  # missing frames inside a track that are interpolated (longer gaps stay gaps)
# how each animal's embedding is made: its box pooled from the frame's token map (one pass), or its
# box cropped from the full-resolution frame and encoded on its own (one pass per animal)
ANIMAL_MODES = ("pooled", "crop")
CROP_MARGIN = 0.25  # of the box's longer side, added on every side of a crop (context around it)


def check_animal_mode(mode: str) -> str:
    if mode not in ANIMAL_MODES:
        raise EthoprismError(f"--animal-mode must be one of {', '.join(ANIMAL_MODES)}, not '{mode}'")
    return mode


ANIMAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_animal_name(name: str, where) -> str:
    """Animal names become columns, file names, BORIS subjects and NWB fields: plain names only."""
    if not ANIMAL_NAME.match(name):
        raise EthoprismError(
            f"animal name {name!r} has spaces or characters other than letters, digits, '_', '.' and '-' "
            "(or is longer than 64): rename the track (e.g. 'mouse A' -> 'mouse_A')",
            where,
        )
    return name


@dataclass
class VideoTracks:
    """The tracks of one video: rows sorted by (frame, animal)."""

    video: str  # the video's file name, as the store names it
    animals: list[str]
    frame: np.ndarray  # int64 [R]
    animal: np.ndarray  # int64 [R], index into ``animals``
    boxes: np.ndarray  # float64 [R, 4]: x0, y0, x1, y1 in pixels of the original frame
    interpolated: np.ndarray  # bool [R]: filled across a gap of at most MAX_GAP frames
    source: str = ""
    sha256: str = ""
    notes: list[str] = field(default_factory=list)
    mode: str = "pooled"  # one of ANIMAL_MODES

    def __post_init__(self):
        order = np.lexsort((self.animal, self.frame))
        self.frame, self.animal = self.frame[order].astype(np.int64), self.animal[order].astype(np.int64)
        self.boxes, self.interpolated = (
            self.boxes[order].astype(np.float64),
            self.interpolated[order].astype(bool),
        )

    def __len__(self) -> int:
        return len(self.frame)

    def coverage(self, n_frames: int) -> dict[str, float]:
        """Share of the video's frames each animal is present on."""
        counts = np.bincount(self.animal, minlength=len(self.animals))
        return {name: float(counts[k]) / max(n_frames, 1) for k, name in enumerate(self.animals)}

    def rows_of(self, frames: np.ndarray) -> np.ndarray:
        """Indices of the rows on ``frames``."""
        return np.flatnonzero(np.isin(self.frame, frames))

    def check_against(self, n_frames: int, width: int, height: int, tolerance: float = 2.0) -> None:
        """Tracks beyond the video's end, or boxes outside its frame, belong to another video."""
        where = self.source or self.video
        if len(self.frame) and (self.frame.min() < 0 or self.frame.max() >= n_frames):
            raise EthoprismError(
                f"tracks reach frame {int(self.frame.max())} but '{self.video}' has {n_frames} frames: "
                "are they the tracks of another video?",
                where,
            )
        if not np.isfinite(self.boxes).all():
            raise EthoprismError(f"tracks of '{self.video}' hold boxes that are not numbers", where)
        x0, y0, x1, y1 = self.boxes.T
        bad = (x0 < -tolerance) | (y0 < -tolerance) | (x1 > width + tolerance) | (y1 > height + tolerance)
        bad |= (x1 <= x0) | (y1 <= y0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise EthoprismError(
                f"box ({x0[row]:.1f}, {y0[row]:.1f}, {x1[row]:.1f}, {y1[row]:.1f}) of "
                f"'{self.animals[self.animal[row]]}' on frame {int(self.frame[row])} is empty or outside the "
                f"{width}x{height} frame of '{self.video}'",
                where,
            )

    def digest(self) -> str:
        """What the per-animal embeddings were computed from (part of the entry's provenance)."""
        blob = hashlib.sha256()
        blob.update("\n".join(self.animals).encode())
        for array in (self.frame, self.animal, np.round(self.boxes, 3), self.interpolated):
            blob.update(np.ascontiguousarray(array).tobytes())
        if self.mode != "pooled":  # pooled entries keep the names they had before crops existed
            blob.update(f"{self.mode}:{CROP_MARGIN}".encode())
        return blob.hexdigest()

    def to_dict(self) -> dict:
        """The provenance record of these tracks."""
        return {
            "file": Path(self.source).name if self.source else "",
            "file_sha256": self.sha256,
            "digest": self.digest(),
            "animals": list(self.animals),
            "max_gap": MAX_GAP,
            "mode": self.mode,
            **({"crop_margin": CROP_MARGIN} if self.mode == "crop" else {}),
        }


def build_tracks(
    video: str,
    rows: list[tuple[str, int, float, float, float, float]],
    source: str,
    sha256: str,
    width: int | None = None,
    height: int | None = None,
    max_gap: int = MAX_GAP,
) -> VideoTracks:
    """Rows ``(animal, frame, x0, y0, x1, y1)`` -> :class:`VideoTracks`: boxes clamped to the
    frame (pose margins cross the border), one row per animal and frame (a second row of the same
    animal on one frame is an error: a swap or a duplicate the tracker left), and gaps of at most
    ``max_gap`` frames filled by linear interpolation (said in ``notes``)."""
    animals = sorted({check_animal_name(str(r[0]), source) for r in rows})
    if not animals:
        raise EthoprismError(f"no track with a box for video '{video}'", source)
    index = {name: k for k, name in enumerate(animals)}
    frame = np.array([int(r[1]) for r in rows], np.int64)
    animal = np.array([index[str(r[0])] for r in rows], np.int64)
    boxes = np.array([r[2:6] for r in rows], np.float64)
    if width is not None and height is not None:
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    keys = frame * len(animals) + animal
    unique, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        key = int(unique[counts > 1][0])
        raise EthoprismError(
            f"animal '{animals[key % len(animals)]}' has two boxes on frame {key // len(animals)} "
            f"of '{video}'",
            source,
        )
    filled_frames, filled_animals, filled_boxes, notes = [], [], [], []
    for k, name in enumerate(animals):
        mine = np.flatnonzero(animal == k)
        mine = mine[np.argsort(frame[mine])]
        frames_k, boxes_k = frame[mine], boxes[mine]
        steps = np.diff(frames_k)
        gaps = np.flatnonzero((steps > 1) & (steps <= max_gap + 1))
        count = 0
        for g in gaps:
            missing = np.arange(frames_k[g] + 1, frames_k[g + 1])
            weights = (missing - frames_k[g]) / (frames_k[g + 1] - frames_k[g])
            filled_frames.append(missing)
            filled_animals.append(np.full(len(missing), k))
            filled_boxes.append(boxes_k[g] + weights[:, None] * (boxes_k[g + 1] - boxes_k[g]))
            count += len(missing)
        if count:
            notes.append(f"'{name}' in '{video}': {count} missing frames interpolated (gaps of ≤ {max_gap})")
    interpolated = np.zeros(len(frame), bool)
    if filled_frames:
        frame = np.concatenate([frame, *filled_frames])
        animal = np.concatenate([animal, *filled_animals])
        boxes = np.concatenate([boxes, *filled_boxes])
        interpolated = np.concatenate([interpolated, np.ones(len(frame) - len(interpolated), bool)])
    return VideoTracks(video, animals, frame, animal, boxes, interpolated, source, sha256, notes)


def box_weights(boxes: np.ndarray, grid_h: int, grid_w: int, size: int) -> np.ndarray:
    """Per box (in model-input pixels of a ``size`` x ``size`` input), the weight of each cell of
    an ``grid_h`` x ``grid_w`` token map: the share of the box the cell covers. Pooling a token map
    with these weights is the box's mean over the map taken as piecewise constant (ROI average
    pooling); a box that misses the map (outside the crop) falls back to the nearest cells."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    cell_h, cell_w = size / grid_h, size / grid_w
    ys, xs = np.arange(grid_h) * cell_h, np.arange(grid_w) * cell_w
    x0 = np.clip(boxes[:, 0], 0, size)
    x1 = np.clip(boxes[:, 2], 0, size)
    y0 = np.clip(boxes[:, 1], 0, size)
    y1 = np.clip(boxes[:, 3], 0, size)
    # a box cropped away entirely (crop protocol) keeps a sliver at the border it crossed
    x1 = np.maximum(x1, np.minimum(x0 + 1e-3, size))
    x0 = np.minimum(x0, x1 - 1e-3)
    y1 = np.maximum(y1, np.minimum(y0 + 1e-3, size))
    y0 = np.minimum(y0, y1 - 1e-3)
    overlap_x = np.clip(
        np.minimum(x1[:, None], xs[None] + cell_w) - np.maximum(x0[:, None], xs[None]), 0, None
    )
    overlap_y = np.clip(
        np.minimum(y1[:, None], ys[None] + cell_h) - np.maximum(y0[:, None], ys[None]), 0, None
    )
    weights = overlap_y[:, :, None] * overlap_x[:, None, :]
    return (weights / np.maximum(weights.sum(axis=(1, 2), keepdims=True), 1e-12)).astype(np.float32)


def crop_square(box, margin: float = CROP_MARGIN) -> tuple[int, int, int, int]:
    """The square crop of an animal: its box's longer side plus ``margin`` of it on every side,
    centred on the box, in whole pixels (it may cross the frame's border: that part is black)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 2.0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    side = int(round(side))
    return left, top, left + side, top + side


def crop_clip(frames: list[np.ndarray], box, size: int) -> np.ndarray:
    """uint8 ``[T, size, size, 3]``: the animal's square crop (:func:`crop_square`) of each frame of
    a clip, resized to the model's input (bilinear)."""
    from PIL import Image

    square = crop_square(box)
    return np.stack(
        [np.asarray(Image.fromarray(f).crop(square).resize((size, size), Image.BILINEAR)) for f in frames]
    )
