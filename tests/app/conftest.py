import numpy as np
import pytest

from conftest import FLY_CLIP, OPENFIELD, cut, fly_parts_with_tracks
from ethoprism.backbones import load_backbone
from ethoprism.clips import ClipSpec
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore


@pytest.fixture(scope="module")
def app_store(tmp_path_factory):
    """Two real videos cut short: the fly clip as H.264 yuv420p (browsers play it) and the
    open-field mouse as yuv444p (they do not: the app makes a proxy)."""
    if not (FLY_CLIP.exists() and OPENFIELD.exists()):
        pytest.skip("shared videos missing")
    root = tmp_path_factory.mktemp("app")
    videos = [
        cut(FLY_CLIP, root / "fly.mp4", 90, "yuv420p"),
        cut(OPENFIELD, root / "mouse.mp4", 90, "yuv444p"),
    ]
    backbone = load_backbone("effnet-lite0")
    store = EmbeddingStore(root / "store")
    for video in videos:
        extract_video(video, backbone, store, ClipSpec(frames=16, size=64, overlap=0))
    return root / "store"


def bouts_for_two_videos():
    rng = np.random.default_rng(0)
    bouts = []
    for video in ("fly.mp4", "mouse.mp4"):
        for start in range(0, 90, 30):
            behaviour = ["walk", "rest"][int(rng.integers(0, 2))] if start else "walk"
            bouts.append(
                {"video": video, "behavior": behaviour, "start_frame": start, "end_frame": start + 14}
            )
            bouts.append(
                {"video": video, "behavior": "rest", "start_frame": start + 15, "end_frame": start + 29}
            )
    return {"behaviors": ["walk", "rest"], "bouts": bouts}


@pytest.fixture(scope="module")
def app_motifs(app_store):
    """Two motifs discovered in the app's store (``ethoprism discover``)."""
    from typer.testing import CliRunner

    from ethoprism.cli import app

    out = app_store.parent / "motifs"
    if not (out / "model.json").exists():
        result = CliRunner().invoke(
            app, ["discover", str(app_store), "--out", str(out), "--motifs", "2", "--no-movies"]
        )
        assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def animal_store(tmp_path_factory):
    """Two parts of the fly clip extracted with the SLEAP tracks (animals female and male), and
    per-fly labels derived from each fly's pose (benchmarks/animals.py)."""
    if not FLY_CLIP.exists():
        pytest.skip("shared videos missing")
    return fly_parts_with_tracks(tmp_path_factory.mktemp("app_animals"), parts=2, size=64)
