import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import TINY_CONFIGS, write_video
from ethoprism.backbones import load_backbone
from ethoprism.clips import ClipSpec
from ethoprism.errors import EthoprismError
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore


@pytest.fixture(scope="module")
def tiny_videoprism():
    return load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"])


def test_tiled_extraction_equals_running_each_clip(tmp_path, tiny_videoprism):
    video = write_video(tmp_path / "v.mp4", n_frames=11)
    spec = ClipSpec(frames=4, overlap=1, size=36)
    entry, hit = extract_video(
        video, tiny_videoprism, EmbeddingStore(tmp_path / "s"), spec, batch_size=2, token_step=5
    )
    assert not hit
    emb = entry.embeddings()
    assert emb.shape == (11, 32)
    # recompute frame 5 by hand: tiled clips start at 0, 3, 6, 7; frame 5 is most central in clip 3..6
    from ethoprism.video import VideoReader

    frames = np.stack(list(VideoReader(video).iter_frames(size=36))).astype(np.float32) / 255
    tokens = tiny_videoprism.encode(frames[None, 3:7]).numpy()[0]
    np.testing.assert_allclose(emb[5], tokens[2].mean(axis=(0, 1)), atol=1e-5)
    stored_tokens, token_frames = entry.tokens()
    assert list(token_frames) == [0, 5, 10] and stored_tokens.shape == (3, 2, 2, 32)
    np.testing.assert_allclose(stored_tokens[1], tokens[2], atol=1e-2)


def test_centered_protocol_uses_the_clip_around_each_frame(tmp_path, tiny_videoprism):
    video = write_video(tmp_path / "v.mp4", n_frames=6)
    spec = ClipSpec(frames=4, size=36, protocol="centered")
    entry, _ = extract_video(video, tiny_videoprism, EmbeddingStore(tmp_path / "s"), spec, batch_size=3)
    from ethoprism.video import VideoReader

    frames = np.stack(list(VideoReader(video).iter_frames(size=36))).astype(np.float32) / 255
    clip = frames[[1, 2, 3, 4]]  # centred on frame 3 (row 2)
    expected = tiny_videoprism.encode(clip[None]).numpy()[0, 2].mean(axis=(0, 1))
    np.testing.assert_allclose(entry.embeddings()[3], expected, atol=1e-5)


def test_cache_hit_and_provenance(tmp_path, tiny_videoprism):
    video = write_video(tmp_path / "v.mp4", n_frames=9)
    store = EmbeddingStore(tmp_path / "s")
    spec = ClipSpec(frames=4, overlap=0, size=36)
    first, hit1 = extract_video(video, tiny_videoprism, store, spec)
    mtime = first.path.stat().st_mtime_ns
    second, hit2 = extract_video(video, tiny_videoprism, store, spec)
    assert (hit1, hit2) == (False, True) and second.path.stat().st_mtime_ns == mtime
    prov = second.provenance
    assert prov.clip_spec.frames == 4 and prov.backbone == "videoprism-b"
    assert prov.video.n_frames == 9 and len(prov.video.sha256) == 64
    assert prov.weights.source == "random-init" and prov.ethoprism_version
    # the record round-trips through the file as JSON
    from ethoprism.provenance import Provenance

    assert Provenance.from_dict(prov.to_dict()) == prov
    # another clip spec is another entry
    _, hit3 = extract_video(video, tiny_videoprism, store, ClipSpec(frames=2, overlap=0, size=36))
    assert not hit3 and len(store.entries()) == 2


