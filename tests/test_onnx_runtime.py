"""The offline default on ONNX Runtime: checked against PyTorch, cached per weights and size,
recorded in the provenance, interchangeable with PyTorch entries, refused where it disagrees."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import write_video
from ethoprism.backbones import load_backbone, onnx_runtime
from ethoprism.cli import app
from ethoprism.clips import ClipSpec
from ethoprism.errors import EthoprismError
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore

pytestmark = pytest.mark.skipif(not onnx_runtime.available(), reason="onnxruntime is not installed")
runner = CliRunner()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ETHOPRISM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


@pytest.mark.parametrize("name", ["effnet-lite0", "effnet-lite0-motion"])
def test_onnx_matches_pytorch_at_every_size_it_runs(cache, name):
    onnx = load_backbone(name, runtime="onnx")
    reference = load_backbone(name)
    for size in (64, 96):
        frames = torch.rand(2, 4, size, size, 3, generator=torch.Generator().manual_seed(size))
        ours, theirs = onnx.encode(frames), reference.encode(frames)
        assert ours.shape == theirs.shape
        assert float((ours - theirs).abs().max()) <= onnx_runtime.TOLERANCE * float(theirs.abs().max())
    assert onnx.weights.extra["runtime"].startswith("onnxruntime")
    assert reference.weights.extra["runtime"].startswith("torch")
    reports = sorted(cache.glob("*.parity.json"))
    assert len(reports) == 2 + (name.endswith("motion") * 2)  # the motion stream runs at half size
    assert all(json.loads(r.read_text())["max_relative_difference"] < 1e-4 for r in reports)


def test_onnx_and_pytorch_entries_stand_for_each_other(cache, tmp_path):
    video = write_video(tmp_path / "v.mp4", n_frames=12, height=48, width=48)
    store = EmbeddingStore(tmp_path / "store")
    spec = ClipSpec(frames=4, size=64, overlap=0)
    first, hit = extract_video(video, load_backbone("effnet-lite0", runtime="onnx"), store, spec)
    assert not hit and first.provenance.weights.extra["runtime"].startswith("onnxruntime")
    again, hit = extract_video(video, load_backbone("effnet-lite0", runtime="torch"), store, spec)
    assert hit and again.path == first.path  # the runtime is not in the cache key: they agree
    reference, _ = extract_video(video, load_backbone("effnet-lite0"), EmbeddingStore(tmp_path / "ref"), spec)
    np.testing.assert_allclose(
        first.embeddings(), reference.embeddings(), atol=1e-4 * np.abs(reference.embeddings()).max()
    )
    assert len(store.select()) == 1


def test_a_damaged_export_is_made_again_and_a_disagreeing_one_refused(cache, monkeypatch):
    backbone = load_backbone("effnet-lite0", runtime="onnx")
    frames = torch.rand(1, 2, 64, 64, 3)
    backbone.encode(frames)
    (export,) = cache.glob("*64x64.onnx")
    export.write_bytes(b"damaged")
    fresh = load_backbone("effnet-lite0", runtime="onnx")
    fresh.encode(frames)  # made again, checked again
    assert export.stat().st_size > 1000
    monkeypatch.setattr(onnx_runtime, "TOLERANCE", 0.0)
    strict = load_backbone("effnet-lite0", runtime="onnx")
    with pytest.raises(EthoprismError, match="differs from PyTorch.*--runtime torch"):
        strict.encode(frames)


def test_auto_uses_pytorch_where_onnx_does_not_run(monkeypatch):
    assert load_backbone("effnet-lite0", runtime="auto").weights.extra["runtime"].startswith("onnxruntime")
    monkeypatch.setattr(onnx_runtime, "available", lambda: False)
    assert load_backbone("effnet-lite0", runtime="auto").weights.extra["runtime"].startswith("torch")
    with pytest.raises(EthoprismError, match="pip install onnxruntime"):
        load_backbone("effnet-lite0", runtime="onnx")


def test_bad_runtimes_are_one_line(tmp_path):
    from conftest import TINY_CONFIGS

    with pytest.raises(EthoprismError, match="effnet-lite0"):
        load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"], runtime="onnx")
    video = write_video(tmp_path / "v.mp4", n_frames=4)
    result = runner.invoke(app, ["extract", str(video), "--store", str(tmp_path / "s"), "--runtime", "fast"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--runtime must be one of auto, torch, onnx" in lines[0]
