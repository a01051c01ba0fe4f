"""What discovery runs along: one sequence per video (its frames' embeddings) or, in a store with
animal tracks, one per animal per video (that animal's pooled embeddings on the frames it is
present). Rows are read in blocks, so a 24 h recording never sits in memory whole."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import h5py
import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.store import StoreEntry


@dataclass
class MotifSequence:
    entry: StoreEntry
    animal: str | None = None  # None: the whole frame
    frames: np.ndarray | None = None  # per-animal rows: the frames they stand for
    rows: np.ndarray | None = None  # per-animal rows: their positions in the entry's animal arrays

    @property
    def video(self) -> str:
        return self.entry.video_name

    @property
    def name(self) -> str:
        return self.video if self.animal is None else f"{self.video} [{self.animal}]"

    def __len__(self) -> int:
        return self.entry.n_frames if self.frames is None else len(self.frames)

    def frame_numbers(self) -> np.ndarray:
        return np.arange(self.entry.n_frames) if self.frames is None else self.frames

    def read(self, start: int, stop: int) -> np.ndarray:
        """float32 rows ``start:stop`` of this sequence (NaN or infinite values refused)."""
        with h5py.File(self.entry.path, "r") as handle:
            if self.animal is None:
                values = handle["embeddings"][start:stop]
            else:
                positions = self.rows[start:stop]
                values = handle["animal_embeddings"][positions[0] : positions[-1] + 1][
                    positions - positions[0]
                ]
        values = np.asarray(values, np.float32)
        if not np.isfinite(values).all():
            bad = start + int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
            raise EthoprismError(
                f"stored embeddings hold NaN or infinite values (row {bad} of {self.name}): delete this "
                "entry and extract again",
                self.entry.path,
            )
        return values

    def read_rows(self, rows: np.ndarray, block: int = 65536) -> np.ndarray:
        """float32 rows at the sorted positions ``rows``, read block by block (memory: the rows
        asked for and one block, however long the sequence)."""
        parts = []
        for start, stop in self.blocks(block):
            mine = rows[(rows >= start) & (rows < stop)]
            if len(mine):
                parts.append(self.read(start, stop)[mine - start])
        return np.concatenate(parts) if parts else np.zeros((0, self.read(0, 1).shape[1]), np.float32)

    def blocks(self, block: int) -> Iterator[tuple[int, int]]:
        for start in range(0, len(self), block):
            yield start, min(len(self), start + block)


def sequences_of(entries: list[StoreEntry], per_animal: bool | None = None) -> list[MotifSequence]:
    """Every video's sequence, or (``per_animal``; default: when the store has tracks) every
    animal's in every video. Each entry's embeddings are checked to cover its video first."""
    tracked = any(e.provenance.tracks for e in entries)
    per_animal = tracked if per_animal is None else per_animal
    if per_animal and not tracked:
        raise EthoprismError(
            "per-animal discovery needs per-animal embeddings: extract with --tracks", entries[0].path
        )
    sequences = []
    for entry in entries:
        with h5py.File(entry.path, "r") as handle:
            shape = handle["embeddings"].shape if "embeddings" in handle else None
        entry._check_shape(shape)
        if not per_animal:
            sequences.append(MotifSequence(entry))
            continue
        rows = entry.animal_rows()
        if rows is None:
            raise EthoprismError(
                "this entry has no per-animal embeddings: extract it with --tracks", entry.path
            )
        frames, ids = rows
        for index, animal in enumerate(entry.animals):
            mine = np.flatnonzero(ids == index)
            if len(mine):
                sequences.append(MotifSequence(entry, animal, frames[mine], mine))
    return sequences
