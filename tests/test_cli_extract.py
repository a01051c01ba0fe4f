import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import OPENFIELD, needs_shared, write_video
from ethoprism.cli import app
from ethoprism.store import EmbeddingStore

runner = CliRunner()


@pytest.mark.slow
@needs_shared(OPENFIELD)
def test_extract_real_video_offline_then_cache_hit_then_info(tmp_path):
    store = tmp_path / "S"
    # every one of the real video's 2330 frames is decoded and embedded; at 112 px input the model
    # costs a quarter of the default 224 px (the suite's time), the path is the same
    small = ["--size", "112"]
    result = runner.invoke(
        app, ["extract", str(OPENFIELD), "--backbone", "effnet-lite0", "--store", str(store), *small]
    )
    assert result.exit_code == 0, result.output
    (entry,) = EmbeddingStore(store).entries()
    emb = entry.embeddings()
    assert emb.shape == (2330, 1280) and np.isfinite(emb).all() and emb.std(axis=0).mean() > 0
    again = runner.invoke(
        app, ["extract", str(OPENFIELD), "--backbone", "effnet-lite0", "--store", str(store), *small]
    )
    assert again.exit_code == 0 and "cached" in again.output
    shown = runner.invoke(app, ["info", str(store), "--json"])
    (record,) = json.loads(shown.stdout)
    assert record["video"]["n_frames"] == 2330 and record["backbone"] == "effnet-lite0"
    assert record["weights"]["source"] == "package"
    table = runner.invoke(app, ["info", str(store)])
    assert "2330 at 30 fps" in table.stdout and "effnet-lite0" in table.stdout and "112 px" in table.stdout


def test_a_store_keeps_the_backbone_it_was_begun_with(tmp_path):
    """A store begun with another backbone than the default stays one set when the same command
    adds videos; --backbone still picks another model."""
    store = tmp_path / "s"
    first, second, third = (
        write_video(tmp_path / f"{name}.mp4", n_frames=6, height=48, width=48, seed=seed)
        for seed, name in enumerate(["a", "b", "c"])
    )
    base = ["--store", str(store), "--size", "32"]
    motion = ["--backbone", "effnet-lite0-motion"]
    assert runner.invoke(app, ["extract", str(first), *base, *motion]).exit_code == 0
    result = runner.invoke(app, ["extract", str(second), *base])
    assert result.exit_code == 0, result.output
    assert "the store holds effnet-lite0-motion embeddings" in result.output
    assert {e.backbone for e in EmbeddingStore(store).entries()} == {"effnet-lite0-motion"}
    result = runner.invoke(app, ["extract", str(third), *base, "--backbone", "effnet-lite0"])
    assert result.exit_code == 0, result.output
    held = sorted((e.video_name, e.backbone) for e in EmbeddingStore(store).entries())
    assert held == [
        ("a.mp4", "effnet-lite0-motion"),
        ("b.mp4", "effnet-lite0-motion"),
        ("c.mp4", "effnet-lite0"),
    ]
    fresh = runner.invoke(app, ["extract", str(first), "--store", str(tmp_path / "new"), "--size", "32"])
    assert fresh.exit_code == 0 and "the store holds" not in fresh.output
    assert EmbeddingStore(tmp_path / "new").entries()[0].backbone == "effnet-lite0"  # the default


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    good = write_video(tmp_path / "good.mp4", n_frames=40, height=96, width=96)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    return {
        "empty": (empty, "empty"),
        "not-a-video": (text, "not a readable video"),
        "truncated": (truncated, "truncated"),
        "missing": (tmp_path / "missing.mp4", "does not exist"),
        "directory": (tmp_path, "directory"),
    }


