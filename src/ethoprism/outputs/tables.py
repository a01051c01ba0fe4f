"""Per-frame and bout tables (CSV and Parquet) and the BORIS events file of the predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.boris import write_boris_events
from ethoprism.io.mabe import write_mabe
from ethoprism.io.tables import finite_numbers, read_json, read_table, whole_numbers
from ethoprism.labels.model import bouts_from_mask

BOX_CORNERS = ["x0", "y0", "x1", "y1"]
BOUT_COLUMNS = ["video", "behavior", "start_frame", "end_frame", "start_s", "end_s", "score"]


def frame_table(
    video: str,
    times: np.ndarray,
    proba: np.ndarray,
    pred: np.ndarray,
    behaviors: list[str],
    frames: np.ndarray | None = None,
    animal: str | None = None,
    boxes: np.ndarray | None = None,
) -> pd.DataFrame:
    """``video, [animal,] frame, time_s, [x0, y0, x1, y1,] <behavior>_prob, <behavior>``;
    ``frames`` where the rows are not every frame from 0 (an animal's track: the frames it is
    present on); ``boxes``: the animal's box on each row (pixels), which ``render`` draws."""
    frames = np.arange(len(times)) if frames is None else np.asarray(frames)
    columns = {"video": video, **({"animal": animal} if animal is not None else {})}
    table = pd.DataFrame({**columns, "frame": frames, "time_s": np.round(times, 6)})
    if boxes is not None:
        for k, name in enumerate(BOX_CORNERS):
            table[name] = np.round(np.asarray(boxes, np.float64)[:, k], 1)
    for k, name in enumerate(behaviors):
        table[f"{name}_prob"] = proba[:, k].astype(np.float32)
    for k, name in enumerate(behaviors):
        table[name] = pred[:, k].astype(np.int8)
    return table


def bouts_table(
    video: str,
    times: np.ndarray,
    proba: np.ndarray,
    pred: np.ndarray,
    behaviors: list[str],
    frames: np.ndarray | None = None,
    animal: str | None = None,
) -> pd.DataFrame:
    """One row per predicted bout; ``score`` is the mean probability over the bout. With
    ``frames`` (an animal's track), a bout never spans frames where the animal is absent."""
    frames = np.arange(len(times)) if frames is None else np.asarray(frames)
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    rows = []
    for part in np.split(np.arange(len(frames)), breaks):
        for k, name in enumerate(behaviors):
            for start, end in bouts_from_mask(pred[part, k] > 0):
                first, last = part[start], part[end]
                rows.append(
                    {
                        "video": video,
                        **({"animal": animal} if animal is not None else {}),
                        "behavior": name,
                        "start_frame": int(frames[first]),
                        "end_frame": int(frames[last]),
                        "start_s": float(times[first]),
                        "end_s": float(times[last]),
                        "score": float(proba[first : last + 1, k].mean()),
                    }
                )
    columns = BOUT_COLUMNS if animal is None else ["video", "animal", *BOUT_COLUMNS[1:]]
    return pd.DataFrame(rows, columns=columns).sort_values(["start_frame", "behavior"], kind="stable")


def write_animal_predictions(
    out_dir,
    video: str,
    parts: list[tuple],
    behaviors: list[str],
    fps: float,
    timestamps: np.ndarray,
    stem=None,
    target=None,
) -> dict[str, Path]:
    """Per-animal predictions of one video: ``parts`` = ``(animal, frames, times, proba, pred[,
    boxes])`` per animal. One ``<stem>.frames.csv|.parquet`` with a row per frame and animal (and
    the animal's box where given), bouts with their animal, a BORIS file with the animals as
    Subjects, and ``<stem>.mabe.csv`` (MABe's ``agent_id, target_id, action, start_frame,
    stop_frame``). ``target(animal, behaviour, start, end)``: the bout's target (a ``target``
    column; empty for undirected behaviours)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(video).stem
    frames = pd.concat(
        [frame_table(video, t, p, d, behaviors, f, a, *rest) for a, f, t, p, d, *rest in parts],
        ignore_index=True,
    ).sort_values(["frame", "animal"], kind="stable")
    bouts = pd.concat(
        [bouts_table(video, t, p, d, behaviors, f, a) for a, f, t, p, d, *_ in parts], ignore_index=True
    ).sort_values(["start_frame", "animal", "behavior"], kind="stable")
    if target is not None:
        keys = bouts[["animal", "behavior", "start_frame", "end_frame"]].itertuples(index=False)
        bouts.insert(2, "target", [target(*key) for key in keys])
    paths = _write_tables(out_dir, stem, frames, bouts, timestamps, fps, video)
    paths["mabe"] = out_dir / f"{stem}.mabe.csv"
    write_mabe(bouts, paths["mabe"], video)
    return paths


def _write_tables(out_dir: Path, stem: str, frames, bouts, times, fps: float, video: str) -> dict[str, Path]:
    """The four files ``predict`` writes per video."""
    paths = {
        "frames_csv": out_dir / f"{stem}.frames.csv",
        "frames_parquet": out_dir / f"{stem}.frames.parquet",
        "bouts_csv": out_dir / f"{stem}.bouts.csv",
        "boris": out_dir / f"{stem}.boris.tsv",
    }
    frames.to_csv(paths["frames_csv"], index=False)
    frames.to_parquet(paths["frames_parquet"], index=False)
    bouts.to_csv(paths["bouts_csv"], index=False)
    write_bouts_boris(bouts, times, fps, paths["boris"], video)
    return paths


def output_stems(videos: list[str]) -> dict[str, str]:
    """The name each video's output files start with: its stem, or — where two videos share a
    stem (``clip.mp4``, ``clip.mkv``) — its whole name with the dot made ``_``, so no output
    overwrites another."""
    stems = [Path(v).stem for v in videos]
    return {v: (s if stems.count(s) == 1 else Path(v).name.replace(".", "_")) for v, s in zip(videos, stems)}


def write_predictions(
    out_dir: str | Path,
    video: str,
    times: np.ndarray,
    proba: np.ndarray,
    pred: np.ndarray,
    behaviors: list[str],
    fps: float,
    stem: str | None = None,
) -> dict[str, Path]:
    """Write ``<stem>.frames.csv|.parquet``, ``<stem>.bouts.csv`` and ``<stem>.boris.tsv``
    (``stem``: from :func:`output_stems` when several videos are written together)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(video).stem
    frames = frame_table(video, times, proba, pred, behaviors)
    bouts = bouts_table(video, times, proba, pred, behaviors)
    return _write_tables(out_dir, stem, frames, bouts, times, fps, video)


