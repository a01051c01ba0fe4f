"""Looking at results: a contact sheet of retrieval hits and short mp4 clips of each hit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ethoprism.video import VideoReader, VideoWriter


def contact_sheet(results: pd.DataFrame, path, frames_per_hit: int = 4, thumb: int = 128) -> Path:
    """One row per hit: ``frames_per_hit`` frames spread over the segment, labelled with rank,
    video, frames and score (or the row's ``caption``)."""
    rows = []
    readers: dict[str, VideoReader] = {}
    for hit in results.itertuples():
        reader = readers.setdefault(hit.video_path, VideoReader(hit.video_path))
        picks = np.linspace(hit.start_frame, hit.end_frame, frames_per_hit).round().astype(int)
        frames = reader.read_frames(picks, size=thumb, square="pad")
        strip = Image.fromarray(np.concatenate(list(frames), axis=1))
        canvas = Image.new("RGB", (strip.width, strip.height + 16), "white")
        canvas.paste(strip, (0, 16))
        caption = getattr(hit, "caption", None) or (
            f"#{hit.rank} {hit.video} {hit.start_frame}-{hit.end_frame} score {hit.score:.3f}"
        )
        ImageDraw.Draw(canvas).text((3, 2), caption, fill="black")
        rows.append(canvas)
    for reader in readers.values():
        reader.close()
    if not rows:
        rows = [Image.new("RGB", (thumb * frames_per_hit, thumb), "white")]
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height
    sheet.save(path)
    return Path(path)


def write_clips(results: pd.DataFrame, out_dir, pad_frames: int = 15) -> list[Path]:
    """An mp4 (H.264, yuv420p) of each hit, with ``pad_frames`` of context on each side."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for hit in results.itertuples():
        reader = VideoReader(hit.video_path)
        meta = reader.metadata
        start, end = max(0, hit.start_frame - pad_frames), min(meta.n_frames - 1, hit.end_frame + pad_frames)
        path = out_dir / f"hit{hit.rank:02d}_{Path(hit.video).stem}_{hit.start_frame}-{hit.end_frame}.mp4"
        with VideoWriter(path, fps=meta.fps) as writer:
            for frame in reader.read_frames(np.arange(start, end + 1)):
                writer.write(frame)
        reader.close()
        written.append(path)
    return written


def grid_movie(
    segments: pd.DataFrame,
    path,
    fps: float,
    tile: int = 128,
    columns: int = 3,
    max_frames: int = 60,
    border: str = "#000000",
) -> Path:
    """One H.264 movie of several segments playing side by side (rows ``video_path``,
    ``start_frame``, ``end_frame``): each tile shows up to ``max_frames`` from the middle of its
    segment and then holds its last frame; ``border`` frames every tile (a motif's colour)."""
    clips = []
    readers: dict[str, VideoReader] = {}
    for segment in segments.itertuples():
        reader = readers.setdefault(segment.video_path, VideoReader(segment.video_path))
        length = min(max_frames, segment.end_frame - segment.start_frame + 1)
        first = segment.start_frame + (segment.end_frame - segment.start_frame + 1 - length) // 2
        clips.append(reader.read_frames(np.arange(first, first + length), size=tile - 4, square="pad"))
    for reader in readers.values():
        reader.close()
    rows = max(1, -(-len(clips) // columns))
    colour = np.array([int(border[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
    length = max((len(c) for c in clips), default=1)
    with VideoWriter(path, fps=fps) as writer:
        for t in range(length):
            canvas = np.full((rows * tile, columns * tile, 3), 255, np.uint8)
            for index, clip in enumerate(clips):
                y, x = (index // columns) * tile, (index % columns) * tile
                canvas[y : y + tile, x : x + tile] = colour
                canvas[y + 2 : y + tile - 2, x + 2 : x + tile - 2] = clip[min(t, len(clip) - 1)]
            writer.write(canvas)
    return Path(path)
