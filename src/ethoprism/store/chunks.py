"""Writing an entry chunk by chunk: claims (leases) that keep processes and Ray workers off one
another's chunks, atomic commits, resume after a kill, and the final consolidation into one file."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ethoprism.errors import EthoprismError, os_reason
from ethoprism.leases import HEARTBEAT, Owner, owner_alive, temporary_name
from ethoprism.provenance import Provenance
from ethoprism.store.bases import TokenBasis, store_basis
from ethoprism.store.entry import PARTS, SUFFIX, StoreEntry

if TYPE_CHECKING:  # the store folder makes partial entries: imported there, not here
    from ethoprism.store.folder import EmbeddingStore


class PartialEntry:
    """An entry written in chunks of whole clip batches, so that memory stays bounded and a killed
    extraction resumes where it stopped.

    ``<entry>.parts/manifest.json`` records the provenance and the chunking (clip ranges, batch
    size); each ``chunk_<i>.h5`` is written to a temporary, fsynced and renamed, so a chunk file
    that exists is complete. A process claims a chunk (``chunk_<i>.claim``, created exclusively,
    holding its pid) before computing it, so several processes — or Ray workers — share one
    video without computing a chunk twice; a claim whose process is gone is taken over.
    :meth:`finish` streams the chunks into the entry's single HDF5 file (temporary + rename) and
    removes the parts.
    """

    def __init__(
        self, store: EmbeddingStore, provenance: Provenance, chunks: list[tuple[int, int]], batch_size: int
    ):
        self.store, self.provenance = store, provenance
        self.target = store.entry_path(provenance)
        self.folder = self.target.with_name(self.target.name + PARTS)
        manifest = self.folder / "manifest.json"
        if manifest.exists():
            try:
                data = json.loads(manifest.read_text())
                if Provenance.from_dict(data["provenance"]).cache_key == provenance.cache_key:
                    chunks, batch_size = [tuple(c) for c in data["chunks"]], int(data["batch_size"])
            except (ValueError, KeyError, TypeError, EthoprismError):
                pass  # an unreadable manifest is rewritten below; its chunks are checked by shape on finish
        self.chunks, self.batch_size = [(int(a), int(b)) for a, b in chunks], int(batch_size)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not manifest.exists():
            _atomic_text(
                manifest,
                json.dumps(
                    {"provenance": provenance.to_dict(), "chunks": self.chunks, "batch_size": self.batch_size}
                ),
            )

    def _chunk(self, index: int) -> Path:
        return self.folder / f"chunk_{index:06d}{SUFFIX}"

    def discard(self) -> None:
        """Remove the parts of an entry that is already finished (they can only repeat it)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def committed(self) -> set[int]:
        return {i for i in range(len(self.chunks)) if self._chunk(i).exists()}

    def progress(self) -> tuple[int, int]:
        return len(self.committed()), len(self.chunks)

    def drop_damaged(self) -> list[Path]:
        """Remove committed chunks that do not read whole (truncated, empty, overwritten, a
        dataset missing: a disk or copy fault), so they are computed again instead of failing
        every re-run; -> the chunks removed (also told in ``store.notes``)."""
        removed = []
        for index in sorted(self.committed()):
            path = self._chunk(index)
            problem = _chunk_problem(path)
            if problem is None:
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
            self.store.notes.append(f"{path}: damaged chunk ({problem}): removed, it is computed again")
        return removed

    def _claim_path(self, index: int | str) -> Path:
        return self.folder / (f"chunk_{index:06d}.claim" if isinstance(index, int) else f"{index}.claim")

    def claim(self, index: int | str) -> bool:
        """Take chunk ``index`` (or the ``"final"`` consolidation) for this process; False if
        another owner's lease on it stands (:mod:`ethoprism.leases`). The lease is renewed while
        this process holds it."""
        claim = self._claim_path(index)
        # the claim appears with its owner already in it (written to a temporary, then hard-linked
        # into place, which fails if the claim exists): another process never reads an empty
        # claim and mistakes a live owner for a dead one
        me = Owner.me()
        mine = temporary_name(claim)
        try:
            mine.write_text(me.to_json())
        except FileNotFoundError:  # the parts are gone: another process finished the entry
            return False
        try:
            for _ in range(2):
                try:
                    os.link(mine, claim)
                    HEARTBEAT.hold(claim)
                    if isinstance(index, int) and self._chunk(index).exists():
                        self.release(index)  # committed by its last owner just before it let go
                        return False
                    return True
                except FileNotFoundError:
                    return False
                except FileExistsError:
                    try:
                        holder, renewed = Owner.parse(claim.read_text()), claim.stat().st_mtime
                    except OSError:
                        continue  # released meanwhile: try again
                    if holder == me:
                        HEARTBEAT.hold(claim)
                        return True
                    if owner_alive(holder, renewed):
                        return False
                    claim.unlink(missing_ok=True)  # its lease has ended: take it over
            return False
        finally:
            mine.unlink(missing_ok=True)

    def claim_alive(self, index: int | str) -> bool:
        """Whether someone's lease on chunk ``index`` stands (the Ray driver waits for those)."""
        claim = self._claim_path(index)
        try:
            return owner_alive(Owner.parse(claim.read_text()), claim.stat().st_mtime)
        except OSError:
            return False

    def release(self, index: int | str) -> None:
        """Give up this process's claim (never another owner's: a claim taken over after this
        process's lease expired belongs to the new owner)."""
        claim = self._claim_path(index)
        HEARTBEAT.drop(claim)
        try:
            if Owner.parse(claim.read_text()) == Owner.me():
                claim.unlink(missing_ok=True)
        except OSError:
            pass

    def commit(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        """Write chunk ``index`` atomically: ``frames`` and their ``embeddings``, optionally
        ``token_frames``/``tokens`` and ``clips``/``clip_embeddings``."""
        path = self._chunk(index)
        temporary = temporary_name(path)
        try:
            with h5py.File(temporary, "w") as handle:
                for name, array in arrays.items():
                    handle.create_dataset(name, data=array)
                handle.flush()
                os.fsync(handle.id.get_vfd_handle())
            if self.store.fault_hook is not None:
                self.store.fault_hook(f"chunk {index} written")
            os.replace(temporary, path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise EthoprismError(
                f"cannot write to the store ({os_reason(exc)}); the chunks written before are kept", path
            ) from exc
        self.release(index)
        if self.store.fault_hook is not None:
            self.store.fault_hook(f"chunk {index} committed")

    def finish(self, timestamps: np.ndarray, plan=None) -> StoreEntry:
        """Stream every chunk into the entry's file; ``plan`` adds the clips' frames and each
        frame's clip (video-text backbones, whose clip embeddings text search reads)."""
        n_frames = self.provenance.video.n_frames
        token_step = self.provenance.token_step
        provenance, basis = self.provenance, None
        if provenance.token_dim:
            basis = self._token_basis()
            provenance = replace(provenance, token_basis=basis.digest)
        temporary = temporary_name(self.target)
        try:
            with h5py.File(temporary, "w") as out:
                out.create_dataset("timestamps", data=np.asarray(timestamps, np.float64))
                written = np.zeros(n_frames, bool)
                for index in range(len(self.chunks)):
                    with h5py.File(self._chunk(index), "r") as chunk:
                        frames = chunk["frames"][()]
                        embeddings = chunk["embeddings"][()]
                        if "embeddings" not in out:
                            out.create_dataset(
                                "embeddings",
                                (n_frames, embeddings.shape[1]),
                                np.float32,
                                chunks=(min(n_frames, 4096), embeddings.shape[1]),
                            )
                        out["embeddings"][frames[0] : frames[-1] + 1] = _rows(embeddings, frames)
                        written[frames] = True
                        if "tokens" in chunk and len(chunk["token_frames"]):
                            tokens = chunk["tokens"][()]
                            positions = chunk["token_frames"][()] // token_step
                            if "tokens" not in out:
                                n_maps = len(range(0, n_frames, token_step))
                                out.create_dataset(
                                    "tokens",
                                    (n_maps, *tokens.shape[1:]),
                                    np.float16,
                                    chunks=(1, *tokens.shape[1:]),
                                    compression="lzf",
                                )
                            out["tokens"][positions[0] : positions[-1] + 1] = _rows(tokens, positions)
                        if "grid_tokens" in chunk:
                            grids = chunk["grid_tokens"][()]
                            if basis is not None:
                                grids = basis.project(grids)
                            if "grid_tokens" not in out:
                                out.create_dataset(
                                    "grid_tokens",
                                    (n_frames, *grids.shape[1:]),
                                    np.float16,
                                    chunks=(min(n_frames, 64), *grids.shape[1:]),
                                )
                            out["grid_tokens"][frames[0] : frames[-1] + 1] = _rows(grids, frames)
                        if "clip_embeddings" in chunk:
                            clips, vectors = chunk["clips"][()], chunk["clip_embeddings"][()]
                            if "clip_embeddings" not in out:
                                out.create_dataset(
                                    "clip_embeddings", (plan.n_clips, vectors.shape[1]), np.float32
                                )
                            out["clip_embeddings"][clips[0] : clips[-1] + 1] = _rows(vectors, clips)
                if not written.all():
                    raise EthoprismError(
                        f"chunks cover {int(written.sum())} of {n_frames} frames", self.folder
                    )
                if provenance.tracks is not None:
                    self._write_animals(out)
                if token_step:
                    out.create_dataset(
                        "token_frames", data=np.arange(0, n_frames, token_step, dtype=np.int64)
                    )
                if "clip_embeddings" in out:
                    out.create_dataset("clip_frames", data=plan.clip_frames)
                    out.create_dataset("frame_clip", data=plan.source_clip)
                out.attrs["provenance"] = json.dumps(provenance.to_dict())
                out.attrs["complete"] = True
                out.flush()
                os.fsync(out.id.get_vfd_handle())
            if self.store.fault_hook is not None:
                self.store.fault_hook("temporary-written")
            os.replace(temporary, self.target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise EthoprismError(
                f"cannot write to the store ({os_reason(exc)}); the chunks written before are kept",
                self.target,
            ) from exc
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        shutil.rmtree(self.folder, ignore_errors=True)
        return StoreEntry(self.target, provenance)

    def _write_animals(self, out) -> None:
        """The per-animal rows of every chunk into the entry, streamed chunk by chunk (memory stays
        one chunk's rows however long the video). Chunks hold disjoint frames in video order, so
        rows sorted within each chunk are sorted by (frame, animal) overall."""
        sizes = []
        for index in range(len(self.chunks)):
            with h5py.File(self._chunk(index), "r") as chunk:
                if "animal_embeddings" not in chunk:
                    raise EthoprismError("a chunk lacks its animals' embeddings", self._chunk(index))
                sizes.append(chunk["animal_embeddings"].shape)
        total, width = sum(n for n, _ in sizes), sizes[0][1]
        out.create_dataset("animal_frames", (total,), np.int64)
        out.create_dataset("animal_ids", (total,), np.int64)
        out.create_dataset("animal_boxes", (total, 4), np.float32)
        out.create_dataset(
            "animal_embeddings", (total, width), np.float32, chunks=(min(max(total, 1), 4096), width)
        )
        offset, last = 0, -1
        for index, (n, _) in enumerate(sizes):
            if not n:
                continue
            with h5py.File(self._chunk(index), "r") as chunk:
                frames, animals = chunk["animal_frames"][()], chunk["animal_ids"][()]
                order = np.lexsort((animals, frames))
                if frames[order[0]] <= last:
                    raise EthoprismError("chunks hold per-animal rows out of frame order", self._chunk(index))
                last = int(frames[order[-1]])
                rows = slice(offset, offset + n)
                out["animal_frames"][rows] = frames[order]
                out["animal_ids"][rows] = animals[order]
                out["animal_boxes"][rows] = chunk["animal_boxes"][()][order]
                out["animal_embeddings"][rows] = chunk["animal_embeddings"][()][order]
            offset += n

    def _token_basis(self) -> TokenBasis:
        """The store's PCA basis for these grids; fitted on this video's grids (a sample of evenly
        spread frames, read chunk by chunk) if it is the first."""

        def read_frames(rows: np.ndarray) -> np.ndarray:
            parts = []
            for index in range(len(self.chunks)):
                with h5py.File(self._chunk(index), "r") as chunk:
                    frames = chunk["frames"][()]
                    inside = rows[(rows >= frames[0]) & (rows <= frames[-1])]
                    if len(inside) and "grid_tokens" in chunk:
                        parts.append(chunk["grid_tokens"][inside - frames[0]])
            if not parts:
                raise EthoprismError(
                    "the chunks hold no token grids to fit the --token-dim basis on", self.folder
                )
            return np.concatenate(parts)

        return store_basis(self.store.root, self.provenance, read_frames, self.folder)


def _chunk_problem(path: Path) -> str | None:
    """What is wrong with a committed chunk file, or None if it reads whole."""
    try:
        with h5py.File(path, "r") as chunk:
            for name in ("frames", "embeddings"):
                if name not in chunk:
                    return f"no '{name}' dataset"
            frames, embeddings = chunk["frames"], chunk["embeddings"]
            if frames.ndim != 1 or embeddings.ndim != 2 or len(frames) != len(embeddings) or not len(frames):
                return "frames and embeddings do not fit each other"
            # the last row of each dataset: a truncated file fails there (reading all of every
            # chunk of a 24 h recording at each resume would cost a whole pass over the data)
            for name in (
                "frames",
                "embeddings",
                "tokens",
                "grid_tokens",
                "clip_embeddings",
                "animal_embeddings",
            ):
                if name in chunk and len(chunk[name]):
                    chunk[name][-1]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable: {str(exc).splitlines()[0][:120]}"
    return None


def _rows(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values`` (one row per ``index``) laid out over the contiguous range of ``index``."""
    if len(index) and index[-1] - index[0] + 1 == len(index) and (np.diff(index) == 1).all():
        return values
    raise ValueError("a chunk's rows must be contiguous")


def _atomic_text(path: Path, text: str) -> None:
    temporary = temporary_name(path)
    temporary.write_text(text)
    os.replace(temporary, path)
