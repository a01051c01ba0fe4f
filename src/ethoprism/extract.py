"""Video -> clips -> backbone -> store, for one video at a time.

Frames are decoded once, sequentially, already scaled to the clip size; a buffer keeps only the
frames that clips still to be run need, and results go to the store chunk by chunk, so memory
stays bounded however long the video is and an interrupted run resumes mid-video.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import ethoprism
from ethoprism.backbones import Backbone
from ethoprism.clips import ClipPlan, ClipSpec, plan_clips
from ethoprism.errors import EthoprismError
from ethoprism.localization.geometry import to_input
from ethoprism.provenance import Provenance, VideoInfo
from ethoprism.store import EmbeddingStore, StoreEntry
from ethoprism.store.bases import check_reduces
from ethoprism.tracks import VideoTracks
from ethoprism.video import VideoReader
from ethoprism.video.reader import prefetch

Progress = Callable[[int, int], None]


def build_provenance(
    backbone: Backbone,
    spec: ClipSpec,
    reader: VideoReader,
    token_step: int | None,
    token_grid: int | None = None,
    token_dim: int | None = None,
    tracks: VideoTracks | None = None,
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
        token_grid=token_grid,
        token_dim=token_dim,
        tracks=None if tracks is None else tracks.to_dict(),
    )


def check_token_options(token_grid: int | None, token_dim: int | None, embed_dim: int | None = None) -> None:
    """``--token-dim`` shrinks token grids: it needs them, and fewer dimensions than the backbone's."""
    if token_dim is None:
        return
    if not isinstance(token_dim, (int, np.integer)) or token_dim < 1:
        raise EthoprismError(f"token dim must be a positive whole number, not {token_dim!r}")
    if not token_grid:
        raise EthoprismError("--token-dim reduces token grids: pass --token-grid G as well")
    if embed_dim is not None:
        check_reduces(token_dim, embed_dim)


def reduced_from_whole_grids(store: EmbeddingStore, provenance: Provenance) -> StoreEntry | None:
    """With ``--token-dim``: the entry made from the video's stored whole grids, if there are
    some (a projection instead of a backbone run); else None."""
    if not provenance.token_dim:
        return None
    whole = store.find(replace(provenance, token_dim=None, token_basis=None))
    return None if whole is None else store.reduced_copy(whole, provenance.token_dim)


