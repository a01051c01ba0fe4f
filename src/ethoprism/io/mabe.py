"""MABe-style annotations (the MABe 2025 challenge, and SimBA's agent/target exports): rows of
``agent_id, target_id, action, start_frame, stop_frame``, ``stop_frame`` exclusive, one file per
video (named by its ``video_id``/``video`` column or, without one, by the file's stem).

Agents are the animals of the store's tracks. MABe numbers its mice (``agent_id`` 1 is the
``mouse1`` of its metadata), so a whole number ``k`` names the animal ``mouse<k>``; any other
value is the animal's name as written. ``target_id`` (whom a social behaviour is directed at; the
agent itself, or ``self``, for solitary ones) is kept as a ``target`` column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.bouts_csv import labels_from_bouts
from ethoprism.io.tables import read_table, require_columns, whole_numbers
from ethoprism.labels.model import VideoLabels

COLUMNS = ["agent_id", "target_id", "action", "start_frame", "stop_frame"]


def looks_like(head: pd.DataFrame) -> bool:
    return set(COLUMNS) <= {str(c).strip().lower() for c in head.columns}


def animal_name(value) -> str:
    """``1`` / ``1.0`` -> ``mouse1`` (MABe's numbering); a name stays as it is."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return f"mouse{int(number)}" if number.is_integer() else text


def read_table_file(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise EthoprismError(f"unreadable parquet table ({exc})", path) from exc
    return read_table(path)


def read_mabe(
    path: str | Path,
    n_frames: dict[str, int],
    video: str | None = None,
    behaviors: list[str] | None = None,
) -> list[VideoLabels]:
    """``n_frames``: each video name's frame count; ``video``: the video a file without a video
    column belongs to. One :class:`VideoLabels` per (video, agent)."""
    path = Path(path)
    table = read_table_file(path)
    table.columns = [str(c).strip().lower() for c in table.columns]
    require_columns(table, COLUMNS, path, "MABe annotation file")
    starts = whole_numbers(table["start_frame"], path, "start_frame values")
    stops = whole_numbers(table["stop_frame"], path, "stop_frame values")
    empty = stops <= starts
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise EthoprismError(
            f"row {row + 1}: stop_frame {stops[row]} is not after start_frame {starts[row]} "
            "(MABe's stop_frame is the first frame after the bout)",
            path,
        )
    for column in ("agent_id", "action"):
        missing = table[column].isna() | (table[column].astype(str).str.strip() == "")
        if missing.any():
            raise EthoprismError(
                f"row {int(np.flatnonzero(missing.to_numpy())[0]) + 1} has no {column}", path
            )
    named = next((c for c in ("video", "video_id") if c in table.columns), None)
    if named is not None:
        stems = {Path(name).stem: name for name in n_frames}
        videos = [
            name if name in n_frames else stems.get(Path(name).stem, stems.get(name, name))
            for name in table[named].astype(str).str.strip()
        ]
    elif video is not None:
        videos = [video] * len(table)
    else:
        raise EthoprismError("MABe annotation file names no video (no video_id column)", path)
    agents = table["agent_id"].map(animal_name)
    targets = table["target_id"].map(lambda v: "" if pd.isna(v) else animal_name(v))
    bouts = pd.DataFrame(
        {
            "video": videos,
            "animal": agents,
            "target": [("" if t in ("self", a) else t) for a, t in zip(agents, targets)],
            "behavior": table["action"].astype(str).str.strip(),
            "start_frame": starts,
            "end_frame": stops - 1,
        }
    )
    return labels_from_bouts(bouts, path, n_frames, behaviors, exclusive=False)


def write_mabe(bouts: pd.DataFrame, path: str | Path, video: str) -> None:
    """Per-animal bouts (``animal``, ``behavior``, inclusive ``start_frame``/``end_frame``, an
    optional ``target``) as a MABe-style file: ``stop_frame`` exclusive, the agent itself as the
    target of an undirected behaviour, as MABe writes self-directed ones. :func:`read_mabe` reads
    it back as the same bouts."""
    targets = bouts["target"] if "target" in bouts.columns else pd.Series([""] * len(bouts), bouts.index)
    targets = targets.fillna("").astype(str)
    pd.DataFrame(
        {
            "video_id": [video] * len(bouts),
            "agent_id": bouts["animal"].to_numpy(),
            "target_id": np.where(targets != "", targets, bouts["animal"]),
            "action": bouts["behavior"].to_numpy(),
            "start_frame": bouts["start_frame"].to_numpy(),
            "stop_frame": bouts["end_frame"].to_numpy() + 1,
        },
        columns=["video_id", *COLUMNS],
    ).to_csv(path, index=False)
