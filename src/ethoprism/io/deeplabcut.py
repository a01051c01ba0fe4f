"""DeepLabCut pose files, CSV or HDF5, single- or multi-animal.

Two kinds share one layout (column levels ``scorer, [individuals,] bodyparts, coords``):

- analysis output, ``<video stem>DLC_<network>.h5/.csv``: one row per frame (index = frame),
  coords ``x, y, likelihood``;
- labelled data, ``CollectedData_<labeller>.h5/.csv``: one row per labelled image, the index
  naming ``labeled-data/<video stem>/img<frame>.png``, coords ``x, y``.

sleap-io reads only the second kind, so ethoprism reads both itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.pandas_hdf import read_pandas_hdf

HEADER_NAMES = ("scorer", "individuals", "bodyparts", "coords")


def is_deeplabcut(path: Path) -> bool:
    """A ``.h5`` file, or a ``.csv`` whose first cell is ``scorer`` (DeepLabCut's header)."""
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return True
    if path.suffix.lower() != ".csv":
        return False
    with open(path, errors="replace") as handle:
        return handle.readline().split(",")[0].strip() == "scorer"


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".h5", ".hdf5"):
        return read_pandas_hdf(path)  # h5py alone: nothing in the file is ever unpickled
    with open(path, errors="replace") as handle:
        head = [handle.readline().rstrip("\n").split(",") for _ in range(4)]
    n_header = sum(1 for row in head if row[0].strip() in HEADER_NAMES)
    # labelled data keeps its image path in 1 or 3 index columns; the scorer row leaves them blank
    n_index = 1 + next((i for i, cell in enumerate(head[0][1:]) if cell.strip()), 0)
    return pd.read_csv(path, header=list(range(n_header)), index_col=list(range(n_index)))


def _frame_and_video(key, stem: str) -> tuple[str, int]:
    if isinstance(key, (int, np.integer)):
        return stem, int(key)
    parts = [str(p) for p in (key if isinstance(key, tuple) else Path(str(key)).parts)]
    digits = re.findall(r"\d+", Path(parts[-1]).stem)
    if not digits:
        raise ValueError(f"cannot tell the frame number from '{'/'.join(parts)}'")
    return (parts[-2] if len(parts) >= 2 else stem), int(digits[-1])


def deeplabcut_individuals(path) -> list[str] | None:
    """The individuals a multi-animal DeepLabCut file names, in column order; None for a
    single-animal file."""
    path = Path(path)
    table = _checked_table(path)
    if "individuals" not in table.columns.names:
        return None
    return [str(i) for i in dict.fromkeys(table.columns.get_level_values("individuals"))]


def _checked_table(path: Path) -> pd.DataFrame:
    try:
        table = _read_table(path)
        levels = list(table.columns.names)
        if "bodyparts" not in levels or "coords" not in levels:
            raise ValueError(f"columns have levels {levels}, not scorer/bodyparts/coords")
    except EthoprismError as exc:
        if exc.problem.startswith("refusing"):
            raise
        raise EthoprismError(f"cannot read DeepLabCut pose file ({exc.problem})", path) from None
    except Exception as exc:  # pandas raises many types for unreadable CSV files
        raise EthoprismError(
            f"cannot read DeepLabCut pose file ({exc.__class__.__name__}: {exc})", path
        ) from exc
    return table


def read_deeplabcut(path, video: str | None = None, min_likelihood: float = 0.6):
    """-> (list of (video name, frame, individual index, points [K, 2]), labelled frames) with
    unlabelled points and points below ``min_likelihood`` (DeepLabCut's default p-cutoff) set to
    NaN. The video name is ``video`` if given, else the stem DeepLabCut names
    (``m3v1mp4DLC_...h5`` -> ``m3v1mp4``). Labelled frames: every image of labelled data; None
    for analysis output (the frames with confident points decide)."""
    path = Path(path)
    table = _checked_table(path)
    levels = list(table.columns.names)
    stem = path.stem.split("DLC_")[0] if "DLC_" in path.stem else path.stem
    individuals = (
        list(dict.fromkeys(table.columns.get_level_values("individuals")))
        if "individuals" in levels
        else [None]
    )
    coords = table.columns.get_level_values("coords")
    values = table.to_numpy(float)  # one pass over an hour of frames instead of a row loop
    points_of = []
    for individual in individuals:
        mine = (
            np.ones(len(coords), bool)
            if individual is None
            else table.columns.get_level_values("individuals") == individual
        )
        points = np.stack([values[:, mine & (coords == "x")], values[:, mine & (coords == "y")]], axis=2)
        if (coords == "likelihood").any():
            points[~(values[:, mine & (coords == "likelihood")] >= min_likelihood)] = np.nan
        points_of.append(points)  # [frames, K, 2]
    out, labelled = [], []
    for row, key in enumerate(table.index):
        try:
            name, frame = _frame_and_video(key, stem)
        except ValueError as exc:
            raise EthoprismError(str(exc), path) from exc
        labelled.append((video or name, frame))
        out.extend((video or name, frame, track, points[row]) for track, points in enumerate(points_of))
    analysis_output = (coords == "likelihood").any()
    return out, None if analysis_output else labelled
