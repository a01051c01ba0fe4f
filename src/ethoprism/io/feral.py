"""FERAL label JSON (as written by BORIS's "Export observations to FERAL" plugin)::

    {"is_multilabel": false, "class_names": {"0": "other", "1": "groom", ...},
     "splits": {"train": [...], "val": [...], "test": [...], "inference": [...]},
     "labels": {"video.mp4": [0, 0, 1, ...], ...}}

Class 0 is "other" (background). Single-label files hold one class id per frame; multi-label
files hold, per frame, a 0/1 vector over the classes. A class id of -1 marks an unlabelled frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.io.tables import read_json
from ethoprism.labels.model import BACKGROUND_NAMES, VideoLabels


def looks_like(path: Path) -> bool:
    try:
        data = read_json(path, "label file")
    except EthoprismError:
        return False
    return isinstance(data, dict) and "class_names" in data and "labels" in data


def read_feral(path: str | Path) -> tuple[list[VideoLabels], dict[str, list[str]]]:
    """-> (labels per video, splits)."""
    path = Path(path)
    data = read_json(path, "label file")
    if not isinstance(data, dict) or "labels" not in data or "class_names" not in data:
        raise EthoprismError("not a FERAL label file: needs 'class_names' and 'labels'", path)
    if not isinstance(data["class_names"], dict):
        raise EthoprismError("FERAL 'class_names' must map integer ids to names", path)
    try:
        classes = {int(k): str(v) for k, v in data["class_names"].items()}
    except (ValueError, TypeError) as exc:
        raise EthoprismError("FERAL 'class_names' must map integer ids to names", path) from exc
    if not isinstance(data["labels"], dict):
        raise EthoprismError("FERAL 'labels' must map each video to its per-frame labels", path)
    multilabel = bool(data.get("is_multilabel", False))
    behavior_ids = [k for k in sorted(classes) if classes[k].lower() not in BACKGROUND_NAMES and k != 0]
    behaviors = [classes[k] for k in behavior_ids]
    if multilabel and sorted(classes) != list(range(len(classes))):
        # a multi-label frame is a vector indexed by class id: the ids must be its positions
        raise EthoprismError(
            f"multi-label FERAL class ids must be 0 to {len(classes) - 1} (vector positions), "
            f"not {sorted(classes)[:5]}",
            path,
        )
    videos = []
    for video, frames in data["labels"].items():
        array = _frame_array(frames, video, path)
        if multilabel:
            if array.ndim != 2 or array.shape[1] != len(classes) or not np.isin(array, (-1, 0, 1)).all():
                raise EthoprismError(
                    f"multi-label frames of '{video}' must be 0/1 vectors of length {len(classes)}", path
                )
            targets = array[:, behavior_ids].astype(np.int8)
            targets[(array < 0).any(axis=1)] = -1
        else:
            if array.ndim != 1:
                raise EthoprismError(f"frames of '{video}' must be one class id each", path)
            unknown = sorted(set(array.tolist()) - set(classes) - {-1})
            if unknown:
                raise EthoprismError(f"'{video}' uses class ids {unknown[:5]} not in class_names", path)
            targets = (array[:, None] == np.asarray(behavior_ids)[None, :]).astype(np.int8)
            targets[array == -1] = -1
        videos.append(
            VideoLabels(Path(video).name, behaviors, targets, exclusive=not multilabel, source=str(path))
        )
    splits = data.get("splits") or {}
    if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
        raise EthoprismError("FERAL 'splits' must map split names to lists of videos", path)
    splits = {str(name): [Path(str(v)).name for v in items] for name, items in splits.items()}
    split_of = {video: name for name, items in splits.items() for video in items}
    for label in videos:
        if label.video in split_of:
            label.extra["split"] = split_of[label.video]
    return videos, splits


def _frame_array(frames, video: str, path: Path) -> np.ndarray:
    """Per-frame labels as an int64 array; ragged, non-numeric or fractional values are errors."""
    if not isinstance(frames, list) or not frames:
        raise EthoprismError(f"labels of '{video}' must be a non-empty list with one entry per frame", path)
    try:
        array = np.asarray(frames, dtype=np.float64)
    except (ValueError, TypeError):
        raise EthoprismError(
            f"labels of '{video}' must be numbers (class ids, or equal-length 0/1 vectors)", path
        ) from None
    if not np.isfinite(array).all() or (array != np.round(array)).any() or (np.abs(array) > 2**31).any():
        raise EthoprismError(f"labels of '{video}' must be whole class ids", path)
    return array.astype(np.int64)
