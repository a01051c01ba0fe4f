"""Per-frame and bout tables (CSV and Parquet) and the BORIS events file of the predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.io.boris import write_boris_events
from ethoprism.labels.model import bouts_from_mask

BOUT_COLUMNS = ["video", "behavior", "start_frame", "end_frame", "start_s", "end_s", "score"]


def frame_table(
    video: str, times: np.ndarray, proba: np.ndarray, pred: np.ndarray, behaviors: list[str]
) -> pd.DataFrame:
    """``video, frame, time_s, <behavior>_prob, <behavior>``."""
    table = pd.DataFrame({"video": video, "frame": np.arange(len(times)), "time_s": np.round(times, 6)})
    for k, name in enumerate(behaviors):
        table[f"{name}_prob"] = proba[:, k].astype(np.float32)
    for k, name in enumerate(behaviors):
        table[name] = pred[:, k].astype(np.int8)
    return table


def bouts_table(
    video: str, times: np.ndarray, proba: np.ndarray, pred: np.ndarray, behaviors: list[str]
) -> pd.DataFrame:
    """One row per predicted bout; ``score`` is the mean probability over the bout."""
    rows = []
    for k, name in enumerate(behaviors):
        for start, end in bouts_from_mask(pred[:, k] > 0):
            rows.append(
                {
                    "video": video,
                    "behavior": name,
                    "start_frame": start,
                    "end_frame": end,
                    "start_s": float(times[start]),
                    "end_s": float(times[end]),
                    "score": float(proba[start : end + 1, k].mean()),
                }
            )
    return pd.DataFrame(rows, columns=BOUT_COLUMNS).sort_values(["start_frame", "behavior"], kind="stable")


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
    paths = {
        "frames_csv": out_dir / f"{stem}.frames.csv",
        "frames_parquet": out_dir / f"{stem}.frames.parquet",
        "bouts_csv": out_dir / f"{stem}.bouts.csv",
        "boris": out_dir / f"{stem}.boris.tsv",
    }
    frames.to_csv(paths["frames_csv"], index=False)
    frames.to_parquet(paths["frames_parquet"], index=False)
    bouts.to_csv(paths["bouts_csv"], index=False)
    duration = float(times[-1] + 1.0 / fps) if len(times) else 0.0
    write_boris_events(bouts, paths["boris"], fps=fps, media_file=video, duration_s=duration)
    return paths
