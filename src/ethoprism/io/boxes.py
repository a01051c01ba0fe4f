"""Box labels from any supported file: COCO JSON as it is, pose files (SLEAP ``.slp``,
DeepLabCut ``.h5``/``.csv``) as boxes around each animal's keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.io.coco import read_coco
from ethoprism.io.deeplabcut import is_deeplabcut, read_deeplabcut
from ethoprism.io.sleap import read_sleap_instances
from ethoprism.labels.boxes import BoxLabels, box_labels


def read_boxes(path, video: str | None = None) -> BoxLabels:
    """COCO (``.json``) or a pose file; ``video`` names the video a pose file describes."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return read_coco(path)
    return boxes_from_pose(path, video)


def boxes_from_pose(
    path: str | Path, video: str | None = None, margin: float = 0.1, min_points: int = 2
) -> BoxLabels:
    """Boxes around each instance's keypoints (min/max, plus ``margin`` of the box size on every
    side) from a DeepLabCut file (``.h5``/``.csv``, analysis output or labelled data) or any pose
    file sleap-io reads (SLEAP ``.slp``, ...). Labelled frames: the frames a SLEAP file or a
    DeepLabCut labelled-data file lists; for DeepLabCut analysis output, the frames where some
    animal has enough confident points (low confidence is no evidence of an empty frame)."""
    path = Path(path)
    if not path.exists():
        raise EthoprismError("pose file does not exist", path)
    instances, labelled = (
        read_deeplabcut(path, video) if is_deeplabcut(path) else read_sleap_instances(path, video)
    )
    rows = []
    for name, frame, track, points in instances:
        box = box_around(points, margin, min_points)
        if box is not None:
            rows.append((name, frame, track, *box))
    return box_labels(rows, labelled if labelled is not None else [(r[0], r[1]) for r in rows])


def box_around(points: np.ndarray, margin: float = 0.1, min_points: int = 2) -> tuple | None:
    """The box around an instance's finite keypoints plus ``margin`` of its size on every side;
    None with fewer than ``min_points`` (NaN keypoints are missing ones)."""
    points = np.asarray(points, np.float64)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < min_points:
        return None
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    pad_x, pad_y = margin * max(x1 - x0, 1), margin * max(y1 - y0, 1)
    return (float(x0 - pad_x), float(y0 - pad_y), float(x1 + pad_x), float(y1 + pad_y))
