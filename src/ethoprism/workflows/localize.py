"""Store + boxes -> trained box head -> predictions (COCO results) -> AP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.boxes import read_boxes
from ethoprism.labels.boxes import BOX_COLUMNS, BoxLabels, clip_to_frame, validate_boxes
from ethoprism.localization.geometry import to_frame, to_input
from ethoprism.localization.head import BoxHead, link_tracks, smooth_tracks
from ethoprism.store import EmbeddingStore


def parse_frames(text: str | None) -> list[tuple[int, int]] | None:
    """``"0-1049"`` -> [(0, 1049)]; ``"0-299,600-1499"`` -> two ranges; inclusive."""
    if not text:
        return None
    message = f"frame ranges must look like 0-1049 or 0-299,600-1499, not '{text}'"
    try:
        ranges = [tuple(int(v) for v in part.split("-")) for part in text.split(",")]
    except ValueError as exc:
        raise EthoprismError(message) from exc
    if any(len(r) != 2 or r[0] > r[1] for r in ranges):
        raise EthoprismError(message)
    return ranges


def in_frames(frames: np.ndarray, ranges) -> np.ndarray:
    """Which of ``frames`` fall in the inclusive ``ranges`` (a (start, end) pair or a list of them;
    None = all)."""
    if ranges is None:
        return np.ones(len(frames), bool)
    if len(ranges) == 2 and all(isinstance(v, (int, np.integer)) for v in ranges):
        ranges = [ranges]
    return np.any([(frames >= start) & (frames <= end) for start, end in ranges], axis=0)


def match_video_names(labels: BoxLabels, names) -> BoxLabels:
    """Pose files often name a video by its stem (DeepLabCut: ``m3v1mp4DLC_...h5`` -> ``m3v1mp4``):
    a box video name that is no stored name but the stem of exactly one becomes that name."""
    names = list(names)
    mapping = {}
    for name in set(labels.frames.video) - set(names):
        matches = [n for n in names if Path(n).stem == name]
        if len(matches) == 1:
            mapping[name] = matches[0]
    return labels.rename_videos(mapping)


def _entries_by_name(store_dir, backbone=None):
    entries = EmbeddingStore(store_dir).select(backbone, needs="maps")
    with_tokens = {e.video_name: e for e in entries if e.provenance.token_step}
    if not with_tokens:
        raise EthoprismError("store holds no spatial token maps: extract with --token-step N", store_dir)
    return with_tokens


def _without_maps(store_dir, backbone=None) -> list[str]:
    """Stored videos localisation cannot use: no spatial token maps were extracted for them."""
    entries = EmbeddingStore(store_dir).select(backbone, needs="maps")
    return sorted(e.video_name for e in entries if not e.provenance.token_step)


def _sizes(entries) -> dict[str, tuple[int, int]]:
    return {n: e.size for n, e in entries.items()}


def _boxes_for(entries, labels: BoxLabels, source, store_dir=None, backbone=None) -> BoxLabels:
    """The box labels of the stored videos (names matched by stem), validated against them. A
    labelled video stored without token maps is named, never dropped silently."""
    labels = match_video_names(labels, entries)
    if store_dir is not None:
        missing = sorted(set(_without_maps(store_dir, backbone)) & set(labels.frames.video))
        if missing:
            raise EthoprismError(
                f"labelled video(s) {missing} are stored without spatial token maps: extract them "
                "with --token-step N to localise",
                source,
            )
    if labels.frames.video.isin(entries).any():
        labels = labels.only(entries)
    frames = labels.frames.assign(track=-1, x0=0.0, y0=0.0, x1=1.0, y1=1.0)  # video names and frame ranges
    validate_boxes(frames, {n: e.n_frames for n, e in entries.items()}, _sizes(entries), source)
    validate_boxes(labels.boxes, {n: e.n_frames for n, e in entries.items()}, _sizes(entries), source)
    return labels


def _geometry(entry):
    spec = entry.provenance.clip_spec
    return (*entry.size, spec.size, spec.square)


def training_data(store_dir, labels: BoxLabels, frames, source, backbone=None):
    """Token maps and boxes of the labelled frames (with or without animals) that have token maps
    and fall in ``frames``; unlabelled frames are left out."""
    entries = _entries_by_name(store_dir, backbone)
    labels = _boxes_for(entries, labels, source, store_dir, backbone)
    tokens, targets, provenance, size = [], [], None, None
    used: dict[str, list[int]] = {}
    for name in sorted(set(labels.frames.video)):
        entry = entries[name]
        stored, token_frames = entry.tokens()
        width, height, size, square = _geometry(entry)
        keep = in_frames(token_frames, frames) & np.isin(token_frames, list(labels.labelled(name)))
        by_frame = {f: g for f, g in labels.boxes[labels.boxes.video == name].groupby("frame")}
        for i in np.flatnonzero(keep):
            frame_boxes = by_frame.get(int(token_frames[i]))
            xyxy = (
                np.zeros((0, 4)) if frame_boxes is None else frame_boxes[["x0", "y0", "x1", "y1"]].to_numpy()
            )
            tokens.append(stored[i])
            targets.append(to_input(xyxy, width, height, size, square))
            used.setdefault(name, []).append(int(i))
        provenance = entry.provenance
    if not tokens:
        raise EthoprismError("no labelled frame with token maps falls in the training frames", source)
    trained = {name: frame_ranges(rows, entries[name].token_frames()) for name, rows in used.items()}
    return np.stack(tokens).astype(np.float32), targets, size, provenance, _sizes(entries), trained


def frame_ranges(rows, token_frames: np.ndarray) -> list[list[int]]:
    """Rows of a video's token maps -> the inclusive frame ranges they cover, the compact form a
    head file keeps: rows 0-2 and 5-6 of maps every 2nd frame -> [[0, 4], [10, 12]]."""
    rows = np.unique(np.asarray(rows, np.int64))
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) > 1)
    starts = np.concatenate([[rows[0]], rows[breaks + 1]])
    ends = np.concatenate([rows[breaks], [rows[-1]]])
    return [[int(token_frames[a]), int(token_frames[b])] for a, b in zip(starts, ends)]


def train(store_dir, boxes_path, out, frames=None, video=None, backbone=None, **params) -> Path:
    boxes = read_boxes(boxes_path, video)
    tokens, targets, size, provenance, _, trained = training_data(
        store_dir, boxes, frames, boxes_path, backbone
    )
    head = BoxHead(**params).fit(tokens, targets, size)
    return head.save(out, provenance.to_dict(), trained)


def predict(
    store_dir, head_path, frames=None, link: bool = True, smooth: int = 1, backbone=None
) -> pd.DataFrame:
    head, meta = BoxHead.load(head_path)
    entries = _entries_by_name(store_dir, backbone or meta["embeddings"]["backbone"])
    rows = []
    for name, entry in entries.items():
        if (
            entry.provenance.clip_spec.to_dict() != meta["embeddings"]["clip_spec"]
            or entry.backbone != meta["embeddings"]["backbone"]
        ):
            raise EthoprismError(
                f"box head was trained on {meta['embeddings']['backbone']} tokens with another clip spec "
                f"than '{name}'",
                head_path,
            )
        stored, token_frames = entry.tokens()
        keep = in_frames(token_frames, frames)
        width, height, size, square = _geometry(entry)
        detections = head.predict(stored[keep])
        tracks = (
            link_tracks([d[0] for d in detections]) if link else [np.full(len(d[0]), -1) for d in detections]
        )
        for frame, (boxes, scores), ids in zip(token_frames[keep], detections, tracks):
            for box, score, track in zip(to_frame(boxes, width, height, size, square), scores, ids):
                rows.append((name, int(frame), int(track), *box, float(score)))
    table = pd.DataFrame(rows, columns=BOX_COLUMNS + ["score"])
    table = clip_to_frame(smooth_tracks(table, smooth), _sizes(entries)) if len(table) else table
    table.attrs["head"] = {"path": str(head_path), "trained_frames": meta.get("trained_frames")}
    return table


TRAINED_FRAMES_FILE = "head.json"


def write_predictions(table: pd.DataFrame, out, store_dir, backbone=None) -> Path:
    """``boxes.csv``, ``predictions.json`` (COCO results) and ``head.json`` (the head and the
    frames it was trained on, which ``evaluate`` leaves out) in ``out``."""
    import json

    from ethoprism.io.coco import write_coco

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "boxes.csv", index=False)
    write_coco(table, out / "predictions.json", video_sizes(store_dir, backbone), scores=True)
    if "head" in table.attrs:
        (out / TRAINED_FRAMES_FILE).write_text(json.dumps(table.attrs["head"], indent=1))
    return out


def trained_frames_beside(predictions_path) -> dict[str, list[list[int]]] | None:
    """The training frames of the head that made ``predictions_path`` (from the ``head.json``
    ``localize predict`` writes beside it); None when unknown."""
    import json

    info = Path(predictions_path).with_name(TRAINED_FRAMES_FILE)
    if not info.is_file():
        return None
    try:
        trained = json.loads(info.read_text()).get("trained_frames")
    except (ValueError, AttributeError):
        raise EthoprismError("not a head.json written by localize predict", info) from None
    return trained if isinstance(trained, dict) else None


def evaluate(
    store_dir,
    boxes_path,
    predictions_path,
    frames=None,
    video: str | None = None,
    backbone=None,
    include_training_frames: bool = False,
) -> dict:
    """AP of ``localize predict`` output against ground truth, on every frame with a token map in
    ``frames`` (default: from the first to the last predicted frame of each video). Frames where
    nothing was detected count: their animals are misses. The frames the head was trained on
    (recorded in the head, carried beside the predictions) are left out unless
    ``include_training_frames``: a score on them measures memory, not localisation."""
    from ethoprism.localization.evaluate import coco_ap
    from ethoprism.outputs.tables import read_box_table

    entries = _entries_by_name(store_dir, backbone)
    truth = _boxes_for(entries, read_boxes(boxes_path, video), boxes_path, store_dir, backbone)
    predicted = read_box_table(predictions_path)
    trained = trained_frames_beside(predictions_path)
    evaluated, excluded = set(), 0
    for name in set(truth.frames.video) & set(entries):
        mine = predicted.frame[predicted.video == name]
        span = frames or ([(int(mine.min()), int(mine.max()))] if len(mine) else None)
        if span is None:
            continue
        stored = entries[name].token_frames()
        labelled = truth.labelled(name)
        chosen = stored[in_frames(stored, span)]
        chosen = chosen[np.isin(chosen, list(labelled))]
        if trained and trained.get(name) and not include_training_frames:
            seen = in_frames(chosen, [tuple(r) for r in trained[name]])
            excluded += int(seen.sum())
            chosen = chosen[~seen]
        evaluated |= {(name, int(f)) for f in chosen}
    if not evaluated:
        raise EthoprismError(
            "no frame to evaluate: the predictions and the labelled frames of the ground truth share "
            "no video or frame range"
            + (f" outside the {excluded} frames the head was trained on" if excluded else ""),
            predictions_path,
        )
    metrics = coco_ap(truth.boxes, predicted, _sizes(entries), frames=evaluated)
    metrics["excluded_training_frames"] = excluded
    metrics["training_frames_known"] = trained is not None
    return metrics


def video_sizes(store_dir, backbone=None) -> dict[str, tuple[int, int]]:
    return _sizes(_entries_by_name(store_dir, backbone))
