"""One finished entry of the store: the HDF5 file of one (video, backbone, clip spec, ...) and
the arrays it holds (the file format is described in :mod:`ethoprism.store`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.provenance import Provenance

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

    def animals_on(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(animal indices, boxes) of the rows on ``frame``, found by bisection in the file: a
        handful of reads however long the video (the app asks at every seek)."""
        import bisect

        with h5py.File(self.path, "r") as handle:
            if "animal_frames" not in handle:
                return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
            frames = handle["animal_frames"]
            first = bisect.bisect_left(frames, frame)
            last = bisect.bisect_right(frames, frame, lo=first)
            return handle["animal_ids"][first:last], handle["animal_boxes"][first:last]

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
