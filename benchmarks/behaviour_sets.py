"""Labelled sets the motion and token-head benchmarks share (imported by them, not run alone).

* **fly**: the SLEAP fly clip (1500 frames, 25 fps, 1024 px, two flies in a large arena) with
  behaviours derived here from its user-labelled pose (``clip.slp``), which ethoprism never sees:
  ``walk`` (either fly's thorax moves > 0.5 px/frame, 5-frame mean), ``male walk`` (the male
  only: which of the two animals moves), ``apart`` (thoraxes > 130 px apart: a configuration one
  frame shows). Multi-label. Folds: 15 blocks of 100 frames, block ``i`` in fold ``i mod 5``,
  so every fold holds quiet and active stretches.
* **synthetic**: ethoprism's generator (one labelled animal; ``n_animals`` > 1 adds animals that
  walk and rest too), leave-one-video-out.

Stores are cached under ``--work`` so the two benchmarks reuse each other's extractions.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndimage

from ethoprism.backbones import load_backbone
from ethoprism.dataset import FrameDataset, build_dataset
from ethoprism.evaluation.classification import cross_validate
from ethoprism.extract import extract_video
from ethoprism.heads.io import TOKEN_HEADS, make_head
from ethoprism.labels.model import VideoLabels
from ethoprism.store import EmbeddingStore

SHARED = Path(__file__).resolve().parents[2] / "shared/data"
FLY_VIDEO = SHARED / "sleap_fly_videos/clip.mp4"
FLY_POSE = SHARED / "sleap_fly_videos/clip.slp"
FLY_BEHAVIORS = ["walk", "male walk", "apart"]


def fly_labels() -> np.ndarray:
    """int8 ``[1500, 3]`` over :data:`FLY_BEHAVIORS`, from the pose file."""
    import sleap_io

    labels = sleap_io.load_slp(str(FLY_POSE))
    names = labels.skeletons[0].node_names
    points = np.full((1500, 2, len(names), 2), np.nan)
    for frame in labels.labeled_frames:
        for instance in frame.instances:
            points[frame.frame_idx, labels.tracks.index(instance.track)] = instance.numpy()
    thorax = points[:, :, names.index("thorax")]
    step = np.linalg.norm(np.diff(thorax, axis=0, prepend=thorax[:1]), axis=-1)
    speed = ndimage.uniform_filter1d(np.nan_to_num(step), 5, axis=0)
    moving = speed > 0.5
    male = [t.name for t in labels.tracks].index("male")
    apart = np.linalg.norm(thorax[:, 0] - thorax[:, 1], axis=-1) > 130
    return np.stack([moving.any(axis=1), moving[:, male], apart], axis=1).astype(np.int8)


def extract(
    videos,
    backbone_name: str,
    store_dir: Path,
    size: int = 224,
    token_grid: int | None = None,
    token_dim: int | None = None,
):
    """-> (store entries, seconds spent extracting, frames extracted); cached in ``store_dir``."""
    backbone = load_backbone(backbone_name, device="cpu")
    spec = backbone.default_clip_spec("tiled")
    spec = type(spec)(**{**spec.to_dict(), "size": size})
    store = EmbeddingStore(store_dir)
    seconds, frames, entries = 0.0, 0, []
    for video in videos:
        start = time.perf_counter()
        entry, cached = extract_video(
            video, backbone, store, spec, token_grid=token_grid, token_dim=token_dim
        )
        if not cached:
            seconds += time.perf_counter() - start
            frames += entry.n_frames
        entries.append(entry)
    return entries, seconds, frames


def fly_dataset(entries, grid: bool = False) -> FrameDataset:
    (entry,) = entries
    labels = VideoLabels(entry.video_name, FLY_BEHAVIORS, fly_labels(), exclusive=False)
    data = build_dataset([entry], [labels], FLY_BEHAVIORS, grid=grid)
    data.groups = (np.arange(len(data.X)) // 100) % 5  # folds of interleaved 100-frame blocks
    data.videos = [f"fold {i}" for i in range(5)]
    return data


def synthetic_dataset(entries, videos, grid: bool = False) -> FrameDataset:
    return build_dataset(entries, [v.labels for v in videos], grid=grid)


def evaluate_head(kind: str, data: FrameDataset, **params) -> dict:
    """Cross-validated mAP (and per-behaviour AP with its chance level) and the mean fit time."""
    if kind in TOKEN_HEADS:
        params.setdefault("grid", data.token_grid)
    head = make_head(kind, exclusive=data.exclusive, **params)
    start = time.perf_counter()
    result = cross_validate(head, data.for_head(kind), n_splits=None)
    metrics = result["metrics"]
    return {
        "map": metrics["map"],
        "chance_map": metrics["chance_map"],
        "per_class": {b: (v["ap"], v["chance_ap"]) for b, v in metrics["per_class"].items()},
        "seconds_per_fold": (time.perf_counter() - start) / len(metrics["folds"]),
    }