def test_every_input_that_changes_the_numbers_is_in_the_cache_key(tmp_path, monkeypatch):
    """The motion backbone's lags, a random model's config, the extraction version: an entry made
    under other settings is made again, never reused, and never mixed with the new ones."""
    from dataclasses import replace

    from ethoprism.backbones.models import EfficientNetLite0MotionBackbone
    from ethoprism.provenance import EXTRACTION_VERSION, WeightsInfo

    video = write_video(tmp_path / "v.mp4", n_frames=12, height=48, width=48)
    store = EmbeddingStore(tmp_path / "s")
    spec = ClipSpec(frames=12, overlap=0, size=32)
    first, _ = extract_video(video, load_backbone("effnet-lite0-motion"), store, spec)
    assert first.provenance.extraction_version == EXTRACTION_VERSION
    before = first.embeddings().copy()
    _, hit = extract_video(video, load_backbone("effnet-lite0-motion"), store, spec)
    assert hit
    monkeypatch.setattr(EfficientNetLite0MotionBackbone, "MOTION_LAGS", (1, 3, 6))
    again, hit = extract_video(video, load_backbone("effnet-lite0-motion"), store, spec)
    assert not hit and again.provenance.weights.extra["motion"]["lags"] == [1, 3, 6]
    assert not np.array_equal(again.embeddings(), before)
    # the keys themselves
    prov = again.provenance
    other_lags = replace(prov, weights=replace(prov.weights, extra={"motion": {"lags": [1, 2, 4]}}))
    assert other_lags.cache_key != prov.cache_key and other_lags.embedding_key != prov.embedding_key
    tokenizer = replace(prov, weights=replace(prov.weights, extra={**prov.weights.extra, "tokenizer": "x"}))
    assert tokenizer.cache_key == prov.cache_key  # a file name, not a number
    newer = replace(prov, extraction_version=EXTRACTION_VERSION + 1)
    assert newer.cache_key != prov.cache_key
    record = prov.to_dict()
    del record["extraction_version"]  # made before the field existed: version 1
    assert type(prov).from_dict(record).extraction_version == 1
    assert isinstance(prov.weights, WeightsInfo)


def test_truncated_video_is_an_error_and_store_is_untouched(tmp_path, tiny_videoprism):
    good = write_video(tmp_path / "good.mp4", n_frames=30, height=96, width=96)
    store = EmbeddingStore(tmp_path / "s")
    spec = ClipSpec(frames=4, overlap=0, size=36)
    extract_video(good, tiny_videoprism, store, spec)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(EthoprismError) as info:
        extract_video(truncated, tiny_videoprism, store, spec)
    assert "truncated.mp4" in str(info.value)
    assert len(store.entries()) == 1


def test_half_written_files_are_not_entries_and_damaged_entries_are_named(tmp_path):
    store = EmbeddingStore(tmp_path)
    folder = tmp_path / "video__abc"
    folder.mkdir()
    (folder / "effnet-lite0__y.h5.tmp-999999999").write_bytes(b"partial")
    assert store.entries() == []
    removed = store.remove_debris()
    assert [p.name for p in removed] == ["effnet-lite0__y.h5.tmp-999999999"]
    # a committed name that cannot be read is damage: refused by name, never silently skipped
    (folder / "effnet-lite0__x.h5").write_bytes(b"\x89HDF\r\n garbage")
    with pytest.raises(EthoprismError, match="damaged store entry") as caught:
        store.entries()
    assert caught.value.path.endswith("effnet-lite0__x.h5")


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from conftest import TINY_CONFIGS
from ethoprism.backbones import load_backbone
from ethoprism.clips import ClipSpec
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore
backbone = load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"])
store = EmbeddingStore({store!r})
spec = ClipSpec(frames=4, overlap=0, size=36)
for n, video in enumerate({videos!r}):
    if n == 1:  # die exactly at this step of the second video's write, not after a guessed sleep
        store.fault_hook = lambda step: os.kill(os.getpid(), signal.SIGKILL) if step == {kill_at!r} else None
    extract_video(video, backbone, store, spec, batch_size=1, token_step=2, chunk_frames=8)
    print("done", video, flush=True)
