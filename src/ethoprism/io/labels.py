"""Choosing the reader from the file: ``read_labels(path, videos)`` for every supported format."""

from __future__ import annotations

import glob
from pathlib import Path

from ethoprism.errors import EthoprismError
from ethoprism.io import boris, bouts_csv, deepethogram, feral, mabe, simba
from ethoprism.io.boris import boris_media, read_boris_binary, read_boris_events
from ethoprism.io.bouts_csv import read_bouts_csv
from ethoprism.io.deepethogram import read_deepethogram
from ethoprism.io.feral import read_feral
from ethoprism.io.mabe import read_mabe
from ethoprism.io.simba import read_simba
from ethoprism.io.tables import read_table
from ethoprism.labels.model import VideoLabels

FORMATS = ("auto", "bouts", "mabe", "deepethogram", "boris-events", "boris-binary", "feral", "simba")


# each format's validator, most specific first; the first that accepts a file reads it
VALIDATORS = (
    ("bouts", bouts_csv.looks_like),
    ("mabe", mabe.looks_like),
    ("boris-events", boris.looks_like_events),
    ("deepethogram", deepethogram.looks_like),
    ("boris-binary", boris.looks_like_binary),
    ("simba", simba.looks_like),
)


def detect_format(path: Path) -> str:
    """The format whose validator accepts the file (its first rows); a file none accepts is an
    error naming the formats tried, never read by a guess."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        if feral.looks_like(path):
            return "feral"
        raise EthoprismError("JSON label file is not a FERAL file (needs 'class_names' and 'labels')", path)
    head = (
        mabe.read_table_file(path).head(200)
        if path.suffix.lower() == ".parquet"
        else read_table(path, nrows=200)
    )
    for name, accepts in VALIDATORS:
        if accepts(head):
            return name
    raise EthoprismError(
        "not a label file ethoprism can read: no bouts CSV (video, behavior, start_frame, "
        "end_frame), MABe annotations (agent_id, target_id, action, start_frame, stop_frame), "
        "BORIS export (Behavior, Time, START/STOP), DeepEthogram file (background + 0/1/-1 columns), "
        "BORIS binary table (time + 0/1 columns) or SimBA targets file "
        "(frame index + 0/1 behaviour columns)",
        path,
    )


LABEL_SUFFIXES = (".csv", ".tsv", ".tab", ".json", ".parquet")


def label_files(sources) -> list[Path]:
    """Every label file named by ``sources``: files, glob patterns, plain folders (their label
    files), and project folders as DeepEthogram (``DATA/<video>/<video>_labels.csv``) and SimBA
    (``project_folder/csv/targets_inserted/*.csv``) lay them out."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files: list[Path] = []
    for source in sources:
        text = str(source)
        if glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise EthoprismError("glob matched no label files", text)
            files.extend(matches)
        elif Path(text).is_dir():
            files.extend(_project_label_files(Path(text)))
        elif Path(text).exists():
            files.append(Path(text))
        else:
            raise EthoprismError("label file does not exist", text)
    unique = list(dict.fromkeys(p.resolve() for p in files))
    return [Path(p) for p in unique]


def _project_label_files(folder: Path) -> list[Path]:
    layouts = [
        ("DeepEthogram project", folder / "DATA", "*/*_labels.csv"),
        ("DeepEthogram DATA folder", folder, "*/*_labels.csv"),
        ("SimBA project", folder / "project_folder" / "csv" / "targets_inserted", "*.csv"),
        ("SimBA project folder", folder / "csv" / "targets_inserted", "*.csv"),
    ]
    for _, root, pattern in layouts:
        found = sorted(root.glob(pattern)) if root.is_dir() else []
        if found:
            return found
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES)
    if not found:
        raise EthoprismError(
            "folder holds no label files (looked for DeepEthogram DATA/<video>/<video>_labels.csv, "
            "SimBA csv/targets_inserted/*.csv, and *.csv/*.tsv/*.json in the folder)",
            folder,
        )
    return found


