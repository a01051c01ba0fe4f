"""Plain bouts CSV: ``video, behavior, start_frame, end_frame`` (inclusive frames), optionally
``animal`` (whose behaviour it is, in videos with tracks) and ``target`` (whom it is directed at:
another tracked animal; empty or ``self`` for solitary behaviours), kept per bout in
``VideoLabels.extra["directed"]``. Frames of a listed video (or animal) outside every bout are background;
videos are labelled over their whole length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.tables import read_table, require_columns, whole_numbers
from ethoprism.labels.model import VideoLabels

COLUMNS = ["video", "behavior", "start_frame", "end_frame"]


def looks_like(head: pd.DataFrame) -> bool:
    return set(COLUMNS) <= {str(c).strip().lower() for c in head.columns}


def read_bouts_csv(
    path: str | Path, n_frames: dict[str, int], behaviors: list[str] | None = None, exclusive: bool = False
) -> list[VideoLabels]:
    """``n_frames`` maps each video name to its frame count (from the store or the video)."""
    path = Path(path)
    table = read_table(path)
    require_columns(table, COLUMNS, path, "bouts CSV")
    return labels_from_bouts(table, path, n_frames, behaviors, exclusive)


def labels_from_bouts(
    table: pd.DataFrame, path: Path, n_frames: dict[str, int], behaviors: list[str] | None, exclusive: bool
) -> list[VideoLabels]:
    """A bouts table (the columns of a bouts CSV) -> one :class:`VideoLabels` per video (and
    animal, where it has an ``animal`` column); ``path`` names the file in errors."""
    starts = whole_numbers(table["start_frame"], path, "start_frame values")
    ends = whole_numbers(table["end_frame"], path, "end_frame values")
    missing_name = table["behavior"].isna() | (table["behavior"].astype(str).str.strip() == "")
    if missing_name.any():
        row = int(np.flatnonzero(missing_name.to_numpy())[0])
        raise EthoprismError(f"row {row + 1} has no behaviour name", path)
    names = behaviors or sorted(table["behavior"].astype(str).unique())
    unknown = sorted(set(table["behavior"].astype(str)) - set(names))
    if unknown:
        raise EthoprismError(f"unknown behaviour names {unknown}; expected {names}", path)
    by_animal = "animal" in table.columns
    if by_animal:
        missing = table["animal"].isna() | (table["animal"].astype(str).str.strip() == "")
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise EthoprismError(f"row {row + 1} names no animal (the 'animal' column)", path)
        keys = ["video", "animal"]
    else:
        keys = ["video"]
    results = []
    for key, rows in table.assign(start=starts, end=ends).groupby(keys, sort=True):
        video = key[0] if isinstance(key, tuple) else key
        animal = str(key[1]).strip() if by_animal else None
        name = Path(str(video)).name
        if name not in n_frames:
            raise EthoprismError(f"video '{name}' is not among the videos given ({sorted(n_frames)})", path)
        targets = np.zeros((n_frames[name], len(names)), np.int8)
        for row in rows.itertuples():
            if row.start < 0 or row.end < row.start or row.end >= n_frames[name]:
                raise EthoprismError(
                    f"bout {row.behavior} {row.start}-{row.end} is outside video '{name}' "
                    f"(0-{n_frames[name] - 1}) or ends before it starts",
                    path,
                )
            targets[row.start : row.end + 1, names.index(str(row.behavior))] = 1
        extra = {}
        if by_animal and "target" in rows.columns:
            extra["directed"] = directed_bouts(rows, animal)
        results.append(
            VideoLabels(
                name, list(names), targets, exclusive=exclusive, subject=animal, source=str(path), extra=extra
            )
        )
    return results


def directed_bouts(rows: pd.DataFrame, animal: str) -> list[tuple[str, int, int, str]]:
    """``(behaviour, start, end, target)`` of the bouts that name whom they are directed at (a
    ``target`` other than empty, ``self`` or the animal itself)."""
    directed = []
    for row in rows.itertuples():
        target = "" if pd.isna(row.target) else str(row.target).strip()
        if target and target not in ("self", animal):
            directed.append((str(row.behavior), int(row.start), int(row.end), target))
    return directed


def write_bouts_csv(bouts: pd.DataFrame, path: str | Path) -> None:
    bouts[COLUMNS + [c for c in bouts.columns if c not in COLUMNS]].to_csv(path, index=False)
