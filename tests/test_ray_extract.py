"""Extraction on a local Ray instance (2 CPUs) gives the very store a single process gives."""

import numpy as np
import pytest

from conftest import TINY_CONFIGS, write_video
from ethoprism.backbones import load_backbone
from ethoprism.clips import ClipSpec
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_extraction_equals_the_single_process_store(tmp_path, local_ray):
    from ethoprism.workflows.extract import extract_videos_ray

    videos = [
        write_video(tmp_path / "a.mp4", n_frames=45, seed=1),
        write_video(tmp_path / "b.mp4", n_frames=70, seed=2),
    ]
    store = EmbeddingStore(tmp_path / "ray")
    seen = []
    # two animals on video a (the right one leaves after frame 30): per-animal rows through Ray too
    import pandas as pd

    tracks = tmp_path / "tracks.csv"
    rows = [("a.mp4", f, "left", 2, 2, 30, 24) for f in range(45)]
    rows += [("a.mp4", f, "right", 32, 20, 60, 46) for f in range(31)]
    pd.DataFrame(rows, columns=["video", "frame", "animal", "x1", "y1", "x2", "y2"]).to_csv(
        tracks, index=False
    )
    options = {"frames": 4, "overlap": 1, "size": 36}
    tiny = TINY_CONFIGS["videoprism-b"]
    results = extract_videos_ray(
        videos,
        store,
        "videoprism-b",
        "random",
        dtype="fp32",
        spec_options=options,
        batch_size=2,
        token_step=5,
        workers=2,
        chunk_frames=8,
        config=tiny,
        progress=lambda done, total: seen.append((done, total)),
        tracks=[tracks],
    )
    assert [r.error for r in results] == [None, None] and seen[-1] == (115, 115)
    reference = load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"])
    # the random tiny config must match the one the workers built
    assert results[0].entry.provenance.weights.model_id == reference.weights.model_id
    single = EmbeddingStore(tmp_path / "single")
    from ethoprism.workflows.extract import video_tracks

    read = video_tracks(videos, [tracks])
    for video, result in zip(videos, results):
        expected, _ = extract_video(
            video,
            reference,
            single,
            ClipSpec(frames=4, overlap=1, size=36),
            batch_size=2,
            token_step=5,
            chunk_frames=8,
            tracks=read.get(video.name),
        )
        assert result.entry.path.name == expected.path.name  # the same provenance, tracks included
        np.testing.assert_array_equal(result.entry.embeddings(), expected.embeddings())
        np.testing.assert_array_equal(result.entry.tokens()[0], expected.tokens()[0])
    with_animals = results[0].entry
    assert with_animals.animals == ["left", "right"] and len(with_animals.animal_rows()[0]) == 45 + 31
    np.testing.assert_array_equal(
        with_animals.animal_embeddings(), single.find(with_animals.provenance).animal_embeddings()
    )
    assert store.partials() == []
    # a second run finds everything cached
    again = extract_videos_ray(
        videos,
        store,
        "videoprism-b",
        "random",
        spec_options=options,
        batch_size=2,
        token_step=5,
        config=tiny,
        tracks=[tracks],
    )
    assert all(r.cached for r in again)


def test_ray_missing_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    from typer.testing import CliRunner

    from ethoprism.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    video = write_video(tmp_path / "v.mp4", n_frames=5)
    result = CliRunner().invoke(
        app, ["extract", str(video), "--store", str(tmp_path / "s"), "--ray", "local"]
    )
    assert result.exit_code == 2 and 'pip install -e ".[ray]"' in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_a_killed_ray_worker_is_replaced_and_no_committed_chunk_is_redone(tmp_path, local_ray, monkeypatch):
    ray = pytest.importorskip("ray")
    from ethoprism.workflows.extract import extract_videos_ray

    ray.shutdown()  # a fresh instance whose workers inherit the fault settings
    log = tmp_path / "steps.log"
    monkeypatch.setenv("ETHOPRISM_FAULT_LOG", str(log))
    monkeypatch.setenv("ETHOPRISM_FAULT_KILL_AT", "chunk 4 committed")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={
            "env_vars": {"ETHOPRISM_FAULT_LOG": str(log), "ETHOPRISM_FAULT_KILL_AT": "chunk 4 committed"}
        },
    )
    video = write_video(tmp_path / "v.mp4", n_frames=96, seed=3)
    options = {"frames": 4, "overlap": 0, "size": 36}
    tiny = TINY_CONFIGS["videoprism-b"]
    (result,) = extract_videos_ray(
        [video],
        EmbeddingStore(tmp_path / "ray"),
        "videoprism-b",
        "random",
        spec_options=options,
        batch_size=1,
        workers=2,
        chunk_frames=8,
        config=tiny,
    )
    steps = log.read_text().splitlines()
    killed = [line.split()[0] for line in steps if line.endswith("chunk 4 committed")]
    assert len(killed) == 1  # the worker died right after committing chunk 4 ...
    written = [line.split(" ", 1)[1] for line in steps if line.endswith("written") and "chunk" in line]
    assert sorted(written) == sorted(
        f"chunk {i} written" for i in range(12)
    )  # ... and no chunk was computed twice
    expected, _ = extract_video(
        video,
        load_backbone("videoprism-b", "random", config=tiny),
        EmbeddingStore(tmp_path / "one"),
        ClipSpec(**options),
        batch_size=1,
        chunk_frames=8,
    )
    np.testing.assert_array_equal(result.entry.embeddings(), expected.embeddings())
