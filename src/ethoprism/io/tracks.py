"""Tracks files -> :class:`~ethoprism.tracks.VideoTracks`, one per video.

* SLEAP ``.slp`` (sleap-io): track names are the animals; user instances win over predicted ones;
* DeepLabCut multi-animal ``.h5``/``.csv`` (the pickle-free reader): individuals are the animals;
* a boxes CSV ``video, frame, animal, x1, y1, x2, y2`` (pixels of the original frame);
* ``localize predict``'s ``boxes.csv`` (``video, frame, track, x0, y0, x1, y1``): ``track<k>``.

Pose files become boxes around each instance's keypoints plus a margin. A file is matched to a
video by the video name it gives, else by its stem (``clip.slp`` -> ``clip.mp4``); a file that
matches no video, or a second file for one video, is an error naming it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.provenance import file_sha256
from ethoprism.tracks import VideoTracks, build_tracks

BOXES_CSV = ["video", "frame", "animal", "x1", "y1", "x2", "y2"]
LOCALIZE_CSV = ["video", "frame", "track", "x0", "y0", "x1", "y1"]


def _match(named: str | None, path: Path, videos: dict[str, dict]) -> str:
    """The stored video a tracks file (or one of its videos) belongs to."""
    if named:
        if named in videos:
            return named
        by_stem = [v for v in videos if Path(v).stem == Path(named).stem]
        if len(by_stem) == 1:
            return by_stem[0]
    stem = path.stem.split("DLC_")[0]
    by_stem = [v for v in videos if Path(v).stem == stem]
    if len(by_stem) == 1:
        return by_stem[0]
    raise EthoprismError(
        f"tracks for video '{named or stem}', which matches none of the videos given ({sorted(videos)})", path
    )


def _pose_rows(instances, path: Path, videos: dict[str, dict]) -> dict[str, list]:
    from ethoprism.io.boxes import box_around

    rows: dict[str, list] = {}
    matched: dict[str | None, str] = {}
    for named, frame, animal, points in instances:
        if named not in matched:
            matched[named] = _match(named, path, videos)
        box = box_around(points)
        if box is not None:  # an instance without two finite keypoints: absent on that frame
            rows.setdefault(matched[named], []).append((animal, frame, *box))
        else:
            rows.setdefault(matched[named], [])
    return rows


def _table_rows(path: Path, videos: dict[str, dict]) -> dict[str, list]:
    from ethoprism.io.tables import finite_numbers, read_table, whole_numbers

    table = read_table(path, "tracks file")
    if set(BOXES_CSV) <= set(table.columns):
        animal, corners = table["animal"].astype(str), ["x1", "y1", "x2", "y2"]
    elif set(LOCALIZE_CSV) <= set(table.columns):
        ids = whole_numbers(table["track"], path, "track ids")
        if (ids < 0).any():
            raise EthoprismError(
                "boxes without identities (track -1): run localize predict with track linking", path
            )
        animal, corners = pd.Series([f"track{i}" for i in ids]), ["x0", "y0", "x1", "y1"]
    else:
        raise EthoprismError(
            f"not a tracks file: a boxes CSV needs columns {BOXES_CSV} "
            f"(or localize predict's {LOCALIZE_CSV})",
            path,
        )
    frames = whole_numbers(table["frame"], path, "frame numbers")
    values = [finite_numbers(table[c], path, f"{c} values") for c in corners]
    rows: dict[str, list] = {}
    for k, named in enumerate(table["video"].astype(str)):
        video = _match(named, path, videos)
        rows.setdefault(video, []).append(
            (animal.iloc[k], int(frames[k]), values[0][k], values[1][k], values[2][k], values[3][k])
        )
    return rows


def read_tracks(paths, videos: dict[str, dict]) -> dict[str, VideoTracks]:
    """``videos``: name -> ``n_frames, width, height`` of each video being extracted. -> video
    name -> its tracks, checked against it (frames inside the video, boxes inside its frame)."""
    from ethoprism.io.deeplabcut import deeplabcut_individuals, is_deeplabcut, read_deeplabcut
    from ethoprism.io.sleap import read_sleap_tracks

    found: dict[str, VideoTracks] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise EthoprismError("tracks file does not exist", path)
        clamp = True  # a pose box's margin may cross the border; a boxes file's box must not
        if path.suffix.lower() == ".slp":
            rows = _pose_rows(read_sleap_tracks(path), path, videos)
        elif is_deeplabcut(path):
            names = deeplabcut_individuals(path)
            if names is None:
                raise EthoprismError(
                    "a single-animal DeepLabCut file names no individuals: use a multi-animal project's "
                    "output, or a boxes CSV with an animal column",
                    path,
                )
            instances, _ = read_deeplabcut(path)
            rows = _pose_rows(
                [(None, frame, names[track], points) for _, frame, track, points in instances], path, videos
            )
        elif path.suffix.lower() in (".csv", ".tsv"):
            rows, clamp = _table_rows(path, videos), False
        else:
            raise EthoprismError(
                "unknown tracks format: give a SLEAP .slp, a DeepLabCut multi-animal .h5/.csv or a boxes "
                "CSV (video, frame, animal, x1, y1, x2, y2)",
                path,
            )
        digest = file_sha256(path)
        for video, video_rows in rows.items():
            if video in found:
                raise EthoprismError(
                    f"a second tracks file for video '{video}' (the first: {found[video].source})", path
                )
            info = videos[video]
            size = (info.get("width"), info.get("height")) if clamp else (None, None)
            tracks = build_tracks(video, video_rows, str(path), digest, *size)
            if info.get("width") is not None:
                tracks.check_against(info["n_frames"], info["width"], info["height"])
            found[video] = tracks
    return found