def _match_video(path: Path, videos: dict[str, dict], only_file: bool) -> str:
    """The video a single-video label file belongs to, by file stem."""
    stem = path.stem
    for suffix in ("_labels", "_targets", "_binary"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
    matches = [name for name in videos if Path(name).stem == stem]
    if len(matches) != 1:
        if len(videos) == 1 and only_file:
            return next(iter(videos))
        raise EthoprismError(
            f"cannot tell which video these labels belong to (no video named '{stem}.*' among "
            f"{sorted(videos)}; extract it first or rename the label file)",
            path,
        )
    return matches[0]


def read_labels(
    sources,
    videos: dict[str, dict],
    fmt: str = "auto",
    exclusive: bool | None = None,
    behaviors: list[str] | None = None,
    subject: str | None = None,
    animals: bool = False,
) -> list[VideoLabels]:
    """Read labels from one or several files, globs or project folders (:func:`label_files`) and
    check them against ``videos`` (name -> n_frames, fps, timestamps).

    ``exclusive=None`` decides from the labels: classes are exclusive when no labelled frame of
    any video carries two behaviours (a FERAL file says so itself with ``is_multilabel``).

    ``subject``: of a file that labels several animals (BORIS Subjects), the one to keep. Without
    it such a file is refused: one answer per frame would silently merge the animals — unless
    ``animals`` (a store with tracks: every animal's labels are kept, as its own)."""
    if fmt not in FORMATS:
        raise EthoprismError(f"unknown label format '{fmt}'; choose one of {FORMATS}")
    files = label_files(sources)
    result: list[VideoLabels] = []
    multilabel_declared = False
    seen: dict[tuple[str, str | None], str] = {}
    for path in files:
        labels, declared = _read_file(path, videos, fmt, behaviors, len(files) == 1, subject)
        if not animals or subject is not None:
            labels = _one_subject(labels, subject, path)
        multilabel_declared |= declared
        for label in labels:
            key = (label.video, label.subject)
            if key in seen and seen[key] != str(path):
                raise EthoprismError(
                    f"labels for video '{label.video}' come from two files ({seen[key]} and this one)", path
                )
            seen[key] = str(path)
        result.extend(labels)
    if exclusive is None:
        exclusive = not multilabel_declared and not any(label.has_overlaps() for label in result)
    for label in result:
        if exclusive and not label.exclusive:  # validates: overlapping labels are an error
            VideoLabels(
                label.video, label.behaviors, label.targets, label.fps, True, label.subject, label.source
            )
        label.exclusive = exclusive
    return result


def _one_subject(labels: list[VideoLabels], subject: str | None, path: Path) -> list[VideoLabels]:
    """The labels of one animal per video: ``subject``'s where the file names subjects."""
    subjects = sorted({label.subject for label in labels if label.subject})
    if subject is not None:
        if not subjects:
            return labels  # a file without subjects labels the one animal there is
        if subject not in subjects:
            raise EthoprismError(
                f"no subject '{subject}' in this file; its subjects: {', '.join(subjects)}", path
            )
        return [label for label in labels if label.subject == subject]
    for video in sorted({label.video for label in labels}):
        mine = sorted({label.subject for label in labels if label.video == video and label.subject})
        if len(mine) > 1:
            raise EthoprismError(
                f"the labels of video '{video}' name several subjects ({', '.join(mine)}): one answer "
                "per frame would merge them into one animal; keep one with --subject NAME",
                path,
            )
    return labels


def _read_file(
    path: Path,
    videos: dict[str, dict],
    fmt: str,
    behaviors: list[str] | None,
    only_file: bool,
    subject: str | None = None,
) -> tuple[list[VideoLabels], bool]:
    """-> (labels, whether the file itself declares multi-label classes)."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    declared_multilabel = False
    if fmt == "bouts":
        result = read_bouts_csv(path, {k: v["n_frames"] for k, v in videos.items()}, behaviors)
    elif fmt == "mabe":
        head = mabe.read_table_file(path).head(0)
        named = {"video", "video_id"} & {str(c).strip().lower() for c in head.columns}
        video = None if named else _match_video(path, videos, only_file)
        result = read_mabe(path, {k: v["n_frames"] for k, v in videos.items()}, video, behaviors)
    elif fmt == "feral":
        result, _ = read_feral(path)
        declared_multilabel = any(not label.exclusive for label in result)
    elif fmt == "boris-events":
        result = []
        for media, subjects in boris_media(path).items():
            if media not in videos:
                raise EthoprismError(
                    f"BORIS media file '{media}' is not among the videos {sorted(videos)}", path
                )
            info = videos[media]
            for subject in subjects:
                result.extend(
                    label
                    for label in read_boris_events(
                        path, n_frames=info["n_frames"], timestamps=info.get("timestamps"), subject=subject
                    )
                    if label.video == media
                )
    else:
        video = _match_video(path, videos, only_file)
        info = videos[video]
        if fmt == "deepethogram":
            result = [read_deepethogram(path, video=video, fps=info["fps"])]
        elif fmt == "boris-binary":
            result = [
                read_boris_binary(
                    path, video, info["n_frames"], info["fps"], info.get("timestamps"), subject=subject
                )
            ]
        else:
            result = [read_simba(path, behaviors, video=video, fps=info["fps"])]
    for label in result:
        if label.video not in videos:
            raise EthoprismError(
                f"labels for video '{label.video}' which is not among {sorted(videos)}", path
            )
        info = videos[label.video]
        label.check_against_video(info["n_frames"], info["fps"])
        if behaviors:
            unknown = sorted(set(label.behaviors) - set(behaviors))
            if unknown:
                raise EthoprismError(f"unknown behaviour names {unknown}; expected {behaviors}", path)
    return result, declared_multilabel