def write_bouts_boris(bouts: pd.DataFrame, times: np.ndarray, fps: float, path, video: str) -> None:
    """Bouts (``behavior, start_frame, end_frame``) as a BORIS events file with every frame at the
    video's own timestamp: the one rule for every BORIS file ethoprism writes (predictions, the
    app's export), so variable-frame-rate videos line up with BORIS's player."""
    starts = bouts["start_frame"].to_numpy(int)
    ends = bouts["end_frame"].to_numpy(int)
    timed = bouts.assign(start_s=times[starts].astype(float), end_s=times[ends].astype(float))
    duration = float(times[-1] + 1.0 / fps) if len(times) else 0.0
    write_boris_events(timed, path, fps=fps, media_file=video, duration_s=duration)


BOX_COLUMNS = ["frame", "x0", "y0", "x1", "y1"]


def read_box_table(path) -> pd.DataFrame:
    """Predicted boxes from ``boxes.csv`` or a COCO results JSON (``localize predict``), checked:
    whole non-negative frames, finite corners, one box per (video, frame, track)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        boxes = _coco_results(path)
    else:
        boxes = read_table(path, "box table")
    missing = [c for c in BOX_COLUMNS if c not in boxes.columns]
    if missing:
        raise EthoprismError(f"not a box table (boxes.csv): missing column(s) {missing}", path)
    boxes = boxes.copy()
    boxes["frame"] = whole_numbers(boxes["frame"], path, "frame numbers")
    if (boxes["frame"] < 0).any():
        raise EthoprismError("frame numbers must not be negative", path)
    for column in ("x0", "y0", "x1", "y1"):
        boxes[column] = finite_numbers(boxes[column], path, f"{column} values")
    boxes["track"] = whole_numbers(boxes["track"], path, "track ids") if "track" in boxes else -1
    if "score" in boxes:
        boxes["score"] = finite_numbers(boxes["score"], path, "scores")
    keys = [c for c in ("video", "frame", "track") if c in boxes.columns]
    tracked = boxes[boxes["track"] >= 0]
    duplicated = tracked.duplicated(keys)
    if duplicated.any():
        row = tracked[duplicated].iloc[0]
        raise EthoprismError(f"two boxes for track {row['track']} on frame {row['frame']}", path)
    return boxes


def _coco_results(path: Path) -> pd.DataFrame:
    records = read_json(path, "box table")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise EthoprismError("not COCO results (a list of detections)", path)
    if not records:
        raise EthoprismError("COCO results hold no detections", path)
    bad = [i for i, r in enumerate(records) if not isinstance(r.get("bbox"), list) or len(r["bbox"]) != 4]
    if bad:
        raise EthoprismError(f"detection {bad[0]} has no [x, y, w, h] bbox", path)
    table = pd.DataFrame.from_records(records)
    bbox = pd.DataFrame(table.pop("bbox").tolist(), columns=["x", "y", "w", "h"]).apply(
        pd.to_numeric, errors="coerce"
    )
    return table.assign(
        track=table.get("track_id", -1), x0=bbox.x, y0=bbox.y, x1=bbox.x + bbox.w, y1=bbox.y + bbox.h
    )


def read_frame_table(path) -> pd.DataFrame:
    """A per-frame prediction table (``<video>.frames.csv|.parquet`` from ``predict``), checked:
    whole, unique, non-negative frames (unique per animal in a per-animal table, whose box
    columns, where present, must be finite) and 0/1 decision columns."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise EthoprismError(f"unreadable parquet table ({exc})", path) from exc
    else:
        table = read_table(path, "prediction table")
    if "frame" not in table.columns:
        raise EthoprismError("not a per-frame prediction table: no 'frame' column", path)
    table = table.copy()
    table["frame"] = whole_numbers(table["frame"], path, "frame numbers")
    keys = ["frame", "animal"] if "animal" in table.columns else ["frame"]
    if (table["frame"] < 0).any() or table.duplicated(keys).any():
        each = "once per animal" if len(keys) == 2 else "once"
        raise EthoprismError(f"frame numbers must be non-negative and each appear {each}", path)
    if "animal" in table.columns:
        table["animal"] = table["animal"].astype(str)
        for column in [c for c in BOX_CORNERS if c in table.columns]:
            table[column] = finite_numbers(table[column], path, f"{column} values")
    behaviors = [c for c in table.columns if f"{c}_prob" in table.columns]
    if not behaviors:
        raise EthoprismError("no behaviour columns (<behaviour> next to <behaviour>_prob)", path)
    for name in behaviors:
        values = pd.to_numeric(table[name], errors="coerce")
        if not values.isin([0, 1]).all():
            raise EthoprismError(f"decision column '{name}' must hold 0/1", path)
        table[name] = values.astype(np.int8)
    return table
