"""DeepEthogram label CSV: one row per frame (first column the frame index), one 0/1 column per
behaviour plus ``background``; -1 marks an unlabelled frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.tables import read_table
from ethoprism.labels.model import BACKGROUND_NAMES, VideoLabels


def looks_like(head: pd.DataFrame) -> bool:
    """A background column; every value 0, 1 or -1."""
    if "background" not in [str(c).strip().lower() for c in head.columns]:
        return False
    values = head.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").to_numpy()
    return bool(len(values)) and bool(np.isin(values, (-1, 0, 1)).all())


def read_deepethogram(path: str | Path, video: str | None = None, fps: float | None = None) -> VideoLabels:
    path = Path(path)
    table = read_table(path)
    first = table.columns[0]
    if str(first).startswith("Unnamed") or str(first).lower() in ("", "frame", "index"):
        table = table.drop(columns=first)
    if "background" not in [c.lower() for c in table.columns]:
        raise EthoprismError("not a DeepEthogram label file: no 'background' column", path)
    try:
        values = table.to_numpy(dtype=np.float64)
    except ValueError as exc:
        raise EthoprismError(f"non-numeric label values ({exc})", path) from exc
    if not np.isin(values, (-1, 0, 1)).all():
        raise EthoprismError("DeepEthogram labels must be 0, 1 or -1", path)
    behaviors = [c for c in table.columns if c.lower() not in BACKGROUND_NAMES]
    if not behaviors:
        raise EthoprismError("DeepEthogram label file has no behaviour columns besides background", path)
    unlabelled = (values == -1).any(axis=1)
    targets = table[behaviors].to_numpy(np.int8).copy()
    targets[unlabelled] = -1
    name = video or _video_name_from_label_file(path)
    return VideoLabels(name, behaviors, targets, fps=fps, exclusive=False, source=str(path))


def _video_name_from_label_file(path: Path) -> str:
    # DeepEthogram names label files "<video stem>_labels.csv"
    stem = path.stem
    return stem[: -len("_labels")] if stem.endswith("_labels") else stem


def write_deepethogram(labels: VideoLabels, path: str | Path) -> None:
    frame = pd.DataFrame(np.maximum(labels.targets, 0), columns=labels.behaviors)
    frame.insert(0, "background", labels.background.astype(np.int8))
    frame[~labels.labelled] = -1
    frame.to_csv(path)