"""

SPEC = dict(frames=4, overlap=0, size=36)


def _killed_run(tmp_path, kill_at):
    videos = [
        str(write_video(tmp_path / "a.mp4", n_frames=8)),
        str(write_video(tmp_path / "b.mp4", n_frames=40, height=32, width=32)),
    ]
    store_dir = tmp_path / "store"
    script = KILL_SCRIPT.format(
        tests=os.path.dirname(__file__), store=str(store_dir), videos=videos, kill_at=kill_at
    )
    proc = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout.splitlines() == [f"done {videos[0]}"]  # first video finished, second killed
    return videos, EmbeddingStore(store_dir)


def _resume_counting_chunks(store, video, backbone):
    computed = []
    store.fault_hook = lambda step: computed.append(step) if step.endswith("written") else None
    entry, hit = extract_video(
        video, backbone, store, ClipSpec(**SPEC), batch_size=1, token_step=2, chunk_frames=8
    )
    store.fault_hook = None
    return entry, hit, computed


def test_kill_9_mid_video_resumes_from_the_last_committed_chunk(tmp_path, tiny_videoprism):
    videos, store = _killed_run(tmp_path, "chunk 2 committed")
    entries = store.entries()
    assert [e.video_name for e in entries] == ["a.mp4"]  # a partial entry is never taken for a finished one
    (partial,) = store.partials()
    assert partial.progress() == (3, 5)  # 40 frames in chunks of 8: chunks 0-2 committed
    from typer.testing import CliRunner

    from ethoprism.cli import app

    shown = CliRunner().invoke(app, ["info", str(tmp_path / "store")]).output
    assert "1 partial" in shown and "b.mp4" in shown and "3/5 chunks committed" in shown
    # as a scheduler or `| grep` sees it: no terminal, no COLUMNS, a long path; nothing is wrapped
    deep = tmp_path / ("a-long-folder-name-of-a-lab-share" * 3) / "experiment 2026-11-30 cohort B" / "store"
    shutil.copytree(tmp_path / "store", deep)
    piped = subprocess.run(
        [sys.executable, "-m", "ethoprism.cli", "info", str(deep)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")},
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert lines[0] == f"{deep}: 1 entry, 1 partial"
    partial_lines = [line for line in lines if line.startswith("partial: b.mp4 with ")]
    assert len(partial_lines) == 1 and "3/5 chunks committed" in partial_lines[0]
    assert f" in {deep}{os.sep}b__" in partial_lines[0]
    assert sum(str(deep) in line for line in lines) >= 3  # every path whole on its line
    stamp = entries[0].path.stat().st_mtime_ns
    entry, hit = extract_video(
        videos[0], tiny_videoprism, store, ClipSpec(**SPEC), batch_size=1, token_step=2
    )
    assert hit and entry.path.stat().st_mtime_ns == stamp
    entry, hit, computed = _resume_counting_chunks(store, videos[1], tiny_videoprism)
    assert not hit and computed == ["chunk 3 written", "chunk 4 written", "temporary-written"]
    assert store.partials() == [] and len(store.entries()) == 2
    # bitwise what an uninterrupted run gives
    reference, _ = extract_video(
        videos[1],
        tiny_videoprism,
        EmbeddingStore(tmp_path / "ref"),
        ClipSpec(**SPEC),
        batch_size=1,
        token_step=2,
        chunk_frames=8,
    )
    np.testing.assert_array_equal(entry.embeddings(), reference.embeddings())
    np.testing.assert_array_equal(entry.tokens()[0], reference.tokens()[0])
    np.testing.assert_array_equal(entry.tokens()[1], np.arange(0, 40, 2))
    np.testing.assert_array_equal(entry.timestamps(), reference.timestamps())


def test_kill_9_inside_the_final_write_keeps_every_chunk(tmp_path, tiny_videoprism):
    videos, store = _killed_run(tmp_path, "temporary-written")
    assert [e.video_name for e in store.entries()] == ["a.mp4"]
    debris = list((tmp_path / "store").glob("b__*/*.h5.tmp-*"))
    assert len(debris) == 1 and store.partials()[0].progress() == (5, 5)
    assert store.remove_debris() == debris
    entry, hit, computed = _resume_counting_chunks(store, videos[1], tiny_videoprism)
    assert not hit and computed == ["temporary-written"] and entry.n_frames == 40  # no chunk recomputed


def test_chunked_extraction_equals_one_chunk(tmp_path, tiny_videoprism):
    video = write_video(tmp_path / "v.mp4", n_frames=37, height=32, width=32)
    spec = ClipSpec(frames=4, overlap=1, size=36)
    whole, _ = extract_video(
        video, tiny_videoprism, EmbeddingStore(tmp_path / "a"), spec, token_step=3, chunk_frames=10_000
    )
    chunked, _ = extract_video(
        video, tiny_videoprism, EmbeddingStore(tmp_path / "b"), spec, token_step=3, chunk_frames=4
    )
    np.testing.assert_array_equal(whole.embeddings(), chunked.embeddings())
    np.testing.assert_array_equal(whole.tokens()[0], chunked.tokens()[0])


def test_store_refuses_a_mixture_of_weights(synthetic_store, tmp_path):
    """Entries of one backbone made with other weights (or dtype) must not be trained on together."""
    import json
    import shutil

    import h5py

    from ethoprism.store import EmbeddingStore
    from ethoprism.workflows import classify

    mixed = tmp_path / "mixed"
    shutil.copytree(synthetic_store["store"], mixed)
    first = sorted(mixed.glob("*/*.h5"))[0]
    with h5py.File(first, "r+") as handle:
        provenance = json.loads(handle.attrs["provenance"])
        provenance["weights"]["sha256"] = "f" * 64
        handle.attrs["provenance"] = json.dumps(provenance)
    with pytest.raises(
        EthoprismError, match="store holds effnet-lite0 embeddings made differently.*ffffffffffff.*--weights"
    ):
        EmbeddingStore(mixed).select()
    with pytest.raises(EthoprismError, match="made differently"):
        classify.load_labelled(mixed, synthetic_store["labels"])
    # choosing the kind explicitly resolves it
    from ethoprism.store import EntryFilter

    (odd,) = EmbeddingStore(mixed).select(EntryFilter(weights="ffffffffffff"))
    assert odd.path.parent == first.parent
    real = EmbeddingStore(synthetic_store["store"]).select()[0].provenance.weights.sha256[:12]
    assert len(EmbeddingStore(mixed).select(EntryFilter(weights=real, dtype="fp32"))) == 3
    with pytest.raises(EthoprismError, match="no embeddings from backbone 'effnet-lite0' with dtype bf16"):
        EmbeddingStore(mixed).select(EntryFilter(dtype="bf16"))


def test_disk_full_while_writing_a_chunk_keeps_the_store_valid(tmp_path, tiny_videoprism):
    import errno

    video = write_video(tmp_path / "v.mp4", n_frames=30, height=32, width=32)
    store = EmbeddingStore(tmp_path / "s")

    def full_disk(step):
        if step == "chunk 1 written":
            raise OSError(errno.ENOSPC, "No space left on device")

    store.fault_hook = full_disk
    with pytest.raises(
        EthoprismError, match=r"chunk_000001.h5: cannot write to the store \(No space left on device\)"
    ):
        extract_video(video, tiny_videoprism, store, ClipSpec(**SPEC), chunk_frames=8)
    assert store.entries() == [] and store.partials()[0].progress() == (1, 2)
    assert not list((tmp_path / "s").rglob("*.tmp-*"))  # no temporary left behind
    store.fault_hook = None
    entry, hit = extract_video(video, tiny_videoprism, store, ClipSpec(**SPEC), chunk_frames=8)
    assert not hit and entry.n_frames == 30 and store.partials() == []


SHARE_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from conftest import TINY_CONFIGS
from ethoprism.backbones import load_backbone
from ethoprism.clips import ClipSpec
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore
backbone = load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"])
store = EmbeddingStore({store!r})
store.fault_hook = lambda step: print(step, flush=True) if step.endswith("written") else None
spec = ClipSpec(frames=4, overlap=0, size=36)
extract_video({video!r}, backbone, store, spec, batch_size=1, chunk_frames=8, wait_s=0.05)
"""


