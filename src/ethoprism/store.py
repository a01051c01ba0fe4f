"""Stage 4: the embedding store — per (video, backbone, clip spec) one HDF5 file.

Why HDF5: one self-describing file per entry makes writes atomic (write ``*.tmp-<pid>``, fsync,
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
        clip_embeddings float32 [n_clips, D]  video-text models: joint-space embedding per clip,
        clip_frames, frame_clip               the clips' frames and each frame's clip
        attrs["provenance"]  JSON: package version, backbone, weights (id, revision, sha256),
                             dtype, clip spec, video path/sha256/fps/n_frames/size
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.provenance import Provenance

SUFFIX = ".h5"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "video"


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
        return self._read("embeddings")

    def timestamps(self) -> np.ndarray:
        return self._read("timestamps")

    def clip_embeddings(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Video-text embeddings per clip ``[n_clips, D]`` and each frame's clip (LvT backbones only)."""
        clips = self._read("clip_embeddings")
        return None if clips is None else (clips, self._read("frame_clip"))

    def token_frames(self) -> np.ndarray | None:
        """The frames that have spatial token maps (without reading the maps)."""
        return self._read("token_frames")

    def tokens(self) -> tuple[np.ndarray, np.ndarray] | None:
        tokens = self._read("tokens")
        return None if tokens is None else (tokens, self._read("token_frames"))


class EmbeddingStore:
    # Fault injection for tests: called with the name of each step of a write ("temporary-written":
    # the entry is complete in its temporary file, not yet renamed), so a test can kill the process
    # exactly there instead of hoping a sleep lands inside the write.
    fault_hook = None

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise EthoprismError("store path exists and is not a directory", self.root)

    def entry_path(self, provenance: Provenance) -> Path:
        video = provenance.video
        folder = f"{_slug(Path(video.path).stem)}__{video.sha256[:12]}"
        return self.root / folder / f"{_slug(provenance.backbone)}__{provenance.clip_spec.key}{SUFFIX}"

    def entries(self) -> list[StoreEntry]:
        found = []
        for path in sorted(self.root.glob(f"*/*{SUFFIX}")):
            entry = self.open(path)
            if entry is not None:
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

    def select(self, backbone: str | None = None) -> list[StoreEntry]:
        """The entries a head or an index works on: one backbone (``backbone`` or the only one),
        and all of them made alike (weights, dtype, clip spec) — a mixture is refused, never
        trained on silently."""
        entries = self.entries()
        if not entries:
            raise EthoprismError("store holds no embeddings (run `ethoprism extract` first)", self.root)
        if backbone is None:
            backbones = sorted({e.backbone for e in entries})
            if len(backbones) > 1:
                raise EthoprismError(f"store holds several backbones {backbones}: pass --backbone", self.root)
            backbone = backbones[0]
        chosen = [e for e in entries if e.backbone == backbone]
        if not chosen:
            raise EthoprismError(f"store holds no embeddings from backbone '{backbone}'", self.root)
        kinds = {}
        for entry in chosen:
            kinds.setdefault(entry.provenance.embedding_key, []).append(entry)
        if len(kinds) > 1:
            described = "; ".join(
                f"{group[0].provenance.describe()} ({len(group)} videos)" for group in kinds.values()
            )
            raise EthoprismError(
                f"store mixes {backbone} embeddings made differently, which cannot be used together: "
                f"{described}. Keep one kind per store",
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
        if entry is not None and entry.provenance.cache_key == provenance.cache_key:
            return entry
        return None

    def write(
        self,
        provenance: Provenance,
        embeddings: np.ndarray,
        timestamps: np.ndarray,
        tokens: np.ndarray | None = None,
        token_frames: np.ndarray | None = None,
        extra: dict[str, np.ndarray] | None = None,
    ) -> StoreEntry:
        target = self.entry_path(provenance)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        with h5py.File(temporary, "w") as handle:
            handle.create_dataset("embeddings", data=np.asarray(embeddings, np.float32), chunks=True)
            handle.create_dataset("timestamps", data=np.asarray(timestamps, np.float64))
            if tokens is not None:
                handle.create_dataset(
                    "tokens", data=np.asarray(tokens, np.float16), chunks=True, compression="lzf"
                )
                handle.create_dataset("token_frames", data=np.asarray(token_frames, np.int64))
            for name, array in (extra or {}).items():
                handle.create_dataset(name, data=np.asarray(array))
            handle.attrs["provenance"] = json.dumps(provenance.to_dict())
            handle.attrs["complete"] = True
            handle.flush()
            os.fsync(handle.id.get_vfd_handle())
        if self.fault_hook is not None:
            self.fault_hook("temporary-written")
        os.replace(temporary, target)
        return StoreEntry(target, provenance)

    def remove_debris(self) -> list[Path]:
        """Delete temporaries left by interrupted runs whose process is gone."""
        removed = []
        for path in self.root.glob(f"*/*{SUFFIX}.tmp-*"):
            pid = path.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or not _process_alive(int(pid)):
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
