import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ethoprism.backbones import load_backbone
from ethoprism.cli import app
from ethoprism.clips import ClipSpec
from ethoprism.errors import EthoprismError
from ethoprism.evaluation.retrieval import hit_at_k
from ethoprism.extract import extract_video
from ethoprism.retrieval import open_index, parse_segment, query_by_example, update_index
from ethoprism.store import EmbeddingStore
from ethoprism.synthetic import BEHAVIORS, SyntheticConfig, generate

runner = CliRunner()


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory):
    """A long synthetic recording with one planted rare 'shake' bout, plus a short video holding
    another shake bout to use as the example."""
    root = tmp_path_factory.mktemp("long")
    example = generate(
        root / "example", SyntheticConfig(n_videos=1, n_frames=150, size=96, seed=11, rare_videos=1.0)
    )[0]
    long = generate(
        root / "long",
        SyntheticConfig(n_videos=1, n_frames=2400, size=96, seed=12, rare_videos=1.0, name_prefix="long"),
    )[0]
    backbone = load_backbone("effnet-lite0")
    store = EmbeddingStore(root / "store")
    spec = ClipSpec(frames=16, size=96, overlap=0)
    for video in (example, long):
        extract_video(video.path, backbone, store, spec)
    return {
        "root": root,
        "store": root / "store",
        "example": example,
        "long": long,
        "backbone": backbone,
        "spec": spec,
    }


def _bout(video, behaviour):
    from ethoprism.labels import bouts_from_mask

    return bouts_from_mask(video.labels.targets[:, BEHAVIORS.index(behaviour)] > 0)


@pytest.mark.slow
def test_example_search_finds_the_rare_behaviour_in_a_long_recording(long_recording):
    index, added = update_index(long_recording["store"])
    assert added == 2 and index.meta["kind"] == "flat" and index.ntotal == 2550
    ((start, end),) = _bout(long_recording["example"], "shake")
    ((planted_start, planted_end),) = _bout(long_recording["long"], "shake")
    results = query_by_example(index, [f"video_00.mp4:{start}-{end}"], k=5)
    long_hits = results[results.video_path == str(long_recording["long"].path.resolve())]
    found = ((long_hits.start_frame <= planted_end) & (long_hits.end_frame >= planted_start)).any()
    assert found, results
    # the query's own neighbourhood never comes back
    own = results[results.video_path == str(long_recording["example"].path.resolve())]
    assert not ((own.start_frame <= end + 30) & (own.end_frame >= start - 30)).any()


