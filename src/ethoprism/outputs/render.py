"""Overlay video: boxes with identities, the predicted behaviour, and a scrolling ethogram strip
under the frame. H.264 yuv420p, so browsers play it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ethoprism.video import VideoReader, VideoWriter

PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
]


def render(
    video,
    out,
    boxes: pd.DataFrame | None = None,
    frames: pd.DataFrame | None = None,
    strip_seconds: float = 10.0,
    strip_height: int = 14,
    max_frames: int | None = None,
) -> Path:
    """``boxes``: ``frame, track, x0, y0, x1, y1[, score]`` (frames without boxes keep the last
    ones for up to 2 frames); ``frames``: a per-frame prediction table (``frame`` and one 0/1
    column per behaviour, as ``ethoprism predict`` writes). A per-animal table (an ``animal``
    column, and each animal's box) draws each animal's behaviour at its own box and one ethogram
    band per animal and behaviour."""
    reader = VideoReader(video)
    meta = reader.metadata
    behaviors = [c for c in (frames.columns if frames is not None else []) if f"{c}_prob" in frames.columns]
    animals, decisions, at_boxes = _decisions(frames, behaviors, meta.n_frames)
    bands = [f"{a}: {b}" if a is not None else b for a in animals for b in behaviors]
    by_frame = {f: g for f, g in boxes.groupby("frame")} if boxes is not None and len(boxes) else {}
    band = strip_height * max(1, len(bands))
    window = int(strip_seconds * meta.fps)
    last_boxes, last_frame = None, -10
    with VideoWriter(out, fps=meta.fps) as writer:
        for index, frame in enumerate(reader.iter_frames()):
            if max_frames is not None and index >= max_frames:
                break
            canvas = Image.new("RGB", (meta.width, meta.height + band + 4), (20, 20, 20))
            canvas.paste(Image.fromarray(frame), (0, 0))
            draw = ImageDraw.Draw(canvas)
            current = by_frame.get(index)
            if current is not None:
                last_boxes, last_frame = current, index
            elif last_boxes is not None and index - last_frame <= 2:  # token maps are every few frames
                current = last_boxes
            if current is not None:
                for row in current.itertuples():
                    colour = PALETTE[int(row.track) % len(PALETTE)] if row.track >= 0 else (255, 255, 0)
                    draw.rectangle([row.x0, row.y0, row.x1, row.y1], outline=colour, width=2)
                    label = f"id {int(row.track)}" if row.track >= 0 else "animal"
                    if hasattr(row, "score"):
                        label += f" {row.score:.2f}"
                    draw.text((row.x0 + 2, max(0, row.y0 - 11)), label, fill=colour)
            _draw_behaviour(draw, animals, behaviors, decisions[index], at_boxes.get(index, {}))
            for k, name in enumerate(bands):  # scrolling ethogram, the current frame in the middle
                y = meta.height + 2 + k * strip_height
                start = index - window // 2
                columns = np.arange(start, start + window)
                valid = (columns >= 0) & (columns < meta.n_frames)
                on = np.zeros(window, bool)
                on[valid] = decisions[columns[valid], k] > 0
                colour = PALETTE[(k // len(behaviors) if animals != [None] else k) % len(PALETTE)]
                for x in np.flatnonzero(on) * meta.width / window:
                    draw.rectangle([x, y, x + max(1, meta.width / window), y + strip_height - 3], fill=colour)
                draw.text((2, y), name, fill=(200, 200, 200))
            if bands:
                draw.line(
                    [meta.width / 2, meta.height, meta.width / 2, meta.height + band + 4],
                    fill=(255, 255, 255),
                )
            writer.write(np.asarray(canvas))
    reader.close()
    return Path(out)


def _decisions(frames: pd.DataFrame | None, behaviors: list[str], n_frames: int):
    """-> (animals, decisions [n_frames, animals x behaviours], {frame: {animal index: box}}).
    ``animals`` is ``[None]`` for a whole-frame table; a frame an animal is absent on is 0."""
    if frames is None or not behaviors:
        return [None], np.zeros((n_frames, 0)), {}
    if "animal" not in frames.columns:
        decided = frames.set_index("frame")[behaviors].reindex(range(n_frames)).fillna(0).to_numpy()
        return [None], decided, {}
    animals = sorted(frames["animal"].unique())
    decided = np.zeros((n_frames, len(animals) * len(behaviors)), np.int8)
    at_boxes: dict[int, dict[int, tuple]] = {}
    has_boxes = all(c in frames.columns for c in ("x0", "y0", "x1", "y1"))
    for a, animal in enumerate(animals):
        mine = frames[(frames["animal"] == animal) & (frames["frame"] < n_frames)]
        decided[mine["frame"].to_numpy(), a * len(behaviors) : (a + 1) * len(behaviors)] = mine[behaviors]
        if has_boxes:
            for row in mine[["frame", "x0", "y0", "x1", "y1"]].itertuples(index=False):
                at_boxes.setdefault(int(row[0]), {})[a] = tuple(row[1:])
    return animals, decided, at_boxes


def _draw_behaviour(draw, animals, behaviors, decided_now, boxes_now) -> None:
    """The active behaviours: top left for a whole-frame table; per animal at its box (or on a
    line of its own at the top left where the table has no boxes)."""
    if not behaviors:
        return
    for a, animal in enumerate(animals):
        active = [b for k, b in enumerate(behaviors) if decided_now[a * len(behaviors) + k] > 0]
        if animal is None:
            draw.text((4, 4), ", ".join(active) if active else "background", fill=(255, 255, 255))
            continue
        text = f"{animal}: {', '.join(active)}" if active else str(animal)
        colour = PALETTE[a % len(PALETTE)]
        box = boxes_now.get(a)
        if box is None:
            draw.text((4, 4 + 12 * a), text, fill=colour)
            continue
        draw.rectangle(list(box), outline=colour, width=2)
        draw.text((box[0] + 2, max(0, box[1] - 11)), text, fill=colour)


def render_files(video, out, boxes_path=None, predictions_path=None, max_frames: int | None = None) -> Path:
    """:func:`render` from the files ``localize predict`` and ``predict`` write."""
    from ethoprism.errors import EthoprismError
    from ethoprism.outputs.tables import read_box_table, read_frame_table

    video, out = Path(video), Path(out)
    if out.exists() and out.resolve() == video.resolve():
        raise EthoprismError("--out is the input video: it would be overwritten; choose another file", out)
    if out.is_dir():
        raise EthoprismError("--out is a folder; give the .mp4 file to write", out)
    box_table = frame_table = None
    if boxes_path is not None:
        if not Path(boxes_path).exists():
            raise EthoprismError("box file does not exist", boxes_path)
        box_table = read_box_table(boxes_path)
        box_table = box_table[box_table.video == video.name] if "video" in box_table else box_table
    if predictions_path is not None:
        predictions_path = Path(predictions_path)
        if not predictions_path.exists():
            raise EthoprismError("prediction table does not exist", predictions_path)
        frame_table = read_frame_table(predictions_path)
    return render(video, out, box_table, frame_table, max_frames=max_frames)
