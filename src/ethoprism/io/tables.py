"""Reading CSV/TSV tables with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ethoprism.errors import EthoprismError


def read_table(path: str | Path, **kwargs) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise EthoprismError("label file does not exist", path)
    if path.stat().st_size == 0:
        raise EthoprismError("label file is empty", path)
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        return pd.read_csv(path, sep=sep, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise EthoprismError(f"cannot parse table ({exc})", path) from exc


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
