"""The internal form of box labels: :class:`BoxLabels`, a table ``video, frame, track, x0, y0,
x1, y1`` in pixels of the original frame (``track`` -1 when identities are unknown) and the
frames the file labels. Pose files label some frames only: a labelled frame without boxes holds
no animal, a frame the file does not label is unknown and is neither trained on nor scored.
Readers are in :mod:`ethoprism.io` (COCO, SLEAP, DeepLabCut)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError

BOX_COLUMNS = ["video", "frame", "track", "x0", "y0", "x1", "y1"]


@dataclass
class BoxLabels:
    boxes: pd.DataFrame  # BOX_COLUMNS
    frames: pd.DataFrame  # video, frame: the labelled frames (with or without boxes)

    def labelled(self, video: str) -> set[int]:
        return set(self.frames.frame[self.frames.video == video].astype(int))

    def rename_videos(self, mapping: dict[str, str]) -> BoxLabels:
        if not mapping:
            return self
        return BoxLabels(
            self.boxes.assign(video=self.boxes.video.replace(mapping)),
            self.frames.assign(video=self.frames.video.replace(mapping)),
        )

    def only(self, videos) -> BoxLabels:
        videos = set(videos)
        return BoxLabels(
            self.boxes[self.boxes.video.isin(videos)], self.frames[self.frames.video.isin(videos)]
        )


def _labels(rows: list[tuple], frames) -> BoxLabels:
    boxes = pd.DataFrame(rows, columns=BOX_COLUMNS).sort_values(["video", "frame", "track"], kind="stable")
    frames = pd.DataFrame(sorted(set(frames)), columns=["video", "frame"])
    return BoxLabels(boxes.reset_index(drop=True), frames)


def box_labels(rows: list[tuple], frames) -> BoxLabels:
    """Rows of ``BOX_COLUMNS`` and the labelled (video, frame) pairs -> :class:`BoxLabels`."""
    boxes = pd.DataFrame(rows, columns=BOX_COLUMNS).sort_values(["video", "frame", "track"], kind="stable")
    frames = pd.DataFrame(sorted(set(frames)), columns=["video", "frame"])
    return BoxLabels(boxes.reset_index(drop=True), frames)


def validate_boxes(
    boxes: pd.DataFrame,
    n_frames: dict[str, int],
    sizes: dict[str, tuple[int, int]],
    source,
    tolerance: float = 2.0,
) -> pd.DataFrame:
    """Boxes must name known videos and frames and lie inside the frame (``tolerance`` px)."""
    for video, rows in boxes.groupby("video"):
        if video not in n_frames:
            raise EthoprismError(f"boxes name video '{video}', which is not among {sorted(n_frames)}", source)
        bad = rows[(rows.frame < 0) | (rows.frame >= n_frames[video])]
        if len(bad):
            raise EthoprismError(
                f"boxes on unknown frame {int(bad.frame.iloc[0])} of '{video}' "
                f"(video has {n_frames[video]} frames)",
                source,
            )
        width, height = sizes[video]
        outside = rows[
            (rows.x0 < -tolerance)
            | (rows.y0 < -tolerance)
            | (rows.x1 > width + tolerance)
            | (rows.y1 > height + tolerance)
            | (rows.x1 <= rows.x0)
            | (rows.y1 <= rows.y0)
        ]
        if len(outside):
            row = outside.iloc[0]
            raise EthoprismError(
                f"box ({row.x0:.1f}, {row.y0:.1f}, {row.x1:.1f}, {row.y1:.1f}) on frame "
                f"{int(row.frame)} of '{video}' is empty or outside the {width}x{height} frame",
                source,
            )
    return boxes


def clip_to_frame(boxes: pd.DataFrame, sizes: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Clamp boxes (pose margins can cross the border) to the frame."""
    boxes = boxes.copy()
    width = boxes.video.map(lambda v: sizes[v][0])
    height = boxes.video.map(lambda v: sizes[v][1])
    boxes["x0"], boxes["x1"] = boxes.x0.clip(lower=0), np.minimum(boxes.x1, width)
    boxes["y0"], boxes["y1"] = boxes.y0.clip(lower=0), np.minimum(boxes.y1, height)
    return boxes
