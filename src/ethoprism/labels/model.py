"""The one internal label model.

Per video, per frame, multi-hot over behaviours: ``targets[frame, k]`` is 1 (behaviour ``k``
present), 0 (absent) or -1 (frame not labelled). A labelled frame with no behaviour present is
**background/other**; an unlabelled frame carries no information and is ignored by training and
metrics. Both are kept apart throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ethoprism.errors import EthoprismError

UNLABELLED = -1
BACKGROUND_NAMES = ("background", "other", "none")


@dataclass
class VideoLabels:
    video: str  # video file name (matched against store entries by name)
    behaviors: list[str]
    targets: np.ndarray  # int8 [n_frames, n_behaviors] in {-1, 0, 1}
    fps: float | None = None
    exclusive: bool = False  # at most one behaviour per frame (softmax heads)
    subject: str | None = None
    source: str = ""  # file the labels came from, for error messages
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.targets = np.asarray(self.targets, dtype=np.int8)
        if self.targets.ndim != 2 or self.targets.shape[1] != len(self.behaviors):
            raise EthoprismError(
                f"label array shape {self.targets.shape} does not fit {len(self.behaviors)} behaviours",
                self.source or self.video,
            )
        if not np.isin(self.targets, (-1, 0, 1)).all():
            raise EthoprismError("labels must be -1 (unlabelled), 0 or 1", self.source or self.video)
        labelled = self.labelled
        if self.exclusive and (self.targets[labelled].sum(axis=1) > 1).any():
            frame = int(np.flatnonzero(labelled & (self.targets.sum(axis=1) > 1))[0])
            names = [b for b, v in zip(self.behaviors, self.targets[frame]) if v == 1]
            raise EthoprismError(
                f"overlapping labels at frame {frame} ({', '.join(names)}) but classes are exclusive",
                self.source or self.video,
            )

    def has_overlaps(self) -> bool:
        """Whether some labelled frame carries two or more behaviours."""
        return bool((self.targets[self.labelled].sum(axis=1) > 1).any())

    @property
    def n_frames(self) -> int:
        return int(self.targets.shape[0])

    @property
    def labelled(self) -> np.ndarray:
        """Frames that carry labels (bool [n_frames])."""
        return (self.targets >= 0).all(axis=1)

    @property
    def background(self) -> np.ndarray:
        """Labelled frames where no behaviour is present."""
        return self.labelled & (self.targets.max(axis=1, initial=0) <= 0)

    def class_index(self) -> np.ndarray:
        """Exclusive view: 0 = background, k+1 = behaviour k, -1 = unlabelled."""
        index = np.where(self.targets.max(axis=1, initial=0) > 0, self.targets.argmax(axis=1) + 1, 0)
        return np.where(self.labelled, index, UNLABELLED)

    def reorder(self, behaviors: list[str]) -> VideoLabels:
        """Same labels over another behaviour list; behaviours absent here become 0 on labelled frames."""
        unknown = [b for b in self.behaviors if b not in behaviors]
        if unknown:
            raise EthoprismError(
                f"unknown behaviour names {unknown}; expected some of {behaviors}", self.source or self.video
            )
        targets = np.zeros((self.n_frames, len(behaviors)), np.int8)
        for k, name in enumerate(self.behaviors):
            targets[:, behaviors.index(name)] = self.targets[:, k]
        targets[~self.labelled] = UNLABELLED
        return VideoLabels(
            self.video,
            list(behaviors),
            targets,
            self.fps,
            self.exclusive,
            self.subject,
            self.source,
            self.extra,
        )

    def check_against_video(
        self, n_frames: int, fps: float | None = None, fps_tolerance: float = 0.01
    ) -> None:
        where = self.source or self.video
        if self.n_frames != n_frames:
            raise EthoprismError(
                f"labels cover {self.n_frames} frames but video '{self.video}' has {n_frames}", where
            )
        if fps is not None and self.fps is not None and abs(self.fps - fps) > fps_tolerance * fps:
            raise EthoprismError(
                f"labels were made at {self.fps:g} fps but video '{self.video}' is {fps:g} fps", where
            )


def bouts_from_mask(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as inclusive ``(start, end)`` frame pairs."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def merge_behaviors(labels: list[VideoLabels]) -> list[str]:
    """Union of behaviour names, first-seen order, background names left out."""
    names: list[str] = []
    for video in labels:
        for name in video.behaviors:
            if name not in names and name.lower() not in BACKGROUND_NAMES:
                names.append(name)
    return names
