"""Joining stored embeddings with labels: the table every head trains and is evaluated on."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.labels.model import VideoLabels, merge_behaviors
from ethoprism.provenance import Provenance
from ethoprism.store import StoreEntry


@dataclass
class FrameDataset:
    """All frames of the given videos, in video then frame order."""

    X: np.ndarray  # float32 [N, D]
    Y: np.ndarray  # int8 [N, K]; -1 rows are unlabelled
    groups: np.ndarray  # int [N] video index
    frames: np.ndarray  # int [N] frame index within its video
    times: np.ndarray  # float [N] seconds
    videos: list[str]
    behaviors: list[str]
    exclusive: bool
    provenance: (
        Provenance | None
    )  # of the embeddings (all entries share it: EmbeddingStore.select refuses mixtures)
    fps: list[float]
    splits: dict[str, str] = field(default_factory=dict)  # video -> split named by the label file (FERAL)
    grid_X: np.ndarray | None = None  # float16 [N, g*g*D]: each frame's pooled token grid (--token-grid)

    def subset(self, video_indices) -> FrameDataset:
        return self.rows(np.isin(self.groups, list(video_indices)))

    def rows(self, mask: np.ndarray) -> FrameDataset:
        """The frames where ``mask`` is true (keeps video order)."""
        return FrameDataset(
            self.X[mask],
            self.Y[mask],
            self.groups[mask],
            self.frames[mask],
            self.times[mask],
            self.videos,
            self.behaviors,
            self.exclusive,
            self.provenance,
            self.fps,
            self.splits,
            None if self.grid_X is None else self.grid_X[mask],
        )

    def for_head(self, kind: str) -> FrameDataset:
        """The features head ``kind`` reads: pooled frame vectors, or the token grids of
        spatio-temporal heads (the grids then stand in ``X``)."""
        from ethoprism.heads.io import TOKEN_HEADS

        if kind not in TOKEN_HEADS:
            return self
        if self.grid_X is None:
            raise EthoprismError(
                f"the '{kind}' head reads token grids, which this store does not hold: "
                "extract again with --token-grid G (e.g. 4)"
            )
        return replace(self, X=self.grid_X)

    @property
    def token_grid(self) -> int | None:
        return None if self.provenance is None else self.provenance.token_grid

    @property
    def labelled(self) -> np.ndarray:
        return (self.Y >= 0).all(axis=1)


def build_dataset(
    entries: list[StoreEntry],
    labels: list[VideoLabels] | None,
    behaviors: list[str] | None = None,
    require_labels: bool = True,
    grid: bool = False,
) -> FrameDataset:
    """``grid``: also load each frame's pooled token grid (for spatio-temporal heads)."""
    by_name = {label.video: label for label in labels or []}
    unknown = sorted(set(by_name) - {e.video_name for e in entries})
    if unknown and require_labels:
        source = (labels or [None])[0].source if labels else ""
        raise EthoprismError(f"labels name videos that are not in the store: {unknown}", source or None)
    behaviors = behaviors or merge_behaviors(labels or [])
    exclusive = all(label.exclusive for label in labels) if labels else True
    X, Y, groups, frames, times, videos, fps, grids = [], [], [], [], [], [], [], []
    used = [e for e in entries if e.video_name in by_name] if (labels and require_labels) else entries
    if not used:
        raise EthoprismError("no stored video has labels")
    for index, entry in enumerate(used):
        embeddings = entry.embeddings()
        n = len(embeddings)
        if X and embeddings.ndim == 2 and embeddings.shape[1] != X[0].shape[1]:
            raise EthoprismError(
                f"holds {embeddings.shape[1]}-dimensional embeddings where {used[0].video_name} holds "
                f"{X[0].shape[1]}: extract this video again with the others' backbone",
                entry.path,
            )
        if (
            grid
            and grids
            and (tokens := entry.grid_tokens()) is not None
            and tokens[0].size != grids[0].shape[1]
        ):
            raise EthoprismError(
                f"holds token grids of another shape {tokens.shape[1:]} than {used[0].video_name}'s: extract "
                "this video again with the others' --token-grid/--token-dim",
                entry.path,
            )
        if entry.video_name in by_name:
            label = by_name[entry.video_name]
            label.check_against_video(n, entry.fps)
            targets = label.reorder(behaviors).targets if label.behaviors != behaviors else label.targets
        else:
            targets = np.full((n, len(behaviors)), -1, np.int8)
        X.append(embeddings)
        if grid:
            tokens = entry.grid_tokens()
            if tokens is None:
                raise EthoprismError(
                    "this entry holds no token grids: extract again with --token-grid G (e.g. 4)", entry.path
                )
            if grids and tokens[0].size != grids[0].shape[1]:
                raise EthoprismError(
                    f"holds token grids of another shape {tokens.shape[1:]} than {used[0].video_name}'s: "
                    "extract this video again with the others' --token-grid/--token-dim",
                    entry.path,
                )
            grids.append(tokens.reshape(n, -1))
        Y.append(targets)
        groups.append(np.full(n, index))
        frames.append(np.arange(n))
        times.append(entry.timestamps())
        videos.append(entry.video_name)
        fps.append(entry.fps)
    if labels and require_labels:
        present = np.concatenate(Y).max(axis=0) if len(behaviors) else np.array([])
        absent = [b for b, p in zip(behaviors, present) if p < 1]
        if absent:
            raise EthoprismError(
                f"behaviour(s) {absent} are never present in the labelled frames: a head cannot learn "
                "them; label some frames or leave them out",
                labels[0].source or None,
            )
    splits = {name: label.extra["split"] for name, label in by_name.items() if "split" in label.extra}
    return FrameDataset(
        np.concatenate(X).astype(np.float32),
        np.concatenate(Y),
        np.concatenate(groups),
        np.concatenate(frames),
        np.concatenate(times),
        videos,
        list(behaviors),
        exclusive,
        used[0].provenance,
        fps,
        splits,
        np.concatenate(grids) if grid else None,
    )


def video_frame_info(entries: list[StoreEntry]) -> dict[str, dict]:
    return {
        e.video_name: {
            "n_frames": e.n_frames,
            "fps": e.fps,
            "timestamps": e.timestamps(),
            "path": e.video_path,
        }
        for e in entries
    }