def test_two_processes_share_one_video_without_double_work(tmp_path, tiny_videoprism):
    video = str(write_video(tmp_path / "v.mp4", n_frames=120, height=32, width=32))
    script = SHARE_SCRIPT.format(tests=os.path.dirname(__file__), store=str(tmp_path / "s"), video=video)
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].splitlines() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    chunks = [line for out in outputs for line in out if line.startswith("chunk")]
    assert sorted(chunks) == sorted(f"chunk {i} written" for i in range(15))  # each of the 15 chunks once
    assert sum(out.count("temporary-written") for out in outputs) == 1  # one process wrote the entry
    (entry,) = EmbeddingStore(tmp_path / "s").entries()
    reference, _ = extract_video(
        video,
        tiny_videoprism,
        EmbeddingStore(tmp_path / "ref"),
        ClipSpec(**SPEC),
        batch_size=1,
        chunk_frames=8,
    )
    np.testing.assert_array_equal(entry.embeddings(), reference.embeddings())


@pytest.mark.parametrize("damage", ["nan", "rows"])
def test_entries_whose_arrays_disagree_with_provenance_are_refused(synthetic_store, tmp_path, damage):
    import shutil

    import h5py

    from ethoprism.workflows import classify

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    damaged = sorted(store.glob("*/*.h5"))[1]
    with h5py.File(damaged, "r+") as handle:
        embeddings = handle["embeddings"][()]
        del handle["embeddings"]
        if damage == "nan":
            embeddings[7] = np.nan
        handle.create_dataset("embeddings", data=embeddings if damage == "nan" else embeddings[:-5])
    expected = (
        "NaN or infinite values \\(frame 7\\)" if damage == "nan" else "do not cover the video's 150 frames"
    )
    with pytest.raises(EthoprismError, match=expected) as info:
        classify.load_labelled(store, synthetic_store["labels"])
    assert damaged.name in str(info.value)


