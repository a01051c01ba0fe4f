"""SimBA ``targets_inserted`` CSV: one row per frame (first column the frame index), the pose
columns SimBA keeps (``*_x``, ``*_y``, ``*_p``) followed by one 0/1 column per classifier.
Behaviour columns are those whose values are all 0/1 and whose name is not a pose column; pass
``behaviors`` to name them explicitly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.tables import read_table
from ethoprism.labels.model import VideoLabels

POSE_SUFFIXES = ("_x", "_y", "_p", "_likelihood")


def looks_like(head: pd.DataFrame) -> bool:
    """A frame index first and at least one 0/1 column that is not a pose column."""
    columns = [c for c in head.columns[1:] if not str(c).lower().endswith(POSE_SUFFIXES)]
    numeric = head[columns].apply(pd.to_numeric, errors="coerce")
    return bool(len(head)) and any(numeric[c].isin([0, 1]).all() for c in columns)


def read_simba(
    path: str | Path, behaviors: list[str] | None = None, video: str | None = None, fps: float | None = None
) -> VideoLabels:
    path = Path(path)
    _refuse_duplicate_columns(path)
    table = read_table(path, index_col=0)
    if behaviors is None:
        behaviors = [
            c
            for c in table.columns
            if not str(c).lower().endswith(POSE_SUFFIXES)
            and table[c].notna().any()
            and table[c].dropna().isin([0, 1]).all()
        ]
        if not behaviors:
            raise EthoprismError("no behaviour (0/1) columns found in SimBA targets file", path)
    for behavior in behaviors:
        if behavior in table.columns and table[behavior].isna().any():
            # an empty cell would drop the whole column, and its frames would train as background
            row = int(np.flatnonzero(table[behavior].isna().to_numpy())[0])
            raise EthoprismError(
                f"row {row + 2} (frame {table.index[row]}) has an empty cell in behaviour column "
                f"'{behavior}': fill it with 0 or 1",
                path,
            )
    missing = [b for b in behaviors if b not in table.columns]
    if missing:
        raise EthoprismError(f"unknown behaviour names {missing}: not columns of this SimBA file", path)
    values = table[behaviors].to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise EthoprismError("SimBA behaviour columns must hold 0/1", path)
    return VideoLabels(
        video or path.stem + ".mp4", list(behaviors), values.astype(np.int8), fps=fps, source=str(path)
    )


def _refuse_duplicate_columns(path: Path) -> None:
    """pandas renames a repeated column ``walk`` to ``walk.1``, which would become a behaviour."""
    import csv

    try:
        with open(path, newline="", errors="replace") as handle:
            header = next(csv.reader(handle), [])
    except OSError:
        return  # the table reader names the problem
    seen: set[str] = set()
    for column in header:
        name = column.strip()
        if name and name in seen:
            raise EthoprismError(f"row 1 (the header) names column '{name}' twice", path)
        seen.add(name)
