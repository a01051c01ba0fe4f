"""Reading CSV/TSV tables with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError


def read_table(path: str | Path, what: str = "label file", **kwargs) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise EthoprismError(f"{what} does not exist", path)
    if path.stat().st_size == 0:
        raise EthoprismError(f"{what} is empty", path)
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        table = pd.read_csv(path, sep=sep, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise EthoprismError(f"cannot parse table ({exc})", path) from exc
    if table.empty:
        raise EthoprismError("table has a header but no rows", path)
    return table


def whole_numbers(values: pd.Series, path, what: str) -> np.ndarray:
    """``values`` as int64, or an error naming the first value that is missing, not a number,
    fractional or too large (a frame number must be all of these)."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(numeric) | (numeric != np.round(numeric)) | (np.abs(numeric) > 2**53)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EthoprismError(f"{what} must be whole numbers; row {row + 1} holds {values.iloc[row]!r}", path)
    return numeric.astype(np.int64)


def finite_numbers(values: pd.Series, path, what: str) -> np.ndarray:
    """``values`` as float64, or an error naming the first missing, non-numeric or infinite one."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(numeric)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EthoprismError(f"{what} must be finite numbers; row {row + 1} holds {values.iloc[row]!r}", path)
    return numeric


def require_columns(table: pd.DataFrame, columns: list[str], path, what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise EthoprismError(f"not a {what}: missing column(s) {missing}", path)


def read_json(path: str | Path, what: str):
    path = Path(path)
    if not path.exists():
        raise EthoprismError(f"{what} does not exist", path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EthoprismError(f"malformed JSON ({exc})", path) from exc
