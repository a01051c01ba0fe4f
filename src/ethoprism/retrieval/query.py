"""Queries against a :class:`FrameIndex`: by example segments (or a clip file), returning the
top-K *segments* — adjacent frame hits merged, the query's own neighbourhood excluded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.retrieval.index import FrameIndex, normalise_rows, prepare
from ethoprism.video.reader import nearest_frames

SEGMENT = re.compile(r"^(?P<video>.+):(?P<start>\d+(?:\.\d+)?)(?P<su>s?)-(?P<end>\d+(?:\.\d+)?)(?P<eu>s?)$")


@dataclass(frozen=True)
class Segment:
    video: int  # index into FrameIndex.videos
    start: int  # inclusive frame
    end: int  # inclusive frame


def parse_segment(text: str, index: FrameIndex) -> Segment:
    """``VIDEO:START-END`` in frames, or in seconds with an ``s`` suffix (``clip.mp4:4.5-6s``)."""
    match = SEGMENT.match(text.strip())
    if not match:
        raise EthoprismError(
            f"cannot read segment '{text}': expected VIDEO:START-END (frames) or VIDEO:4.5-6s"
        )
    video = index.video_index(match["video"])
    seconds = bool(match["su"] or match["eu"])
    if seconds:
        times = _timestamps(index, video)
        start, end = (int(v) for v in nearest_frames([float(match["start"]), float(match["end"])], times))
    else:
        if "." in match["start"] + match["end"]:
            raise EthoprismError(f"frame numbers must be integers in '{text}' (add 's' for seconds)")
        start, end = int(match["start"]), int(match["end"])
    n = index.videos[video].n_frames
    if not 0 <= start <= end < n:
        raise EthoprismError(
            f"segment '{text}' is outside the video (frames 0-{n - 1}) or ends before it starts"
        )
    return Segment(video, start, end)


def _timestamps(index: FrameIndex, video: int) -> np.ndarray:
    with h5py.File(index.entry_file(video), "r") as handle:
        return handle["timestamps"][()]


def _prepared_video(index: FrameIndex, video: int) -> np.ndarray:
    with h5py.File(index.entry_file(video), "r") as handle:
        return prepare(handle["embeddings"][()], index.normalize)


def example_vector(index: FrameIndex, segments: list[Segment]) -> np.ndarray:
    """Mean of the segments' (prepared) frame vectors, each segment weighing the same."""
    parts = []
    for segment in segments:
        vectors = _prepared_video(index, segment.video)[segment.start : segment.end + 1]
        parts.append(normalise_rows(vectors.mean(axis=0, keepdims=True))[0])
    return normalise_rows(np.mean(parts, axis=0, keepdims=True))[0]


def search_segments(
    index: FrameIndex,
    query: np.ndarray,
    k: int = 10,
    exclude: list[Segment] | None = None,
    exclude_margin: int = 30,
    merge_gap: int = 5,
    max_length: int | None = None,
    candidates: int | None = None,
) -> pd.DataFrame:
    """Top-``k`` segments by non-maximum suppression over frame hits.

    The best remaining frame hit seeds a segment, which grows over adjacent hits (gaps of at most
    ``merge_gap`` frames) up to ``max_length`` frames around the seed (default: twice the longest
    excluded query, at least 15); every hit inside it, plus ``merge_gap``, is then suppressed.
    Returns ``rank, video, start_frame, end_frame, start_s, end_s, score, hits``.
    """
    if max_length is None:
        longest = max([seg.end - seg.start + 1 for seg in exclude or []], default=8)
        max_length = max(15, 2 * longest)
    candidates = candidates or max(500, 50 * k)
    scores, ids = index.search(query, candidates)
    valid = ids[0] >= 0
    scores, ids = scores[0][valid], ids[0][valid]
    videos, frames = index.locate(ids)
    keep = np.ones(len(ids), bool)
    for segment in exclude or []:
        keep &= ~(
            (videos == segment.video)
            & (frames >= segment.start - exclude_margin)
            & (frames <= segment.end + exclude_margin)
        )
    videos, frames, scores = videos[keep], frames[keep], scores[keep]
    alive = np.ones(len(frames), bool)
    half = max_length // 2
    rows = []
    for seed in np.argsort(-scores, kind="stable"):
        if len(rows) == k:
            break
        if not alive[seed]:
            continue
        video, centre = videos[seed], frames[seed]
        mine = np.flatnonzero((videos == video) & alive & (np.abs(frames - centre) <= half))
        hit_frames = np.sort(frames[mine])
        # the contiguous run (gaps <= merge_gap) that holds the seed
        breaks = np.flatnonzero(np.diff(hit_frames) > merge_gap + 1) + 1
        run = next(r for r in np.split(hit_frames, breaks) if r[0] <= centre <= r[-1])
        start, end = int(run[0]), int(run[-1])
        alive[(videos == video) & (frames >= start - merge_gap) & (frames <= end + merge_gap)] = False
        info = index.videos[int(video)]
        times = _timestamps(index, int(video))
        rows.append(
            {
                "rank": len(rows) + 1,
                "video": info.name,
                "start_frame": start,
                "end_frame": end,
                "start_s": float(times[start]),
                "end_s": float(times[end]),
                "score": float(scores[seed]),
                "hits": int(len(run)),
                "video_path": info.path,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "rank",
            "video",
            "start_frame",
            "end_frame",
            "start_s",
            "end_s",
            "score",
            "hits",
            "video_path",
        ],
    )