@pytest.mark.parametrize("case", ["empty", "not-a-video", "truncated", "missing", "directory"])
def test_bad_video_gives_one_clear_line_and_keeps_other_work(tmp_path, case):
    store = tmp_path / "store"
    first = write_video(tmp_path / "first.mp4", n_frames=5)
    ok = runner.invoke(app, ["extract", str(first), "--store", str(store)])
    assert ok.exit_code == 0, ok.output
    bad, problem = _bad_inputs(tmp_path)[case]
    other = write_video(tmp_path / "other.mp4", n_frames=5, seed=3)
    result = runner.invoke(app, ["extract", str(bad), str(other), "--store", str(store)])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and problem in errors[0]
    names = sorted(e.video_name for e in EmbeddingStore(store).entries())
    assert names == ["first.mp4", "other.mp4"]


def test_unknown_backbone_and_bad_weights(tmp_path):
    video = write_video(tmp_path / "v.mp4", n_frames=3)
    result = runner.invoke(
        app, ["extract", str(video), "--store", str(tmp_path / "s"), "--backbone", "resnet"]
    )
    assert result.exit_code == 2 and "unknown backbone 'resnet'" in result.output
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"junk")
    result = runner.invoke(
        app, ["extract", str(video), "--store", str(tmp_path / "s"), "--weights", str(weights)]
    )
    assert (
        result.exit_code == 2
        and str(weights) in result.output
        and "not a readable weights file" in result.output
    )
    result = runner.invoke(
        app, ["extract", str(video), "--store", str(tmp_path / "s"), "--backbone", "videoprism-b"]
    )
    assert result.exit_code == 2 and "google/videoprism-base-f16r288" in result.output


def test_globs_and_options(tmp_path):
    for i in range(3):
        write_video(tmp_path / f"clip{i}.mp4", n_frames=4 + i, seed=i)
    store = tmp_path / "s"
    result = runner.invoke(
        app,
        [
            "extract",
            str(tmp_path / "clip*.mp4"),
            "--store",
            str(store),
            "--size",
            "64",
            "--square",
            "pad",
            "--backbone",
            "effnet-lite0",
            "--frames",
            "2",
            "--batch-size",
            "1",
            "--token-step",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    entries = EmbeddingStore(store).entries()
    assert sorted(e.n_frames for e in entries) == [4, 5, 6]
    assert entries[0].provenance.clip_spec.square == "pad" and entries[0].tokens()[0].shape[1:3] == (2, 2)
    # the motion backbone's clips overlap by 8 frames: too few frames is one clear line
    few = ["extract", str(tmp_path / "clip0.mp4"), "--store", str(tmp_path / "other"), "--frames", "2"]
    few += ["--backbone", "effnet-lite0-motion"]
    result = runner.invoke(app, few)
    assert result.exit_code == 2 and "--frames 2 is too few for effnet-lite0-motion" in result.output
    assert "use --frames 9 or more" in result.output
    nothing = runner.invoke(app, ["extract", str(tmp_path / "none*.mp4"), "--store", str(store)])
    assert nothing.exit_code == 2 and "glob matched no files" in nothing.output


def test_info_on_missing_store(tmp_path):
    result = runner.invoke(app, ["info", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "store folder does not exist" in result.output


@pytest.mark.parametrize("option", [["--batch-size", "0"], ["--batch-size", "-1"], ["--token-step", "0"]])
def test_numeric_options_are_validated_before_anything_is_stored(tmp_path, option):
    video = write_video(tmp_path / "v.mp4", n_frames=5)
    result = runner.invoke(
        app, ["extract", str(video), "--store", str(tmp_path / "s"), "--size", "32", *option]
    )
    assert result.exit_code == 2 and "must be a positive whole number" in result.output
    assert not list((tmp_path / "s").rglob("*.h5"))  # no all-zero entry marked complete


@pytest.mark.parametrize("url", ["s3://lab-bucket/store", "gs://lab-bucket/store"])
def test_an_object_store_url_is_refused_not_made_a_local_folder(tmp_path, url, monkeypatch):
    monkeypatch.chdir(tmp_path)
    video = write_video(tmp_path / "v.mp4", n_frames=4, height=32, width=32)
    for command in (["extract", str(video), "--store", url], ["info", url], ["index", url]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert result.output.startswith(f"error: {url}: object-store URLs are not supported"), result.output
        assert "shared file system" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # no folder named "s3:" or "gs:"