def test_token_grid_keeps_every_frames_pooled_map_beside_unchanged_embeddings(tmp_path, tiny_videoprism):
    video = write_video(tmp_path / "v.mp4", n_frames=22, height=40, width=40)
    spec = ClipSpec(frames=4, overlap=1, size=36)
    plain, _ = extract_video(video, tiny_videoprism, EmbeddingStore(tmp_path / "a"), spec, batch_size=2)
    gridded, _ = extract_video(
        video, tiny_videoprism, EmbeddingStore(tmp_path / "b"), spec, batch_size=3, token_step=1, token_grid=2
    )
    assert gridded.provenance.token_grid == 2 and plain.provenance.token_grid is None
    assert gridded.path.name != plain.path.name
    np.testing.assert_allclose(gridded.embeddings(), plain.embeddings(), atol=1e-6)
    grids = gridded.grid_tokens()
    assert grids.shape == (22, 2, 2, 32) and grids.dtype == np.float16
    tokens, token_frames = gridded.tokens()  # a 36 px input has a 2x2 token map: the grid is the map
    np.testing.assert_array_equal(grids[token_frames], tokens)
    np.testing.assert_array_equal(gridded.grid_tokens(np.array([3, 7])), grids[[3, 7]])
    assert plain.grid_tokens() is None
    # a grid of 1 is the pooled embedding itself
    one, _ = extract_video(video, tiny_videoprism, EmbeddingStore(tmp_path / "c"), spec, token_grid=1)
    np.testing.assert_allclose(one.grid_tokens()[:, 0, 0], one.embeddings(), atol=2e-2, rtol=2e-3)


