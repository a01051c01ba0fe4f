"""Video -> clips -> backbone -> store, for one video at a time.

Frames are decoded once, sequentially, already scaled to the clip size; a buffer keeps only the
frames that clips still to be run need, so memory stays bounded however long the video is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

import ethoprism
from ethoprism.backbones import Backbone
from ethoprism.clips import ClipSpec, plan_clips
from ethoprism.errors import EthoprismError
from ethoprism.provenance import Provenance, VideoInfo
from ethoprism.store import EmbeddingStore, StoreEntry
from ethoprism.video import VideoReader

Progress = Callable[[int, int], None]


def build_provenance(
    backbone: Backbone, spec: ClipSpec, reader: VideoReader, token_step: int | None
) -> Provenance:
    meta = reader.metadata
    video = VideoInfo(
        path=str(Path(reader.path).resolve()),
        sha256=reader.sha256,
        n_frames=meta.n_frames,
        fps=meta.fps,
        width=meta.width,
        height=meta.height,
        duration_s=meta.duration_s,
        variable_frame_rate=meta.variable_frame_rate,
    )
    return Provenance(
        backbone=backbone.name,
        weights=backbone.weights,
        dtype=backbone.dtype_name,
        clip_spec=spec,
        video=video,
        token_step=token_step,
        ethoprism_version=ethoprism.__version__,
    )


def extract_video(
    video: str | Path,
    backbone: Backbone,
    store: EmbeddingStore,
    spec: ClipSpec | None = None,
    batch_size: int = 4,
    token_step: int | None = None,
    progress: Progress | None = None,
) -> tuple[StoreEntry, bool]:
    """Embed every frame of ``video``; returns ``(entry, cache_hit)``."""
    spec = spec or backbone.default_clip_spec()
    with VideoReader(video) as reader:
        provenance = build_provenance(backbone, spec, reader, token_step)
        cached = store.find(provenance)
        if cached is not None:
            if progress:
                progress(cached.n_frames, cached.n_frames)
            return cached, True
        embeddings, tokens, token_frames, clip_embeddings = _embed(
            reader, backbone, spec, batch_size, token_step, progress
        )
        plan = plan_clips(len(embeddings), spec)
        extra = (
            {}
            if clip_embeddings is None
            else {
                "clip_embeddings": clip_embeddings,
                "clip_frames": plan.clip_frames,
                "frame_clip": plan.source_clip,
            }
        )
        entry = store.write(provenance, embeddings, reader.timestamps, tokens, token_frames, extra)
    return entry, False


def _embed(
    reader: VideoReader,
    backbone: Backbone,
    spec: ClipSpec,
    batch_size: int,
    token_step: int | None,
    progress: Progress | None,
):
    n_frames = reader.n_frames
    plan = plan_clips(n_frames, spec)
    # first frame any clip from c onwards still needs: frames before it can leave the buffer
    still_needed_from = np.minimum.accumulate(plan.clip_frames.min(axis=1)[::-1])[::-1]
    frames_of_clip = [[] for _ in range(plan.n_clips)]
    for frame, clip in enumerate(plan.source_clip):
        frames_of_clip[clip].append(frame)

    embeddings = np.zeros((n_frames, backbone.embed_dim), np.float32)
    # video-text models also give one embedding per clip in their joint space (for text search)
    joint = hasattr(backbone, "encode_with_clip_embedding")
    clip_embeddings = None
    token_frames = np.arange(0, n_frames, token_step) if token_step else None
    tokens = None
    buffer: dict[int, np.ndarray] = {}
    next_clip, frames_decoded, frames_done = 0, 0, 0

    def run_batch(clips: list[int]):
        nonlocal tokens, frames_done, clip_embeddings
        batch = (
            np.stack([np.stack([buffer[f] for f in plan.clip_frames[c]]) for c in clips]).astype(np.float32)
            / 255.0
        )
        if joint:
            out, pooled = backbone.encode_with_clip_embedding(batch)
            if clip_embeddings is None:
                clip_embeddings = np.zeros((plan.n_clips, pooled.shape[1]), np.float32)
            clip_embeddings[clips] = pooled.cpu().numpy()
            out = out.cpu().numpy()
        else:
            out = backbone.encode(batch).cpu().numpy()  # [B, T, h, w, D]
        for slot, clip in enumerate(clips):
            targets = np.asarray(frames_of_clip[clip], dtype=np.int64)
            if not len(targets):
                continue
            rows = out[slot, plan.source_row[targets]]
            embeddings[targets] = rows.mean(axis=(1, 2))
            if token_frames is not None:
                keep = targets % token_step == 0
                if keep.any():
                    if tokens is None:
                        tokens = np.zeros((len(token_frames), *rows.shape[1:]), np.float16)
                    tokens[targets[keep] // token_step] = rows[keep]
            frames_done += len(targets)
        if progress:
            progress(frames_done, n_frames)

    def drain(final: bool):
        nonlocal next_clip
        while next_clip < plan.n_clips:
            ready = [
                c
                for c in range(next_clip, min(next_clip + batch_size, plan.n_clips))
                if plan.clip_frames[c].max() < frames_decoded
            ]
            if not ready or (len(ready) < batch_size and not final and next_clip + len(ready) < plan.n_clips):
                return
            run_batch(ready)
            next_clip += len(ready)
            if next_clip < plan.n_clips:
                for f in [f for f in buffer if f < still_needed_from[next_clip]]:
                    del buffer[f]

    for frame in reader.iter_frames(size=spec.size, square=spec.square):
        if frames_decoded >= n_frames:
            break
        buffer[frames_decoded] = frame
        frames_decoded += 1
        drain(final=False)
    if frames_decoded < n_frames:
        raise EthoprismError(
            f"video is truncated: decoded {frames_decoded} of {n_frames} frames", reader.path
        )
    drain(final=True)
    return embeddings, tokens, token_frames, clip_embeddings