def query_by_example(
    index: FrameIndex, examples: list[str], k: int = 10, exclude_margin: int = 30, merge_gap: int = 5
) -> pd.DataFrame:
    segments = [parse_segment(text, index) for text in examples]
    return search_segments(index, example_vector(index, segments), k, segments, exclude_margin, merge_gap)


def clip_vector(index: FrameIndex, clip: str | Path, backbone) -> np.ndarray:
    """Query by a short clip file: embedded with the index's backbone and clip spec."""
    import tempfile

    from ethoprism.clips import ClipSpec
    from ethoprism.extract import extract_video
    from ethoprism.store import EmbeddingStore

    if backbone.name != index.meta["backbone"]:
        raise EthoprismError(
            f"query clip must be embedded with the index's backbone '{index.meta['backbone']}'", clip
        )
    spec = ClipSpec(**index.meta["clip_spec"])
    with tempfile.TemporaryDirectory() as folder:
        entry, _ = extract_video(clip, backbone, EmbeddingStore(folder), spec)
        vectors = entry.embeddings()
    if index.normalize == "video":
        # a short clip has no recording mean of its own (it would cancel the behaviour); centre it
        # on the average recording of the index instead
        means = []
        for video in range(len(index.videos)):
            with h5py.File(index.entry_file(video), "r") as handle:
                means.append(handle["embeddings"][()].mean(axis=0))
        vectors = vectors - np.mean(means, axis=0)
    return normalise_rows(normalise_rows(vectors).mean(axis=0, keepdims=True))[0]


LIGHTING_VARIANTS = (
    ("original", 1.0, 1.0, 1.0),
    ("dimmer", 0.6, 1.0, 1.0),
    ("brighter", 1.3, 1.0, 1.0),
    ("low contrast", 1.0, 0.7, 1.0),
    ("gamma 0.7", 1.0, 1.0, 0.7),
    ("gamma 1.4", 1.0, 1.0, 1.4),
)


def augmented_vector(index: FrameIndex, segment: Segment, backbone, variants=LIGHTING_VARIANTS) -> np.ndarray:
    """Query-side lighting augmentation: the example's frames re-embedded under brightness,
    contrast and gamma changes, each variant prepared like the index, then all fused (mean)."""
    from ethoprism.clips import ClipSpec
    from ethoprism.video import VideoReader

    spec = ClipSpec(**index.meta["clip_spec"])
    info = index.videos[segment.video]
    frames_idx = np.arange(segment.start, segment.end + 1)
    with VideoReader(info.path) as reader:
        frames = reader.read_frames(frames_idx, size=spec.size, square=spec.square).astype(np.float32) / 255
    with h5py.File(index.entry_file(segment.video), "r") as handle:
        video_mean = handle["embeddings"][()].mean(axis=0) if index.normalize == "video" else 0.0
    parts = []
    for _, gain, contrast, gamma in variants:
        varied = np.clip(((frames - 0.5) * contrast + 0.5) * gain, 0, 1) ** gamma
        if backbone.is_video_model:  # one clip of the backbone's length over the segment
            picks = np.linspace(0, len(varied) - 1, spec.frames).round().astype(int)
            vectors = backbone.frame_embeddings(varied[None, picks])[0].numpy()
        else:
            vectors = np.concatenate(
                [
                    backbone.frame_embeddings(varied[None, i : i + 32])[0].numpy()
                    for i in range(0, len(varied), 32)
                ]
            )
        vectors = normalise_rows(vectors - video_mean)
        parts.append(normalise_rows(vectors.mean(axis=0, keepdims=True))[0])
    return normalise_rows(np.mean(parts, axis=0, keepdims=True))[0]