def test_index_is_incremental_and_persistent(long_recording, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(long_recording["store"], store, ignore=shutil.ignore_patterns("_index"))
    first_video = sorted(store.glob("*__*"))[0]
    held_back = tmp_path / "held"
    shutil.move(str(first_video), held_back)
    index, added = update_index(store)
    assert added == 1
    n_before = index.ntotal
    shutil.move(str(held_back), store / first_video.name)
    index, added = update_index(store)
    assert added == 1 and index.ntotal > n_before and len(index.videos) == 2
    reopened = open_index(store)
    assert reopened.ntotal == index.ntotal and [v.name for v in reopened.videos] == [
        v.name for v in index.videos
    ]
    _, added = update_index(store)
    assert added == 0
    with pytest.raises(EthoprismError, match="normalize=video"):
        update_index(store, normalize="none")


def test_segment_parsing(long_recording):
    index, _ = update_index(long_recording["store"])
    name = index.videos[0].name
    assert parse_segment(f"{name}:10-20", index).start == 10
    seconds = parse_segment(f"{name}:1-2s", index)
    assert (seconds.start, seconds.end) == (30, 60)
    for bad, problem in [
        (f"{name}:20-10", "outside"),
        (f"{name}:1.5-3", "integers"),
        ("nosuch.mp4:1-2", "not in the index"),
        ("garbage", "cannot read segment"),
    ]:
        with pytest.raises(EthoprismError, match=problem):
            parse_segment(bad, index)


@pytest.mark.slow
def test_hit_at_k_agrees_with_an_independent_count(synthetic_store):
    index, _ = update_index(synthetic_store["store"])
    labels = [v.labels for v in synthetic_store["videos"]]
    result = hit_at_k(index, labels, BEHAVIORS, ks=(1, 5, 10), max_queries=5, random_draws=20)
    table = result["queries"]
    # recompute each query's hit from scratch: rerun it and compare returned segments with the truth
    truth = {v.labels.video: v.labels.targets for v in synthetic_store["videos"]}
    for row in table.itertuples():
        results = query_by_example(index, [f"{row.video}:{row.start_frame}-{row.end_frame}"], k=10)
        k_behavior = BEHAVIORS.index(row.behavior)
        hits = [
            truth[r.video][r.start_frame : r.end_frame + 1, k_behavior].any() for r in results.itertuples()
        ]
        for k in (1, 5, 10):
            assert getattr(row, f"_{list(table.columns).index(f'hit@{k}') + 1}") == float(any(hits[:k]))
    per_class = table.groupby("behavior")[["hit@1", "hit@5", "hit@10"]].mean()
    for k in (1, 5, 10):
        assert result["summary"][f"hit@{k}"] == pytest.approx(per_class[f"hit@{k}"].mean())
    assert result["summary"]["hit@5"] > result["summary"]["random_hit@5"]


@pytest.mark.slow
def test_cli_search_writes_results_sheet_and_clips(long_recording, tmp_path):
    assert runner.invoke(app, ["index", str(long_recording["store"])]).exit_code == 0
    ((start, end),) = _bout(long_recording["example"], "shake")
    result = runner.invoke(
        app,
        [
            "search",
            str(long_recording["store"]),
            "--example",
            f"video_00.mp4:{start}-{end}",
            "--k",
            "3",
            "--out",
            str(tmp_path),
            "--clips",
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(table["rank"]) == [1, 2, 3] and table.score.is_monotonic_decreasing
    assert len(json.loads((tmp_path / "results.json").read_text())) == 3
    from PIL import Image

    assert Image.open(tmp_path / "contact_sheet.png").size[1] > 3 * 96
    clips = sorted((tmp_path / "clips").glob("*.mp4"))
    assert len(clips) == 3
    from ethoprism.video import VideoReader

    first = table.iloc[0]
    assert VideoReader(clips[0]).n_frames >= first.end_frame - first.start_frame + 1


def test_cli_search_errors(long_recording):
    result = runner.invoke(app, ["search", str(long_recording["store"]), "--example", "video_00.mp4:1-99999"])
    assert result.exit_code == 2 and "outside the video" in result.output
    result = runner.invoke(app, ["search", str(long_recording["store"])])
    assert result.exit_code == 2 and "exactly one kind of query" in result.output
    result = runner.invoke(app, ["search", str(long_recording["store"]), "--text", "a mouse grooming"])
    assert result.exit_code == 2 and "videoprism-lvt" in result.output


def test_query_by_clip_file(long_recording):
    from ethoprism.retrieval.query import clip_vector, search_segments
    from ethoprism.video import VideoReader, VideoWriter

    index, _ = update_index(long_recording["store"])
    ((start, end),) = _bout(long_recording["long"], "walk")[:1]
    clip = long_recording["root"] / "query_clip.mp4"
    with VideoWriter(clip, fps=30) as writer:
        for frame in VideoReader(long_recording["long"].path).read_frames(np.arange(start, end + 1)):
            writer.write(frame)
    results = search_segments(index, clip_vector(index, clip, long_recording["backbone"]), k=3)
    long_rows = results[results.video == long_recording["long"].path.name]
    # the clip finds its own source segment
    assert ((long_rows.start_frame <= end) & (long_rows.end_frame >= start)).any()


def test_query_side_lighting_augmentation(long_recording):
    from ethoprism.retrieval.query import LIGHTING_VARIANTS, Segment, augmented_vector, example_vector

    index, _ = update_index(long_recording["store"])
    segment = Segment(0, 10, 25)
    only_original = augmented_vector(
        index, segment, long_recording["backbone"], variants=LIGHTING_VARIANTS[:1]
    )
    # with the original lighting only, re-embedding reproduces the stored example vector
    np.testing.assert_allclose(only_original, example_vector(index, [segment]), atol=2e-3)
    fused = augmented_vector(index, segment, long_recording["backbone"])
    assert np.isclose(np.linalg.norm(fused), 1) and not np.allclose(fused, only_original, atol=1e-3)


def test_random_baseline_draws_segments_as_the_search_returns_them():
    from ethoprism.evaluation.retrieval import random_hits
    from ethoprism.retrieval import Segment

    truth = np.zeros(1000, np.int8)
    truth[100:110] = 1  # the query bout
    truth[600:610] = 1  # the one other bout
    query = Segment(0, 100, 109)
    hits = random_hits([truth], [20, 1], query, exclude_margin=30, draws=40000, rng=np.random.default_rng(0))
    # starts 0..980 for 20 frames, less the 89 that touch 70..139: 892; 29 of them overlap 600..609
    assert hits[:, 0].mean() == pytest.approx(29 / 892, abs=0.004)
    # one frame: 1000 starts less the 70 excluded; 10 hit
    assert hits[:, 1].mean() == pytest.approx(10 / 930, abs=0.003)
    # never inside the excluded neighbourhood, though the query bout itself is all positives
    near = np.zeros(1000, np.int8)
    near[70:140] = 1
    assert not random_hits([near], [5], query, 30, 5000, np.random.default_rng(1)).any()


def test_evaluate_retrieval_uses_the_index_as_built(synthetic_store, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store)
    assert runner.invoke(app, ["index", str(store), "--normalize", "none", "--rebuild"]).exit_code == 0
    built = next((store / "_index").rglob("index-*.faiss"))
    before = built.read_bytes()
    result = runner.invoke(
        app,
        [
            "evaluate-retrieval",
            str(store),
            "--labels",
            str(synthetic_store["labels"]),
            "--out",
            str(tmp_path / "r"),
            "--max-queries",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "hit_at_k.json").read_text())["normalize"] == "none"
    result = runner.invoke(
        app,
        [
            "evaluate-retrieval",
            str(store),
            "--labels",
            str(synthetic_store["labels"]),
            "--out",
            str(tmp_path / "r2"),
            "--normalize",
            "video",
        ],
    )
    assert (
        result.exit_code == 2
        and "built with --normalize none" in result.output
        and "--rebuild" in result.output
    )
    assert built.read_bytes() == before  # the user's index is untouched
    assert not (tmp_path / "r2").exists()


def test_cli_search_with_lighting_augmentation(long_recording, tmp_path):
    from ethoprism.retrieval.query import augmented_vector, search_segments

    assert runner.invoke(app, ["index", str(long_recording["store"])]).exit_code == 0
    ((start, end),) = _bout(long_recording["example"], "shake")
    result = runner.invoke(
        app,
        [
            "search",
            str(long_recording["store"]),
            "--example",
            f"video_00.mp4:{start}-{end}",
            "--k",
            "3",
            "--augment-lighting",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    index = open_index(long_recording["store"])
    segment = parse_segment(f"video_00.mp4:{start}-{end}", index)
    expected = search_segments(
        index, augmented_vector(index, segment, long_recording["backbone"]), 3, [segment]
    )
    table = pd.read_csv(tmp_path / "results.csv")
    np.testing.assert_allclose(table.score, expected.score, atol=1e-5)
    plain = query_by_example(index, [f"video_00.mp4:{start}-{end}"], k=3)
    assert not np.allclose(table.score, plain.score, atol=1e-4)  # the flag changes the query
    result = runner.invoke(app, ["search", str(long_recording["store"]), "--text", "x", "--augment-lighting"])
    assert result.exit_code == 2


def test_ivf_index_is_built_entry_by_entry(synthetic_store, tmp_path, monkeypatch):
    import shutil

    from ethoprism.retrieval import index as index_module

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    monkeypatch.setattr(index_module, "TRAINING_SAMPLE", 300)  # a sample, not the whole store
    built, added = update_index(store, index_type="ivf", rebuild=True)
    assert built.meta["kind"] == "ivf" and built.ntotal == 600 and added == 4
    sample = index_module._training_sample(EmbeddingStore(store).select(), "video", 600)
    assert len(sample) == 300
    # every frame finds itself first (8-bit quantisation keeps the nearest neighbour here)
    vectors = index_module.prepare(EmbeddingStore(store).select()[0].embeddings(), "video")
    _, ids = built.search(vectors[:20], 1)
    assert (ids[:, 0] == np.arange(20)).mean() > 0.9


def test_index_commits_atomically_and_survives_a_moved_store(synthetic_store, tmp_path, monkeypatch):
    import shutil

    from ethoprism.retrieval import index as index_module

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    moved_away = sorted(store.glob("video_03*"))[0]
    parked = tmp_path / "parked"
    shutil.move(moved_away, parked)
    first, _ = update_index(store)
    assert first.ntotal == 450
    # a kill between writing the new version and committing it leaves the old version in force
    shutil.move(parked, store / moved_away.name)

    def die(step):
        raise KeyboardInterrupt(step)

    monkeypatch.setattr(index_module, "INDEX_FAULT_HOOK", die)
    with pytest.raises(KeyboardInterrupt):
        update_index(store)
    monkeypatch.setattr(index_module, "INDEX_FAULT_HOOK", None)
    assert open_index(store).ntotal == 450  # not a half-extended pair
    _, added = update_index(store)  # extending again works, with no duplicate
    assert added == 1 and open_index(store).ntotal == 600
    # the store moved elsewhere, searched from another working directory
    moved = tmp_path / "elsewhere" / "store"
    shutil.move(store, moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    index = open_index("store")
    results = query_by_example(index, ["video_00.mp4:10-20"], k=3)
    assert len(results) == 3
    # a damaged manifest is a clear error
    (next((moved / "_index").iterdir()) / "current.json").write_text(
        '{"version": 99, "ntotal": 1, "videos": 1}'
    )
    with pytest.raises(EthoprismError, match="unreadable.*--rebuild"):
        open_index("store")


def test_two_threads_updating_one_index_write_one_version_each(synthetic_store, tmp_path, monkeypatch):
    """The app's /api/similar builds the index on demand: two calls at once must not write into
    one temporary or interleave two versions."""
    import shutil
    import threading
    import time

    from ethoprism.retrieval import index as index_module

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    monkeypatch.setattr(index_module, "INDEX_FAULT_HOOK", lambda step: time.sleep(0.3))
    results, errors = [], []

    def build():
        try:
            results.append(update_index(store)[1])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and sorted(results) == [0, 0, 4]
    index = open_index(store)
    assert index.ntotal == 600 and index.meta["version"] == 1
    assert not list((store / "_index").rglob("*.tmp-*"))


EXTEND_KILLED = """
import os, signal, sys
import ethoprism.retrieval.index as index_module
from ethoprism.retrieval import update_index
def die(step):
    if step == "version-written":
        os.kill(os.getpid(), signal.SIGKILL)
index_module.INDEX_FAULT_HOOK = die
update_index(sys.argv[1])
"""


def test_kill_9_between_an_index_version_and_its_commit(synthetic_store, tmp_path):
    import shutil
    import subprocess
    import sys

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    parked = tmp_path / "parked"
    moved = sorted(store.glob("video_03*"))[0]
    shutil.move(moved, parked)
    update_index(store)
    shutil.move(parked, store / moved.name)
    run = subprocess.run([sys.executable, "-c", EXTEND_KILLED, str(store)])
    assert run.returncode == -9  # killed with the new version's files written, not committed
    assert open_index(store).ntotal == 450  # the previous version is in force
    _, added = update_index(store)
    assert added == 1 and open_index(store).ntotal == 600  # and extends with no duplicate


def test_the_ivf_index_finds_what_exact_search_finds_and_keeps_its_settings(synthetic_store, tmp_path):
    import shutil

    import faiss

    from ethoprism.retrieval.index import IVF_NPROBE, prepare

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    index, added = update_index(store, index_type="ivf")
    assert added == 4 and index.meta["kind"] == "ivf"
    reopened = open_index(store)
    assert faiss.extract_index_ivf(reopened.index).nprobe == min(
        IVF_NPROBE, faiss.extract_index_ivf(index.index).nlist
    )
    rows = np.concatenate([prepare(e.embeddings(), "video") for e in EmbeddingStore(store).select()])
    exact = faiss.IndexFlatIP(rows.shape[1])
    exact.add(rows)
    queries = rows[::37]
    _, truth = exact.search(queries, 10)
    _, found = reopened.search(queries, 10)
    assert np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]) > 0.9
    assert (found[:, 0] == truth[:, 0]).mean() > 0.9  # a stored frame finds itself
    # the centroids are searched in float16 (half the bytes a query reads), and one query at a
    # time (its inverted lists shared across the threads) finds what the batch finds
    quantizer = faiss.downcast_index(faiss.extract_index_ivf(reopened.index).quantizer)
    assert isinstance(quantizer, faiss.IndexScalarQuantizer)
    assert quantizer.sq.qtype == faiss.ScalarQuantizer.QT_fp16
    one_by_one = np.concatenate([reopened.search(q[None], 10)[1] for q in queries])
    assert [set(row) for row in one_by_one] == [set(row) for row in found]


def test_vectors_added_to_a_half_precision_ivf_land_where_its_own_add_puts_them():
    """add_vectors assigns inverted lists by a float32 BLAS search (the float16 quantiser is slow
    at many vectors at once): the same lists, the same answers, block by block."""
    import faiss

    from ethoprism.retrieval.index import add_vectors, build_faiss, normalise_rows

    x = normalise_rows(np.random.default_rng(0).standard_normal((12000, 32)).astype(np.float32))
    own, ours = build_faiss("ivf", 32, len(x), x), build_faiss("ivf", 32, len(x), x)
    own.add(x[:9000])
    add_vectors(ours, x[:5000], block=2048)
    add_vectors(ours, x[5000:9000])
    assert ours.ntotal == own.ntotal == 9000
    sizes = [faiss.extract_index_ivf(i).invlists.list_size(k) for i in (own, ours) for k in range(own.nlist)]
    assert sizes[: own.nlist] == sizes[own.nlist :]
    assert (own.search(x[9000:], 10)[1] == ours.search(x[9000:], 10)[1]).all()
