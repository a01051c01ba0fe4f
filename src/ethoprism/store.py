"""Stage 4: the embedding store — per (video, backbone, clip spec) one HDF5 file.

Why HDF5: one self-describing file per entry makes writes atomic (write ``*.tmp-<host>-<pid>``, fsync,
``os.replace``), so an interrupted run, even ``kill -9``, leaves either a finished file or an
ignored temporary, never a half-written entry that looks complete; and labs open HDF5 directly
from MATLAB, R, Julia or h5py without ethoprism. (A Zarr directory store would need a
directory rename and many small files per entry for the same guarantee.)

Layout::

    STORE/<video-stem>__<sha12>/<backbone>__<spec-key>.h5
        embeddings  float32 [n_frames, D]     spatially pooled per-frame embedding
        timestamps  float64 [n_frames]        seconds from the first frame
        tokens      float16 [k, h, w, D]      optional spatial token maps ...
        token_frames int64  [k]               ... for these frames
        grid_tokens float16 [n_frames, g, g, D or K]  optional (--token-grid): every frame's token
                                              map pooled to g x g, PCA-reduced to K (--token-dim)
        clip_embeddings float32 [n_clips, D]  video-text models: joint-space embedding per clip,
        clip_frames, frame_clip               the clips' frames and each frame's clip
        attrs["provenance"]  JSON: package version, backbone, weights (id, revision, sha256),
                             dtype, clip spec, video path/sha256/fps/n_frames/size
    STORE/token_bases/*.npz                   PCA bases of --token-dim (ethoprism.token_basis)
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np

from ethoprism.errors import EthoprismError, os_reason
from ethoprism.leases import HEARTBEAT, Owner, owner_alive, temporary_is_debris, temporary_name
from ethoprism.provenance import Provenance, file_name_part
from ethoprism.token_basis import TokenBasis, basis_path, load_basis, store_basis

SUFFIX = ".h5"
PARTS = ".parts"


@dataclass
class StoreEntry:
    path: Path
    provenance: Provenance

    @property
    def video_name(self) -> str:
        return Path(self.provenance.video.path).name

    @property
    def video_path(self) -> Path:
        return Path(self.provenance.video.path)

    @property
    def video_sha256(self) -> str:
        return self.provenance.video.sha256

    @property
    def backbone(self) -> str:
        return self.provenance.backbone

    @property
    def n_frames(self) -> int:
        return self.provenance.video.n_frames

    @property
    def fps(self) -> float:
        return self.provenance.video.fps

    @property
    def size(self) -> tuple[int, int]:
        """The video's (width, height) in pixels."""
        return self.provenance.video.width, self.provenance.video.height

    def _read(self, name: str):
        with h5py.File(self.path, "r") as handle:
            return handle[name][()] if name in handle else None

    def embeddings(self) -> np.ndarray:
        """``[n_frames, D]`` float32; an entry whose array disagrees with its provenance (rows
        other than the video's frames, NaN or infinite values) is refused, never half-used."""
        embeddings = self._read("embeddings")
        self._check_shape(None if embeddings is None else embeddings.shape)
        self._check_finite(embeddings, 0)
        return embeddings

    def embedding_blocks(self, block: int = 65536):
        """``(first frame, [rows, D])`` blocks in frame order: memory stays one block however long
        the video (a 24 h recording's embeddings do not fit in RAM); checked as :meth:`embeddings`."""
        with h5py.File(self.path, "r") as handle:
            dataset = handle["embeddings"] if "embeddings" in handle else None
            self._check_shape(None if dataset is None else dataset.shape)
            for start in range(0, self.n_frames, block):
                rows = dataset[start : start + block]
                self._check_finite(rows, start)
                yield start, rows

    def _check_shape(self, shape) -> None:
        if shape is None or len(shape) != 2 or shape[0] != self.n_frames:
            raise EthoprismError(
                f"stored embeddings {shape} do not cover the video's {self.n_frames} frames: "
                "delete this entry and extract again",
                self.path,
            )

    def _check_finite(self, rows: np.ndarray, first: int) -> None:
        if not np.isfinite(rows).all():
            bad = first + int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
            raise EthoprismError(
                f"stored embeddings hold NaN or infinite values (frame {bad}): delete this entry "
                "and extract again",
                self.path,
            )

    def timestamps(self) -> np.ndarray:
        return self._read("timestamps")

    def clip_embeddings(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Video-text embeddings per clip ``[n_clips, D]`` and each frame's clip (LvT backbones only)."""
        clips = self._read("clip_embeddings")
        return None if clips is None else (clips, self._read("frame_clip"))

    @property
    def animals(self) -> list[str]:
        """The animals of the video's tracks (empty for an entry extracted without tracks)."""
        tracks = self.provenance.tracks
        return list(tracks.get("animals", [])) if tracks else []

    def animal_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(frame, animal index) of every per-animal embedding row, sorted; None without tracks."""
        frames = self._read("animal_frames")
        return None if frames is None else (frames, self._read("animal_ids"))

    def animal_boxes(self) -> np.ndarray | None:
        """float32 ``[rows, 4]``: each row's box (x0, y0, x1, y1, pixels of the original frame)."""
        return self._read("animal_boxes")

    def animal_embeddings(self) -> np.ndarray | None:
        """float32 ``[rows, D]``: each animal's box pooled from its frame's token map."""
        return self._read("animal_embeddings")

    def token_frames(self) -> np.ndarray | None:
        """The frames that have spatial token maps (without reading the maps)."""
        return self._read("token_frames")

    def tokens(self) -> tuple[np.ndarray, np.ndarray] | None:
        tokens = self._read("tokens")
        return None if tokens is None else (tokens, self._read("token_frames"))

    def grid_tokens(self, frames: np.ndarray | None = None) -> np.ndarray | None:
        """Every frame's token map pooled to g x g: fp16 ``[n_frames, g, g, D]`` (``--token-grid``),
        or only the rows ``frames`` (sorted), read without loading the rest."""
        with h5py.File(self.path, "r") as handle:
            if "grid_tokens" not in handle:
                return None
            grids = handle["grid_tokens"]
            if len(grids) != self.n_frames:
                raise EthoprismError(
                    f"stored grid tokens cover {len(grids)} of {self.n_frames} frames: delete this entry "
                    "and extract again",
                    self.path,
                )
            return grids[()] if frames is None else grids[np.asarray(frames)]


def animal_mode(provenance: Provenance) -> str | None:
    """How an entry's per-animal embeddings were made (None: no tracks)."""
    return provenance.tracks.get("mode", "pooled") if provenance.tracks else None


@dataclass(frozen=True)
class EntryFilter:
    """Which entries of a store to use: a backbone and optionally its weights (hub id, local path,
    or a sha256 prefix of 8+ characters), dtype and the PCA width of its token grids
    (``--token-dim``)."""

    backbone: str | None = None
    weights: str | None = None
    dtype: str | None = None
    token_dim: int | None = None
    animal_mode: str | None = None  # per-animal embeddings made this way (ethoprism.tracks.ANIMAL_MODES)

    def accepts(self, provenance: Provenance) -> bool:
        if self.token_dim is not None and provenance.token_dim != self.token_dim:
            return False
        if self.animal_mode is not None and provenance.tracks and animal_mode(provenance) != self.animal_mode:
            return False
        if self.dtype is not None and provenance.dtype not in (
            self.dtype,
            {"fp32": "float32", "bf16": "bfloat16"}.get(self.dtype),
        ):
            return False
        if self.weights is None:
            return True
        info = provenance.weights
        given = {self.weights, str(Path(self.weights).expanduser().resolve())}
        return info.model_id in given or (
            len(self.weights) >= 8 and (info.sha256 or "").startswith(self.weights)
        )

    def describe(self) -> str:
        parts = [
            f"weights {self.weights}" if self.weights else "",
            f"dtype {self.dtype}" if self.dtype else "",
            f"token grids reduced to {self.token_dim} dimensions" if self.token_dim else "",
            f"{self.animal_mode} animal embeddings" if self.animal_mode else "",
        ]
        return "".join(f" with {p}" for p in parts if p)


class EmbeddingStore:
    # Fault injection for tests: called with the name of each step of a write ("temporary-written":
    # the entry is complete in its temporary file, not yet renamed), so a test can kill the process
    # exactly there instead of hoping a sleep lands inside the write.
    fault_hook = None

    def __init__(self, root: str | Path):
        # s3://, gs://, ... (a Path collapses the "//"): without this check the URL would become a
        # local folder named "s3:" and the work would silently stay on this machine
        url = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)", str(root))
        if url:
            raise EthoprismError(
                "object-store URLs are not supported as a store: it needs a POSIX file system (atomic "
                "renames, exclusive creates). Use a folder on a shared file system every worker mounts "
                "(NFS, Lustre, EFS, Filestore, FSx), or a local folder copied to the bucket afterwards",
                f"{url[1]}://{url[2]}",
            )
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise EthoprismError("store path exists and is not a directory", self.root)
        self.notes: list[str] = []  # what the store repaired on its own (damaged chunks), to tell

    def entry_path(self, provenance: Provenance) -> Path:
        """One file per whole provenance: entries that differ in weights, dtype or token maps
        coexist instead of replacing each other."""
        video = provenance.video
        folder = f"{file_name_part(Path(video.path).stem)}__{video.sha256[:12]}"
        name = f"{file_name_part(provenance.backbone)}__{provenance.clip_spec.key}__{provenance.variant}"
        return self.root / folder / f"{name}{SUFFIX}"

    def entries(self) -> list[StoreEntry]:
        """Every finished entry. Entries are committed by a rename, so a ``*.h5`` that cannot be
        read is damage (a truncated copy, a bad disk), never work in progress: it is refused with
        its name rather than skipped, which would silently drop a video from training."""
        if self.root.exists() and not self.root.is_dir():
            raise EthoprismError("store path is not a folder", self.root)
        found = []
        for path in sorted(self.root.glob(f"*/*{SUFFIX}")):
            entry = self.open(path)
            if entry is None:
                raise EthoprismError(
                    "damaged store entry (unreadable or not marked complete): delete it and extract "
                    "its video again",
                    path,
                )
            found.append(entry)
        return found

    @staticmethod
    def open(path: Path) -> StoreEntry | None:
        """An entry if the file is complete and readable, else None (never raises on debris)."""
        try:
            with h5py.File(path, "r") as handle:
                if not handle.attrs.get("complete", False):
                    return None
                return StoreEntry(path, Provenance.from_dict(json.loads(handle.attrs["provenance"]), path))
        except (OSError, KeyError, ValueError, EthoprismError):
            return None

    def select(self, backbone: str | EntryFilter | None = None, needs: str = "grids") -> list[StoreEntry]:
        """The entries a head or an index works on: one backbone (``backbone`` or the only one),
        all made alike (weights, dtype, clip spec) — a mixture is refused, never trained on
        silently; an :class:`EntryFilter` picks one kind by ``--weights``/``--dtype``. Of several
        entries of one video that differ only in token maps, the one the command ``needs`` stands:
        ``"grids"`` (behaviour heads: token grids, then the densest maps) or ``"maps"``
        (localisation: the densest spatial maps, then grids)."""
        if needs not in ("grids", "maps"):
            raise ValueError(f"needs must be 'grids' or 'maps', not {needs!r}")
        wanted = backbone if isinstance(backbone, EntryFilter) else EntryFilter(backbone)
        entries = self.entries()
        if not entries:
            raise EthoprismError("store holds no embeddings (run `ethoprism extract` first)", self.root)
        backbone = wanted.backbone
        if backbone is None:
            backbones = sorted({e.backbone for e in entries})
            if len(backbones) > 1:
                raise EthoprismError(f"store holds several backbones {backbones}: pass --backbone", self.root)
            backbone = backbones[0]
        chosen = [e for e in entries if e.backbone == backbone and wanted.accepts(e.provenance)]
        if not chosen:
            raise EthoprismError(
                f"store holds no embeddings from backbone '{backbone}'{wanted.describe()}", self.root
            )
        kinds = {}
        for entry in chosen:
            kinds.setdefault(entry.provenance.embedding_key, []).append(entry)
        if len(kinds) > 1:
            described = "; ".join(
                f"{group[0].provenance.describe()} ({len(group)} videos)" for group in kinds.values()
            )
            raise EthoprismError(
                f"store holds {backbone} embeddings made differently, which cannot be used together: "
                f"{described}. Pick one with --weights (model id, path or sha256 prefix) and/or --dtype",
                self.root,
            )

        def richness(entry):  # token grids first (they serve every head), whole grids before
            # PCA-reduced ones (--token-dim picks those), then the densest maps; for localisation
            # the maps first
            p = entry.provenance
            grids = (p.token_grid is not None, p.token_dim is None)
            maps = (p.token_step is not None, -(p.token_step or 10**9))
            # the same frame embeddings, and each animal's too; pooled (the default) before crops
            animals = (p.tracks is not None, p.tracks is not None and animal_mode(p) == "pooled")
            return (*maps, *animals, *grids) if needs == "maps" else (*animals, *grids, *maps)

        densest = {}
        for entry in chosen:
            best = densest.get(entry.video_sha256)
            if best is None or richness(entry) > richness(best):
                densest[entry.video_sha256] = entry
        chosen = [e for e in chosen if densest[e.video_sha256] is e]
        bases = sorted({e.provenance.token_basis for e in chosen if e.provenance.token_dim})
        if len(bases) > 1:
            raise EthoprismError(
                f"store holds token grids reduced with different PCA bases {bases} (the basis was "
                "refitted after some videos): extract those videos again so they share one basis",
                self.root,
            )
        names = [e.video_name for e in chosen]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise EthoprismError(
                f"several stored videos share the names {duplicates}; rename them", self.root
            )
        return chosen

    def find(self, provenance: Provenance) -> StoreEntry | None:
        entry = self.open(self.entry_path(provenance))
        if entry is None or entry.provenance.cache_key != provenance.cache_key:
            return None
        if provenance.token_dim:  # reduced with a basis the store no longer holds: make it again
            basis = load_basis(basis_path(self.root, provenance))
            if basis is None or basis.digest != entry.provenance.token_basis:
                return None
        return entry

    def reduced_copy(self, entry: StoreEntry, token_dim: int) -> StoreEntry:
        """``entry`` with its whole token grids reduced to ``token_dim`` dimensions by the store's
        basis, as a new entry beside it: ``--token-dim`` on a video whose whole grids are stored
        costs a projection, not another backbone run. Streamed, so memory stays bounded."""
        provenance = replace(entry.provenance, token_dim=token_dim, token_basis=None)
        basis = store_basis(self.root, provenance, lambda rows: entry.grid_tokens(rows), entry.path)
        provenance = replace(provenance, token_basis=basis.digest)
        target = self.entry_path(provenance)
        temporary = temporary_name(target)
        try:
            with h5py.File(entry.path, "r") as source, h5py.File(temporary, "w") as out:
                for name in source:
                    if name != "grid_tokens":
                        source.copy(source[name], out, name)
                grids = source["grid_tokens"]
                n_frames, grid = len(grids), grids.shape[1]
                reduced = out.create_dataset(
                    "grid_tokens",
                    (n_frames, grid, grid, token_dim),
                    np.float16,
                    chunks=(min(n_frames, 64), grid, grid, token_dim),
                )
                for start in range(0, n_frames, 2048):
                    reduced[start : start + 2048] = basis.project(grids[start : start + 2048])
                out.attrs["provenance"] = json.dumps(provenance.to_dict())
                out.attrs["complete"] = True
                out.flush()
                os.fsync(out.id.get_vfd_handle())
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise EthoprismError(f"cannot write to the store ({os_reason(exc)})", target) from exc
        return StoreEntry(target, provenance)

    def partial(self, provenance: Provenance, chunks: list[tuple[int, int]], batch_size: int) -> PartialEntry:
        """The entry being written in chunks (created, or resumed with the chunking it began with)."""
        return PartialEntry(self, provenance, chunks, batch_size)

    def partials(self) -> list[PartialEntry]:
        """Entries begun and not finished (an interrupted or running extraction)."""
        found = []
        for manifest in sorted(self.root.glob(f"*/*{PARTS}/manifest.json")):
            try:
                data = json.loads(manifest.read_text())
                provenance = Provenance.from_dict(data["provenance"], manifest)
                found.append(
                    PartialEntry(self, provenance, [tuple(c) for c in data["chunks"]], data["batch_size"])
                )
            except (OSError, ValueError, KeyError, TypeError, EthoprismError):
                continue
        return found

    def remove_debris(self) -> list[Path]:
        """Delete temporaries nobody is writing (:func:`~ethoprism.leases.temporary_is_debris`: this
        host's whose process is gone, any host's older than a lease); committed chunks of
        unfinished entries are kept: they are what a re-run resumes from."""
        removed = []
        for path in [*self.root.glob(f"*/*{SUFFIX}.tmp-*"), *self.root.glob(f"*/*{PARTS}/*.tmp-*")]:
            if temporary_is_debris(path):
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed


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