def chunk_clips(plan: ClipPlan, batch_size: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Clip ranges ``[c0, c1)`` of whole batches giving about ``chunk_frames`` frames each: the
    unit that is written, resumed and shared between processes."""
    frames_per_clip = plan.n_frames / plan.n_clips
    per_chunk = batch_size * max(1, round(chunk_frames / (batch_size * frames_per_clip)))
    return [(c, min(c + per_chunk, plan.n_clips)) for c in range(0, plan.n_clips, per_chunk)]


def default_chunk_frames(token_step: int | None) -> int:
    # token maps can be MBs each at large sizes: fewer frames per chunk keeps memory bounded
    return 2048 if not token_step else max(64, min(2048, 64 * token_step))


def extract_video(
    video: str | Path,
    backbone: Backbone,
    store: EmbeddingStore,
    spec: ClipSpec | None = None,
    batch_size: int = 4,
    token_step: int | None = None,
    progress: Progress | None = None,
    chunk_frames: int | None = None,
    wait_s: float = 1.0,
    token_grid: int | None = None,
    token_dim: int | None = None,
    tracks: VideoTracks | None = None,
) -> tuple[StoreEntry, bool]:
    """Embed every frame of ``video``; returns ``(entry, cache_hit)``.

    Work is written chunk by chunk (:class:`~ethoprism.store.PartialEntry`): memory does not grow
    with the video, a killed run resumes from its last committed chunk with identical results,
    and chunks another live process has claimed are left to it (this call waits for them).
    ``token_dim``: token grids reduced by the store's PCA basis (see :mod:`ethoprism.store.bases`).
    ``tracks``: the video's animal tracks; each animal's box is pooled from the same pass's token
    map on every frame it is present (per-animal embeddings, :mod:`ethoprism.tracks`)."""
    spec = spec or backbone.default_clip_spec()
    for name, value in (
        ("batch size", batch_size),
        ("token step", token_step),
        ("chunk frames", chunk_frames),
        ("token grid", token_grid),
    ):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise EthoprismError(f"{name} must be a positive whole number, not {value!r}")
    check_token_options(token_grid, token_dim, backbone.embed_dim)
    with VideoReader(video) as reader:
        provenance = build_provenance(backbone, spec, reader, token_step, token_grid, token_dim, tracks)
        cached = store.find(provenance) or reduced_from_whole_grids(store, provenance)
        if cached is not None:
            if progress:
                progress(cached.n_frames, cached.n_frames)
            return cached, True
        plan = plan_clips(reader.n_frames, spec)
        partial = store.partial(
            provenance,
            chunk_clips(plan, batch_size, chunk_frames or default_chunk_frames(token_step)),
            batch_size,
        )
        # another process may have finished the entry (renamed it into place and removed its
        # parts) since the cache check above: creating the parts folder must not restart it
        finished = store.find(provenance)
        if finished is not None:
            partial.discard()
            return finished, True
        partial.drop_damaged()
        embedder = _ChunkEmbedder(reader, backbone, spec, plan, partial, token_step, tracks)
        try:
            entry = _run_chunks(store, provenance, plan, partial, embedder, progress, wait_s)
        finally:
            embedder.close()
        if entry is not None:
            return entry, True
        entry = partial.finish(reader.timestamps, plan if embedder.joint else None)
    return entry, False


def _run_chunks(store, provenance, plan, partial, embedder, progress, wait_s) -> StoreEntry | None:
    """Compute every chunk not committed yet (claiming each); -> the entry if another process
    finished it meanwhile, else None once this process may write it."""
    while True:
        done = partial.committed()
        if progress:
            progress(embedder.frames_in(done), plan.n_frames)
        todo = [i for i in range(len(partial.chunks)) if i not in done]
        if not todo:
            break
        worked = False
        for index in todo:  # claim one chunk at a time, so processes sharing a video interleave
            if partial.target.exists():
                finished = store.find(provenance)
                if finished is not None:
                    return finished
            if index in partial.committed() or not partial.claim(index):
                continue
            try:
                embedder.run(index)
            except EthoprismError:
                partial.release(index)
                finished = store.find(provenance)
                if finished is not None:  # its parts went away because another process finished it
                    return finished
                raise
            except BaseException:
                partial.release(index)
                raise
            worked = True
            if progress:
                progress(embedder.frames_in(partial.committed()), plan.n_frames)
        if not worked:  # every remaining chunk is being computed by another live process
            finished = store.find(provenance)
            if finished is not None:
                return finished
            time.sleep(wait_s)
    while not partial.claim("final"):  # another process is writing the entry: wait for it
        time.sleep(wait_s)
        finished = store.find(provenance)
        if finished is not None:
            return finished
    return store.find(provenance)  # finished by another process meanwhile, or None


class _ChunkEmbedder:
    """Decodes frames once, in order, into a buffer that keeps only what pending clips need, and
    turns a chunk of clips into the arrays the store commits."""

    def __init__(
        self,
        reader: VideoReader,
        backbone: Backbone,
        spec: ClipSpec,
        plan: ClipPlan,
        partial,
        token_step: int | None,
        tracks: VideoTracks | None = None,
    ):
        self.reader, self.backbone, self.spec, self.plan, self.partial = reader, backbone, spec, plan, partial
        self.token_step = token_step
        self.tracks = tracks
        # crop mode: each animal cut from the full-resolution frame, encoded on its own
        self.crops = tracks is not None and tracks.mode == "crop"
        # video-text models also give one embedding per clip in their joint space (for text search)
        self.joint = hasattr(backbone, "encode_with_clip_embedding")
        self.order, self.bounds = plan.frames_by_clip()
        self.still_needed_from = plan.first_frame_needed()
        self.buffer: dict[int, np.ndarray] = {}
        self.frames = None  # the decoding iterator
        self.next_frame = 0  # the frame it yields next

    def close(self) -> None:
        if self.frames is not None:
            self.frames.close()
            self.frames = None

    def frames_in(self, chunks) -> int:
        return int(
            sum(
                self.bounds[self.partial.chunks[i][1]] - self.bounds[self.partial.chunks[i][0]]
                for i in chunks
            )
        )

    def _ensure(self, last: int, first: int) -> None:
        """Decode until frame ``last`` is buffered; restart decoding at ``first`` if it is behind."""
        if self.frames is None or (first < self.next_frame and first not in self.buffer):
            self.buffer.clear()
            if self.frames is not None:
                self.frames.close()
            self.frames = prefetch(
                self.reader.iter_frames(
                    size=self.spec.size, square=self.spec.square, start=first, native=self.crops
                )
            )
            self.next_frame = first
        while self.next_frame <= last:
            try:
                frame = next(self.frames)
            except StopIteration:
                raise EthoprismError(
                    f"video ends early: decoded {self.next_frame} of {self.plan.n_frames} frames "
                    "(the chunks before are kept)",
                    self.reader.path,
                ) from None
            except EthoprismError as exc:
                raise EthoprismError(
                    f"{exc.problem} at frame {self.next_frame} (the chunks before are kept)", self.reader.path
                ) from exc
            self.buffer[self.next_frame] = frame
            self.next_frame += 1

    def _batches(self, first_clip: int, end_clip: int):
        """``(clips, uint8 batch)`` for each batch of the chunk: frames gathered from the decode
        buffer (pinned when the model is on a GPU, so the copy to it is asynchronous). Runs in a
        background thread (:func:`prefetch`), so the model never waits for this host work."""
        pin = self.backbone.device.type == "cuda"
        for batch_start in range(first_clip, end_clip, self.partial.batch_size):
            clips = np.arange(batch_start, min(batch_start + self.partial.batch_size, end_clip))
            clip_frames = self.plan.frames_of(clips)
            self._ensure(int(clip_frames.max()), int(self.still_needed_from[clips[0]]))
            at_size = (lambda f: self.buffer[f][0]) if self.crops else (lambda f: self.buffer[f])
            batch = torch.from_numpy(
                np.stack([np.stack([at_size(int(f)) for f in row]) for row in clip_frames])
            )
            crops = self._crops(clips, clip_frames) if self.crops else None
            if clips[-1] + 1 < self.plan.n_clips:
                for f in [f for f in self.buffer if f < self.still_needed_from[clips[-1] + 1]]:
                    del self.buffer[f]
            yield clips, batch.pin_memory() if pin else batch, crops

    def _crops(self, clips: np.ndarray, clip_frames: np.ndarray):
        """Crop mode: each animal cut from the full-resolution frames
        (:func:`ethoprism.tracks.crop_clip`). An image model sees each (frame, animal) row's own
        crop; a video model (tokens depend on the clip's other frames) the whole clip cut around
        the animal's boxes there (their union). -> (uint8 crops ``[m, T, S, S, 3]``, for each
        tracks row of the batch's frames its crop and its frame within the crop, those rows)."""
        from ethoprism.tracks import crop_clip

        targets = [self.order[self.bounds[c] : self.bounds[c + 1]] for c in clips]
        crops, crop_of_row, frame_of_row, rows = [], [], [], []
        for k, frames in enumerate(targets):
            starts = np.searchsorted(self.tracks.frame, frames, side="left")
            ends = np.searchsorted(self.tracks.frame, frames, side="right")
            mine = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]).astype(np.int64)
            if not self.backbone.is_video_model:
                for row in mine:
                    full = self.buffer[int(self.tracks.frame[row])][1]
                    crops.append(crop_clip([full], self.tracks.boxes[row], self.spec.size))
                crop_of_row.append(len(crops) - len(mine) + np.arange(len(mine)))
                frame_of_row.append(np.zeros(len(mine), np.int64))
                rows.append(mine)
                continue
            native = [self.buffer[int(f)][1] for f in clip_frames[k]]
            for animal in np.unique(self.tracks.animal[mine]):
                of_animal = mine[self.tracks.animal[mine] == animal]
                boxes = self.tracks.boxes[of_animal]
                union = [*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)]
                crops.append(crop_clip(native, union, self.spec.size))
                crop_of_row.append(np.full(len(of_animal), len(crops) - 1))
                frame_of_row.append(self.plan.source_row[self.tracks.frame[of_animal]])
                rows.append(of_animal)
        if not crops:
            return None
        return (
            np.stack(crops),
            np.concatenate(crop_of_row),
            np.concatenate(frame_of_row),
            np.concatenate(rows),
        )

    def _embed_crops(self, crops) -> tuple[np.ndarray, np.ndarray]:
        """-> (tracks rows, their embeddings): the crops encoded a batch of clips at a time."""
        clips, crop_of_row, frame_of_row, rows = crops
        # as many frames per pass as the frame pass takes (an image model's crops are one frame each)
        step = max(1, self.partial.batch_size * (1 if self.backbone.is_video_model else self.spec.frames))
        out = np.zeros((len(rows), self.backbone.embed_dim), np.float32)
        for first in range(0, len(clips), step):
            mine = np.flatnonzero((crop_of_row >= first) & (crop_of_row < first + step))
            batch = torch.from_numpy(clips[first : first + step])
            out[mine] = self.backbone.embed_rows(batch, crop_of_row[mine] - first, frame_of_row[mine])[
                "embeddings"
            ]
        return rows, out

    def run(self, index: int) -> None:
        first_clip, end_clip = self.partial.chunks[index]
        frames = self.order[self.bounds[first_clip] : self.bounds[end_clip]]
        grid = self.partial.provenance.token_grid
        embeddings = np.zeros((len(frames), self.backbone.embed_dim), np.float32)
        keep_tokens = frames[frames % self.token_step == 0] if self.token_step else np.zeros(0, np.int64)
        tokens = grid_tokens = clip_embeddings = None
        animal_rows, animal_embeddings = [], []
        row_of = {int(f): i for i, f in enumerate(frames)}
        token_row_of = {int(f): i for i, f in enumerate(keep_tokens)}
        batches = prefetch(self._batches(first_clip, end_clip), depth=2)
        try:
            for clips, batch, crops in batches:
                # the frames each clip of the batch stands for, and which of them keep token maps
                targets = [self.order[self.bounds[c] : self.bounds[c + 1]] for c in clips]
                slots = np.concatenate([np.full(len(t), k) for k, t in enumerate(targets)]).astype(np.int64)
                targets = np.concatenate(targets).astype(np.int64)
                if not len(targets):
                    continue
                kept = np.flatnonzero(targets % self.token_step == 0) if self.token_step else None
                rois, track_rows = (None, None) if self.crops else self._rois(targets)
                out = self.backbone.embed_rows(batch, slots, self.plan.source_row[targets], kept, grid, rois)
                embeddings[[row_of[int(f)] for f in targets]] = out["embeddings"]
                if "roi_embeddings" in out:
                    animal_rows.append(track_rows)
                    animal_embeddings.append(out["roi_embeddings"])
                if crops is not None:  # more passes, over the animals' crops
                    rows, embedded = self._embed_crops(crops)
                    animal_rows.append(rows)
                    animal_embeddings.append(embedded)
                if "tokens" in out:
                    if tokens is None:
                        tokens = np.zeros((len(keep_tokens), *out["tokens"].shape[1:]), np.float16)
                    tokens[[token_row_of[int(f)] for f in targets[kept]]] = out["tokens"]
                if "grid_tokens" in out:
                    if grid_tokens is None:
                        grid_tokens = np.zeros((len(frames), *out["grid_tokens"].shape[1:]), np.float16)
                    grid_tokens[[row_of[int(f)] for f in targets]] = out["grid_tokens"]
                if "clip_embeddings" in out:
                    if clip_embeddings is None:
                        width = out["clip_embeddings"].shape[1]
                        clip_embeddings = np.zeros((end_clip - first_clip, width), np.float32)
                    clip_embeddings[clips - first_clip] = out["clip_embeddings"]
        finally:
            batches.close()
        arrays = {"frames": frames, "embeddings": embeddings}
        if tokens is not None:
            arrays.update(token_frames=keep_tokens, tokens=tokens)
        if grid_tokens is not None:
            arrays.update(grid_tokens=grid_tokens)
        if clip_embeddings is not None:
            arrays.update(clips=np.arange(first_clip, end_clip), clip_embeddings=clip_embeddings)
        if self.tracks is not None:
            rows = np.concatenate(animal_rows) if animal_rows else np.zeros(0, np.int64)
            order = np.argsort(rows, kind="stable")  # crops come animal by animal: back to (frame, animal)
            rows = rows[order]
            animal_embeddings = [np.concatenate(animal_embeddings)[order]] if animal_embeddings else []
            arrays.update(
                animal_frames=self.tracks.frame[rows],
                animal_ids=self.tracks.animal[rows],
                animal_boxes=self.tracks.boxes[rows].astype(np.float32),
                animal_embeddings=(
                    np.concatenate(animal_embeddings).astype(np.float32)
                    if animal_embeddings
                    else np.zeros((0, self.backbone.embed_dim), np.float32)
                ),
            )
        self.partial.commit(index, arrays)
        _return_freed_memory()

    def _rois(self, targets: np.ndarray):
        """For the batch's frames ``targets``: ((index into targets, boxes in input pixels), the
        tracks rows they are), or (None, None) without tracks."""
        if self.tracks is None:
            return None, None
        starts = np.searchsorted(self.tracks.frame, targets, side="left")
        ends = np.searchsorted(self.tracks.frame, targets, side="right")
        index = np.repeat(np.arange(len(targets)), ends - starts)
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if len(targets) else []
        rows = np.asarray(rows, np.int64)
        meta = self.reader.metadata
        boxes = to_input(self.tracks.boxes[rows], meta.width, meta.height, self.spec.size, self.spec.square)
        return (index, boxes), rows


def _return_freed_memory() -> None:
    """Hand memory freed by the chunk back to the system (glibc keeps it in per-thread arenas
    otherwise, and a long run's resident size creeps up with them)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
