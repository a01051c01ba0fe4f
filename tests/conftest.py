import os
from pathlib import Path

# The hub is unreachable here; without this every miss waits ~30 s on retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

# Whatever terminal runs the suite, the CLI sees the same console: 80 columns, no forced colour
# or terminal. The CLI itself must not wrap when piped (tests run it in a subprocess for that).
os.environ["COLUMNS"] = "80"
for _variable in ("LINES", "FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
    os.environ.pop(_variable, None)

# ONNX exports (ethoprism.backbones.onnx_runtime) go to a cache of this run, never the user's
if "ETHOPRISM_CACHE" not in os.environ:
    import tempfile

    os.environ["ETHOPRISM_CACHE"] = tempfile.mkdtemp(prefix="ethoprism-test-cache-")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
OPENFIELD = SHARED_DATA / "dlc_openfield_mouse" / "m3v1mp4.mp4"
BSOID = SHARED_DATA / "bsoid_mouse_behavior_clips"
FLY_CLIP = SHARED_DATA / "sleap_fly_videos" / "clip.mp4"

TINY_CONFIGS = {
    "videoprism-b": dict(
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=2,
        num_spatial_layers=2,
        num_temporal_layers=1,
        num_frames=4,
        image_size=36,
    ),
    "videoprism-l": dict(
        hidden_size=48,
        intermediate_size=96,
        num_attention_heads=4,
        num_spatial_layers=2,
        num_temporal_layers=2,
        num_frames=2,
        image_size=36,
    ),
    "vjepa2-l": dict(
        hidden_size=32,
        num_attention_heads=2,
        num_hidden_layers=2,
        crop_size=32,
        patch_size=16,
        frames_per_clip=4,
        pred_hidden_size=16,
        pred_num_hidden_layers=1,
        pred_num_attention_heads=2,
        num_pooler_layers=1,
    ),
    "clip-b16": dict(
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=2,
        num_hidden_layers=2,
        image_size=32,
        patch_size=16,
    ),
}


def needs_shared(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"shared data missing: {path}")


def write_video(path, n_frames=20, height=48, width=64, fps=25.0, pix_fmt="yuv420p", seed=0, pts=None):
    from ethoprism.video import VideoWriter

    rng = np.random.default_rng(seed)
    with VideoWriter(path, fps=fps, pix_fmt=pix_fmt) as writer:
        for i in range(n_frames):
            frame = np.zeros((height, width, 3), np.uint8)
            frame[...] = (i * 11) % 255  # a changing level so frames differ
            frame[: height // 2, : width // 2] = rng.integers(0, 255, 3)
            writer.write(frame, None if pts is None else pts[i])
    return Path(path)


@pytest.fixture
def small_video(tmp_path):
    return write_video(tmp_path / "small.mp4")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory):
    """4 small synthetic videos embedded with the offline default backbone at 64 px."""
    from ethoprism.backbones import load_backbone
    from ethoprism.clips import ClipSpec
    from ethoprism.extract import extract_video
    from ethoprism.store import EmbeddingStore
    from ethoprism.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("synthetic")
    videos = generate(
        root / "data", SyntheticConfig(n_videos=4, n_frames=150, size=96, seed=3, rare_videos=0.5)
    )
    backbone = load_backbone("effnet-lite0")
    store = EmbeddingStore(root / "store")
    for video in videos:
        extract_video(video.path, backbone, store, ClipSpec(frames=16, size=96, overlap=0), token_step=5)
    return {"root": root, "store": root / "store", "labels": root / "data" / "labels.csv", "videos": videos}


def cut(source, out, n_frames, pix_fmt="yuv420p"):
    """The first ``n_frames`` of ``source`` written to ``out`` (a short real video for a quick test)."""
    from ethoprism.video import VideoReader, VideoWriter

    with VideoWriter(out, fps=VideoReader(source).metadata.fps, pix_fmt=pix_fmt) as writer:
        for index, frame in enumerate(VideoReader(source).iter_frames()):
            if index >= n_frames:
                break
            writer.write(frame)
    return out


def fly_parts_with_tracks(work: Path, parts: int, size: int) -> dict:
    """Parts of 48 frames of the real two-fly clip (from frame 1100), their tracks and per-fly
    labels (benchmarks/animals.py), extracted with the tracks into ``work/store``."""
    import sys

    from typer.testing import CliRunner

    from ethoprism.cli import app

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from animals import make_fly_parts

    made = make_fly_parts(work, first=1100, parts=parts, frames_per_part=48)
    store = work / "store"
    videos = [str(v) for v in made["videos"]]
    options = ["--size", str(size), "--frames", "16", "--tracks", str(made["tracks"])]
    result = CliRunner().invoke(app, ["extract", *videos, "--store", str(store), *options])
    assert result.exit_code == 0, result.output
    return {**made, "store": store, "work": work}
