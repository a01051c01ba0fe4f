"""BORIS exports.

* **Tabular events** (CSV/TSV; "Export events" > tabular): one row per event with ``Behavior``,
  ``Time`` (s), a status column (``Behavior type`` in BORIS 8, ``Status`` in BORIS 7) holding
  ``START``/``STOP``/``POINT``, ``FPS``, ``Subject`` and the media file. State events are paired
  START→STOP per (subject, behaviour) and cover the frames from START's frame up to, not
  including, STOP's frame (at least one frame); a POINT event labels the one frame at its time. A time
  maps to the frame whose timestamp is nearest (:func:`~ethoprism.video.reader.nearest_frames`), with
  the video's own timestamps when given (exact for VFR), else ``frame / fps``.
  The whole span of the observation is labelled (frames with no event are background).
* **Behaviours binary table** ("Export events as behaviours binary table"): a ``time`` column and
  one 0/1 column per behaviour (``subject # behaviour`` columns keep the subject), sampled at a
  fixed time step; each frame takes the row at or before its timestamp.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.tables import finite_numbers, read_table, require_columns
from ethoprism.labels.model import VideoLabels
from ethoprism.video.reader import nearest_frames

STATUS_COLUMNS = ("Behavior type", "Status")
MEDIA_COLUMNS = ("Media file name", "Media file", "Source")


def _times_to_frames(
    times: np.ndarray, fps: float, timestamps: np.ndarray | None, n_frames: int
) -> np.ndarray:
    if timestamps is None:  # no video at hand: a constant frame rate is all we know
        timestamps = np.arange(n_frames) / fps
    timestamps = np.asarray(timestamps, np.float64)
    step = float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else 1.0 / (fps or 30.0)
    # one time past the last frame: a STOP at the very end of the video maps there (STOP is exclusive)
    return nearest_frames(times, np.append(timestamps, timestamps[-1] + step))


def _check_within_media(times, n_frames: int, fps, timestamps, media: str, path) -> None:
    """An event after the video's end (one frame's slack: STOP is exclusive) means the export
    belongs to another video or another frame rate; clamping it would label the wrong frames."""
    if timestamps is not None and len(timestamps):
        stamps = np.asarray(timestamps, np.float64)
        step = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 1.0 / (fps or 30.0)
        end = float(stamps[-1]) + step
    else:
        step, end = 1.0 / fps, n_frames / fps
    late = times > end + step / 2
    if late.any():
        raise EthoprismError(
            f"event at {times[late][0]:g} s is past the end of media '{media}' ({end:g} s, "
            f"{n_frames} frames): is the export for another video or frame rate?",
            path,
        )


def looks_like_events(head: pd.DataFrame) -> bool:
    """Behavior and Time columns and a status column holding START/STOP/POINT."""
    return {"Behavior", "Time"} <= set(head.columns) and any(
        c in head.columns and head[c].astype(str).str.upper().isin(["START", "STOP", "POINT"]).any()
        for c in STATUS_COLUMNS
    )


def looks_like_binary(head: pd.DataFrame) -> bool:
    """A time column and 0/1 behaviour columns."""
    time = [c for c in head.columns if str(c).strip().lower() == "time"]
    others = [c for c in head.columns if c not in time]
    return len(time) == 1 and bool(others) and _binary(head[others])


def _binary(table: pd.DataFrame) -> bool:
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy()
    return bool(len(values)) and bool(np.isin(values, (0, 1)).all())


def _events_table(path: Path) -> pd.DataFrame:
    """The export with normalised ``status_``, ``media_`` (file name), ``subject_`` and ``time_``."""
    table = read_table(path)
    require_columns(table, ["Behavior", "Time"], path, "BORIS tabular events export")
    status_column = next(
        (
            c
            for c in STATUS_COLUMNS
            if c in table.columns and table[c].astype(str).str.upper().isin(["START", "STOP", "POINT"]).any()
        ),
        None,
    )
    if status_column is None:
        raise EthoprismError("not a BORIS tabular events export: no START/STOP/POINT status column", path)
    media_column = next((c for c in MEDIA_COLUMNS if c in table.columns), None)
    if media_column:
        missing = table[media_column].isna() | (
            table[media_column].astype(object).astype(str).str.strip() == ""
        )
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise EthoprismError(f"row {row + 1} names no media file ('{media_column}')", path)
        media = table[media_column].astype(object).astype(str).map(lambda m: Path(m).name)
    else:
        media = path.stem
    times = finite_numbers(table["Time"], path, "Time values")
    if (times < 0).any():
        raise EthoprismError(f"negative event time {times[times < 0][0]:g} s", path)
    return table.assign(
        status_=table[status_column].astype(str).str.upper(),
        media_=media,
        subject_=table["Subject"].astype(object).where(table["Subject"].notna(), "").astype(str)
        if "Subject" in table.columns
        else "",
        time_=times,
    )


def boris_media(path: str | Path) -> dict[str, list[str | None]]:
    """Media file name -> the subjects observed in it (None for no subject)."""
    table = _events_table(Path(path))
    return {
        media: [s or None for s in sorted(rows["subject_"].unique())]
        for media, rows in table.groupby("media_", sort=True)
    }


def read_boris_events(
    path: str | Path,
    n_frames: int | None = None,
    fps: float | None = None,
    timestamps: np.ndarray | None = None,
    subject: str | None = None,
    exclusive: bool = False,
) -> list[VideoLabels]:
    """-> one :class:`VideoLabels` per (media file, subject) in the export."""
    path = Path(path)
    table = _events_table(path)
    if subject is not None:
        table = table[table["subject_"] == subject]
    behaviors = sorted(table["Behavior"].astype(str).unique())
    results = []
    for (media, who), events in table.groupby(["media_", "subject_"], sort=True):
        video_fps = fps
        if video_fps is None and "FPS" in events.columns:
            stated = pd.to_numeric(events["FPS"], errors="coerce").dropna()
            if stated.empty or not np.isfinite(stated.iloc[0]) or stated.iloc[0] <= 0:
                raise EthoprismError(
                    f"the FPS column is empty or not a positive number for media '{media}'", path
                )
            video_fps = float(stated.iloc[0])
        if (not video_fps or video_fps <= 0) and timestamps is None:
            raise EthoprismError(f"no frame rate for media '{media}': pass fps or keep the FPS column", path)
        frames = n_frames
        if frames is None:
            duration_column = next(
                (c for c in ("Media duration (s)", "Total length") if c in events.columns), None
            )
            if duration_column is None:
                raise EthoprismError(f"frame count of media '{media}' unknown: pass the video", path)
            frames = int(round(float(pd.to_numeric(events[duration_column]).iloc[0]) * video_fps))
        _check_within_media(events["time_"].to_numpy(), frames, video_fps, timestamps, media, path)
        targets = np.zeros((frames, len(behaviors)), np.int8)
        open_since: dict[str, float] = {}
        for row in events.sort_values("time_", kind="stable").itertuples():
            behavior, status, time = str(row.Behavior), row.status_, row.time_
            k = behaviors.index(behavior)
            if status == "POINT":
                frame = int(_times_to_frames(np.array([time]), video_fps, timestamps, frames)[0])
                if 0 <= frame < frames:
                    targets[frame, k] = 1
            elif status == "START":
                if behavior in open_since:
                    raise EthoprismError(
                        f"unpaired START: '{behavior}' started at {open_since[behavior]:g} s "
                        f"and again at {time:g} s without STOP (media '{media}', subject '{who}')",
                        path,
                    )
                open_since[behavior] = time
            elif status == "STOP":
                if behavior not in open_since:
                    raise EthoprismError(
                        f"unpaired STOP: '{behavior}' stopped at {time:g} s without START "
                        f"(media '{media}', subject '{who}')",
                        path,
                    )
                start, stop = _times_to_frames(
                    np.array([open_since.pop(behavior), time]), video_fps, timestamps, frames
                )
                # STOP is exclusive: the state covers frames from START's frame up to STOP's frame
                targets[max(start, 0) : min(max(stop, start + 1), frames), k] = 1
        if open_since:
            behavior, time = next(iter(open_since.items()))
            raise EthoprismError(
                f"unpaired START: '{behavior}' started at {time:g} s and never stopped "
                f"(media '{media}', subject '{who}')",
                path,
            )
        results.append(
            VideoLabels(
                Path(media).name,
                list(behaviors),
                targets,
                fps=video_fps,
                exclusive=exclusive,
                subject=who or None,
                source=str(path),
            )
        )
    if not results:
        raise EthoprismError("no events" + (f" for subject '{subject}'" if subject else ""), path)
    return results


def read_boris_binary(
    path: str | Path,
    video: str,
    n_frames: int,
    fps: float | None = None,
    timestamps: np.ndarray | None = None,
    exclusive: bool = False,
    subject: str | None = None,
) -> VideoLabels:
    """``subject``: with ``subject # behaviour`` columns of several subjects, the one to keep
    (without it, such a table is refused rather than merged into one animal)."""
    path = Path(path)
    table = read_table(path)
    time_column = next((c for c in table.columns if str(c).strip().lower() == "time"), None)
    if time_column is None:
        raise EthoprismError("not a BORIS binary table: no 'time' column", path)
    behavior_columns = [c for c in table.columns if c != time_column]
    if not behavior_columns:
        raise EthoprismError("BORIS binary table has no behaviour columns", path)
    behavior_columns = _one_subjects_columns(behavior_columns, subject, path)
    values = table[behavior_columns].to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise EthoprismError("BORIS binary table values must be 0 or 1", path)
    sample_times = finite_numbers(table[time_column], path, "time values")
    if (sample_times < 0).any() or (np.diff(sample_times) <= 0).any():
        raise EthoprismError("the time column must start at 0 or later and increase row by row", path)
    if timestamps is None:
        if not fps:
            raise EthoprismError(
                "pass the video's fps or timestamps to map the binary table's times to frames", path
            )
        timestamps = np.arange(n_frames) / fps
    rows = np.clip(
        np.searchsorted(sample_times, np.asarray(timestamps)[:n_frames] + 1e-9, side="right") - 1,
        0,
        len(table) - 1,
    )
    names = [str(c).split("#")[-1].strip() for c in behavior_columns]
    targets = values[rows].astype(np.int8)
    labelled = np.asarray(timestamps)[:n_frames] <= sample_times[-1] + 1e-9  # beyond the table: unlabelled
    targets[~labelled] = -1
    subjects = {str(c).split("#")[0].strip() for c in behavior_columns if "#" in str(c)}
    return VideoLabels(
        video,
        names,
        targets,
        fps=fps,
        exclusive=exclusive,
        subject=subjects.pop() if len(subjects) == 1 else None,
        source=str(path),
    )


def _directed(bout) -> str:
    """BORIS has Subjects but no target field: a directed bout says whom in its comment."""
    target = getattr(bout, "target", "")
    return f", directed at {target}" if isinstance(target, str) and target else ""


def write_boris_events(
    bouts: pd.DataFrame,
    path: str | Path,
    fps: float,
    media_file: str,
    duration_s: float,
    observation_id: str = "ethoprism",
    subject: str = "",
) -> None:
    """Predicted bouts (``behavior, start_s, end_s``) as a BORIS tabular events file (START/STOP
    pairs, BORIS 8 columns) that BORIS imports as an observation to correct; per-animal bouts
    name their animal as the Subject and a directed bout's target in its comment."""
    rows = []
    for bout in bouts.itertuples():
        who = str(getattr(bout, "animal", subject))  # per-animal bouts: the animal is the Subject
        for status, time in (("START", bout.start_s), ("STOP", bout.end_s + 1.0 / fps)):
            rows.append(
                {
                    "Observation id": observation_id,
                    "Observation date": "",
                    "Description": "predicted by ethoprism",
                    "Observation type": "Media file(s)",
                    "Source": f"player #1:{media_file}",
                    "Media duration (s)": round(duration_s, 3),
                    "FPS": round(fps, 4),
                    "Subject": who,
                    "Behavior": bout.behavior,
                    "Behavioral category": "",
                    "Behavior type": status,
                    "Time": round(float(time), 3),
                    "Media file name": media_file,
                    "Image index": "",
                    "Image file path": "",
                    "Comment": f"score {getattr(bout, 'score', float('nan')):.3f}{_directed(bout)}",
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "Observation id",
            "Observation date",
            "Description",
            "Observation type",
            "Source",
            "Media duration (s)",
            "FPS",
            "Subject",
            "Behavior",
            "Behavioral category",
            "Behavior type",
            "Time",
            "Media file name",
            "Image index",
            "Image file path",
            "Comment",
        ],
    )
    frame = frame.sort_values("Time", kind="stable")
    frame.to_csv(path, sep="\t" if str(path).endswith(".tsv") else ",", index=False)


def _one_subjects_columns(columns: list, subject: str | None, path: Path) -> list:
    def subject_of(column) -> str | None:
        return str(column).split("#")[0].strip() if "#" in str(column) else None

    subjects = sorted({s for s in map(subject_of, columns) if s})
    if subject is not None and subjects:
        if subject not in subjects:
            raise EthoprismError(
                f"no subject '{subject}' in this table; its subjects: {', '.join(subjects)}", path
            )
        return [c for c in columns if subject_of(c) == subject]
    if len(subjects) > 1:
        raise EthoprismError(
            f"the table's behaviour columns name several subjects ({', '.join(subjects)}): one answer "
            "per frame would merge them into one animal; keep one with --subject NAME",
            path,
        )
    return columns
