"""NWB (Neurodata Without Borders) export of one video's behaviour, with pynwb.

One file per video (an NWB file is a session): the video linked as an external ``ImageSeries``
in acquisition (frame timestamps kept), and a ``behavior`` processing module holding the
per-frame probabilities (``TimeSeries``, one column per behaviour, on the video's timestamps),
the predicted bouts and, when given, the labelled bouts (``TimeIntervals`` with ``behavior`` and
``score`` columns; a bout's stop time is the start of the frame after it).

Per animal (a video with tracks): one probabilities series per animal,
``behavior_probabilities_<animal>``, on the timestamps of the frames it is present on, and an
``animal`` column on every bout; where the head learned directed behaviours (or the labels name
targets), a ``target`` column: whom the bout is directed at, empty for undirected behaviours.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError

TARGET_DESCRIPTION = "the animal a directed behaviour is directed at (empty: undirected)"


def write_nwb(
    path,
    video_name: str,
    video_path: str | None,
    timestamps: np.ndarray,
    behaviors: list[str],
    proba: np.ndarray,
    predicted_bouts: pd.DataFrame,
    labelled_bouts: pd.DataFrame | None = None,
    session_start: datetime | None = None,
    description: str = "",
    animal_probabilities: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Bouts tables: ``behavior, start_frame, end_frame`` (inclusive), optional ``score`` and
    ``animal``. ``animal_probabilities``: per animal, (its frames, their probabilities), written
    instead of the whole-frame ``proba`` (which is then None)."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.image import ImageSeries

    path = Path(path)
    timestamps = np.asarray(timestamps, np.float64)
    if proba is not None and len(timestamps) != len(proba):
        raise EthoprismError(f"{len(proba)} probability rows for {len(timestamps)} frames", path)
    step = float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else 1.0
    nwb = NWBFile(
        session_description=description or f"behaviour of {video_name} (ethoprism)",
        identifier=str(uuid.uuid4()),
        session_start_time=session_start or datetime.now(timezone.utc),
        source_script="ethoprism export-nwb",
        source_script_file_name="ethoprism",
    )
    if video_path:
        nwb.add_acquisition(
            ImageSeries(
                name="video",
                description=f"behaviour video {video_name}, stored outside this file",
                unit="n.a.",
                external_file=[os.path.relpath(video_path, path.parent.resolve())],
                format="external",
                starting_frame=[0],
                timestamps=timestamps,
            )
        )
    module = nwb.create_processing_module("behavior", "behaviour predicted from video by ethoprism")
    series = {"": (np.arange(len(timestamps)), proba)} if proba is not None else {}
    for animal, (frames, values) in (animal_probabilities or {}).items():
        series[animal] = (np.asarray(frames), values)
    for animal, (frames, values) in series.items():
        whose = f" of {animal}, on the frames it is present on" if animal else ""
        module.add(
            TimeSeries(
                name=f"behavior_probabilities_{animal}" if animal else "behavior_probabilities",
                description=f"per-frame probability of each behaviour{whose}; columns: "
                + ", ".join(behaviors),
                data=np.asarray(values, np.float32),
                unit="probability",
                timestamps=timestamps[frames],
                comments="columns: " + ", ".join(behaviors),
            )
        )
    for name, bouts in (("predicted_bouts", predicted_bouts), ("labelled_bouts", labelled_bouts)):
        if bouts is None:
            continue
        description = f"{name.replace('_', ' ')} of {video_name}"
        with_animal = "animal" in bouts.columns or animal_probabilities is not None
        with_target = "target" in bouts.columns
        if not len(bouts):  # a video with no bout still gets its (empty) table, typed explicitly
            module.add(_empty_intervals(name, description, with_animal, with_target))
            continue
        intervals = TimeIntervals(name=name, description=description)
        intervals.add_column("behavior", "behaviour name")
        intervals.add_column("score", "mean probability over the bout (NaN for labels)")
        if with_animal:
            intervals.add_column("animal", "the animal (track) whose behaviour it is")
        if with_target:
            intervals.add_column("target", TARGET_DESCRIPTION)
        for bout in bouts.itertuples():
            start, end = int(bout.start_frame), int(bout.end_frame)
            stop = float(timestamps[end + 1]) if end + 1 < len(timestamps) else float(timestamps[end] + step)
            score = float(getattr(bout, "score", np.nan))
            extra = {"animal": str(bout.animal)} if with_animal else {}
            if with_target:
                extra["target"] = "" if pd.isna(bout.target) else str(bout.target)
            intervals.add_interval(
                start_time=float(timestamps[start]),
                stop_time=stop,
                behavior=str(bout.behavior),
                score=score,
                **extra,
            )
        module.add(intervals)
    temporary = path.with_name(f"{path.stem}.tmp-{os.getpid()}.nwb")  # pynwb wants the suffix
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with NWBHDF5IO(str(temporary), "w") as io:
            io.write(nwb)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _empty_intervals(name: str, description: str, with_animal: bool = False, with_target: bool = False):
    """pynwb cannot infer the type of a column without rows: give every column an empty array."""
    from hdmf.common import VectorData
    from pynwb.epoch import TimeIntervals

    columns = [
        VectorData(name="start_time", description="start of the bout (s)", data=np.array([], np.float64)),
        VectorData(
            name="stop_time", description="start of the frame after it (s)", data=np.array([], np.float64)
        ),
        VectorData(name="behavior", description="behaviour name", data=np.array([], dtype="U1")),
        VectorData(
            name="score",
            description="mean probability over the bout (NaN for labels)",
            data=np.array([], np.float64),
        ),
    ]
    if with_animal:
        columns.append(
            VectorData(name="animal", description="the animal (track)", data=np.array([], dtype="U1"))
        )
    if with_target:
        columns.append(
            VectorData(name="target", description=TARGET_DESCRIPTION, data=np.array([], dtype="U1"))
        )
    return TimeIntervals(name=name, description=f"{description} (none)", columns=columns)
