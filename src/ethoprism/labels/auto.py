"""Choosing the reader from the file: ``read_labels(path, videos)`` for every supported format."""

from __future__ import annotations

from pathlib import Path

from ethoprism.errors import EthoprismError
from ethoprism.labels.boris import read_boris_binary, read_boris_events
from ethoprism.labels.bouts_csv import read_bouts_csv
from ethoprism.labels.deepethogram import read_deepethogram
from ethoprism.labels.feral import read_feral
from ethoprism.labels.model import VideoLabels
from ethoprism.labels.simba import read_simba
from ethoprism.labels.tables import read_table

FORMATS = ("auto", "bouts", "deepethogram", "boris-events", "boris-binary", "feral", "simba")


def detect_format(path: Path) -> str:
    if path.suffix.lower() == ".json":
        return "feral"
    columns = {str(c).strip() for c in read_table(path, nrows=2).columns}
    lower = {c.lower() for c in columns}
    if {"video", "behavior", "start_frame", "end_frame"} <= lower:
        return "bouts"
    if "background" in lower:
        return "deepethogram"
    if {"Behavior", "Time"} <= columns:
        return "boris-events"
    if "time" in lower:
        return "boris-binary"
    return "simba"


def _match_video(path: Path, videos: dict[str, dict]) -> str:
    """The video a single-video label file belongs to, by file stem."""
    stem = path.stem
    for suffix in ("_labels", "_targets", "_binary"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
    matches = [name for name in videos if Path(name).stem == stem]
    if len(matches) != 1:
        if len(videos) == 1:
            return next(iter(videos))
        raise EthoprismError(f"cannot tell which video these labels belong to (no video named '{stem}.*' among "
                             f"{sorted(videos)})", path)
    return matches[0]


def read_labels(path: str | Path, videos: dict[str, dict], fmt: str = "auto", exclusive: bool | None = None,
                behaviors: list[str] | None = None) -> list[VideoLabels]:
    """Read labels and check them against ``videos`` (name -> n_frames, fps, timestamps)."""
    path = Path(path)
    if not path.exists():
        raise EthoprismError("label file does not exist", path)
    if fmt not in FORMATS:
        raise EthoprismError(f"unknown label format '{fmt}'; choose one of {FORMATS}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "bouts":
        result = read_bouts_csv(path, {k: v["n_frames"] for k, v in videos.items()}, behaviors,
                                exclusive=bool(exclusive))
    elif fmt == "feral":
        result, _ = read_feral(path)
    elif fmt == "boris-events":
        raw = read_boris_events(path, exclusive=bool(exclusive))
        for label in raw:
            if label.video not in videos:
                raise EthoprismError(f"BORIS media file '{label.video}' is not among the videos {sorted(videos)}", path)
        # re-read per video with its exact frame count and timestamps (VFR-safe)
        result = []
        for label in raw:
            info = videos[label.video]
            for reread in read_boris_events(path, n_frames=info["n_frames"], fps=label.fps,
                                            timestamps=info.get("timestamps"), subject=label.subject,
                                            exclusive=bool(exclusive)):
                if reread.video == label.video:
                    result.append(reread)
    else:
        video = _match_video(path, videos)
        info = videos[video]
        if fmt == "deepethogram":
            result = [read_deepethogram(path, video=video, fps=info["fps"])]
        elif fmt == "boris-binary":
            result = [read_boris_binary(path, video, info["n_frames"], info["fps"], info.get("timestamps"),
                                        exclusive=bool(exclusive))]
        else:
            result = [read_simba(path, behaviors, video=video, fps=info["fps"])]
    if exclusive is not None:
        for label in result:
            if exclusive and not label.exclusive:  # validates: overlapping labels are an error
                VideoLabels(label.video, label.behaviors, label.targets, label.fps, True, label.subject, label.source)
            label.exclusive = exclusive
    for label in result:
        if label.video not in videos:
            raise EthoprismError(f"labels for video '{label.video}' which is not among {sorted(videos)}", path)
        info = videos[label.video]
        label.check_against_video(info["n_frames"], info["fps"])
        if behaviors:
            unknown = sorted(set(label.behaviors) - set(behaviors))
            if unknown:
                raise EthoprismError(f"unknown behaviour names {unknown}; expected {behaviors}", path)
    return result