@pytest.mark.parametrize("damage", ["truncated", "empty", "random-bytes", "missing-dataset"])
def test_a_damaged_chunk_is_named_and_computed_again(tmp_path, tiny_videoprism, damage):
    """A chunk file spoiled on disk after its commit: the next run names it, recomputes it and
    gives the entry an uninterrupted run gives, leaving no temporary."""
    import h5py

    video = write_video(tmp_path / "v.mp4", n_frames=40, height=32, width=32)
    store = EmbeddingStore(tmp_path / "s")

    def stop(step):
        if step == "chunk 2 committed":
            raise KeyboardInterrupt(step)

    store.fault_hook = stop
    with pytest.raises(KeyboardInterrupt):
        extract_video(video, tiny_videoprism, store, ClipSpec(**SPEC), batch_size=1, chunk_frames=8)
    store.fault_hook = None
    (partial,) = store.partials()
    chunk = partial.folder / "chunk_000001.h5"
    data = chunk.read_bytes()
    if damage == "truncated":
        chunk.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        chunk.write_bytes(b"")
    elif damage == "random-bytes":
        chunk.write_bytes(np.random.default_rng(0).bytes(len(data)))
    else:
        with h5py.File(chunk, "r+") as handle:
            del handle["embeddings"]
    store = EmbeddingStore(tmp_path / "s")
    entry, hit = extract_video(video, tiny_videoprism, store, ClipSpec(**SPEC), batch_size=1, chunk_frames=8)
    assert not hit and entry.n_frames == 40
    assert len(store.notes) == 1 and str(chunk) in store.notes[0] and "computed again" in store.notes[0]
    reference, _ = extract_video(
        video,
        tiny_videoprism,
        EmbeddingStore(tmp_path / "ref"),
        ClipSpec(**SPEC),
        batch_size=1,
        chunk_frames=8,
    )
    np.testing.assert_array_equal(entry.embeddings(), reference.embeddings())
    assert not list((tmp_path / "s").rglob("*.tmp-*"))


def test_a_damaged_token_basis_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from ethoprism.cli import app
    from ethoprism.store.bases import FOLDER

    store = tmp_path / "s"
    (store / FOLDER).mkdir(parents=True)
    for content in (b"", b"PK\x03\x04 cut short"):
        (store / FOLDER / "b.npz").write_bytes(content)
        result = CliRunner().invoke(app, ["info", str(store)])
        assert result.exit_code == 2 and "token basis does not read" in result.output, result.output
        assert "Aborted" not in result.output and "Traceback" not in result.output


def test_an_entry_finished_by_another_process_just_after_our_cache_check_is_not_computed_again(
    tmp_path, tiny_videoprism, monkeypatch
):
    """The race CI met: another process renames the entry into place (and removes the parts) between
    this process's cache check and its creating the parts folder; the folder must not come back
    and the video must not be computed a second time."""
    video = write_video(tmp_path / "v.mp4", n_frames=40, height=32, width=32)
    store = EmbeddingStore(tmp_path / "s")
    spec = ClipSpec(**SPEC)
    first, hit = extract_video(video, tiny_videoprism, store, spec, batch_size=1, chunk_frames=8)
    assert not hit
    real_find, stale = store.find, iter([None])
    monkeypatch.setattr(store, "find", lambda provenance: next(stale, real_find(provenance)))
    steps = []
    store.fault_hook = steps.append
    again, hit = extract_video(video, tiny_videoprism, store, spec, batch_size=1, chunk_frames=8)
    assert hit and again.path == first.path
    assert not [step for step in steps if step.startswith("chunk")]
    assert store.partials() == []
    assert not list((tmp_path / "s").glob("*/*.parts"))


def test_a_chunk_whose_parts_vanish_because_another_process_finished_the_entry_is_not_an_error(
    tmp_path, tiny_videoprism
):
    video = write_video(tmp_path / "v.mp4", n_frames=40, height=32, width=32)
    store = EmbeddingStore(tmp_path / "s")
    spec = ClipSpec(**SPEC)
    reference, _ = extract_video(
        video, tiny_videoprism, EmbeddingStore(tmp_path / "ref"), spec, chunk_frames=8
    )

    def finish_elsewhere(step):
        # another process finishes the whole entry while this one computes its first chunk
        if step == "chunk 0 written" and not store.entry_path(reference.provenance).exists():
            shutil.copy(reference.path, store.entry_path(reference.provenance))
            shutil.rmtree(str(store.entry_path(reference.provenance)) + ".parts")

    store.fault_hook = finish_elsewhere
    entry, hit = extract_video(video, tiny_videoprism, store, spec, chunk_frames=8)
    assert hit
    np.testing.assert_array_equal(entry.embeddings(), reference.embeddings())
    assert store.partials() == []
