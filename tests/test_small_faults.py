"""The small faults of a malformed-input run, each one clear line (issue: trust, item 23)."""

import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import FLY_CLIP, needs_shared, write_video
from ethoprism.cli import app
from ethoprism.errors import EthoprismError, os_reason

runner = CliRunner()


def _one_error_line(result, text):
    assert result.exit_code == 2, result.output
    assert text in result.output, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1


def test_non_finite_numbers_are_refused(tmp_path):
    for value in ("inf", "nan", "-1"):
        result = runner.invoke(
            app,
            [
                "suggest",
                str(tmp_path),
                "--head",
                "h.json",
                "--labels",
                "l.csv",
                "--out",
                str(tmp_path / "o.csv"),
                "--segment-seconds",
                value,
            ],
        )
        _one_error_line(result, "--segment-seconds must be a positive number")
    result = runner.invoke(
        app,
        ["extract", "v.mp4", "--store", str(tmp_path / "s"), "--ray", "local", "--gpus-per-worker", "nan"],
    )
    _one_error_line(result, "--gpus-per-worker must be a number of at least 0")


def test_a_token_grid_larger_than_the_token_map_is_refused(tmp_path):
    video = write_video(tmp_path / "v.mp4", n_frames=8, height=64, width=64)
    store = tmp_path / "s"
    # EfficientNet at 64 px: a 2x2 token map; a 4x4 grid would copy each token 4 times
    result = runner.invoke(
        app,
        ["extract", str(video), "--store", str(store), "--size", "64", "--frames", "8", "--token-grid", "4"],
    )
    _one_error_line(result, "--token-grid 4 is larger than effnet-lite0's token map at this input size (2x2)")
    result = runner.invoke(
        app,
        ["extract", str(video), "--store", str(store), "--size", "64", "--frames", "8", "--token-grid", "2"],
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:1", "ray://127.0.0.1:70000"])
def test_an_unreachable_ray_address_is_one_line_at_once(tmp_path, address):
    pytest.importorskip("ray")
    from ethoprism.workflows.extract import check_ray_address

    with pytest.raises(EthoprismError, match="--ray must be|no Ray cluster answers") as info:
        check_ray_address(address, timeout_s=2)
    assert address in str(info.value)


def test_an_entry_of_another_width_is_named(synthetic_store, tmp_path):
    from ethoprism.dataset import build_dataset
    from ethoprism.io.labels import read_labels
    from ethoprism.store import EmbeddingStore

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    entries = EmbeddingStore(store).select()
    with h5py.File(entries[2].path, "r+") as handle:
        n = len(handle["embeddings"])
        del handle["embeddings"]
        handle["embeddings"] = np.zeros((n, 7), np.float32)
    entries = EmbeddingStore(store).select()
    from ethoprism.dataset import video_frame_info

    labels = read_labels(synthetic_store["labels"], video_frame_info(entries))
    with pytest.raises(
        EthoprismError, match="holds 7-dimensional embeddings where video_00.mp4 holds 1280"
    ) as info:
        build_dataset(entries, labels)
    assert str(entries[2].path) in str(info.value)


def test_a_shifted_video_in_the_index_is_refused(synthetic_store, tmp_path):
    import json

    from ethoprism.retrieval import open_index, update_index

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    update_index(store)
    (folder,) = (store / "_index").iterdir()
    videos = folder / "videos-1.json"
    meta = json.loads(videos.read_text())
    meta["videos"][1]["start"] += 3
    meta["videos"][2]["start"] -= 3
    videos.write_text(json.dumps(meta))
    with pytest.raises(EthoprismError, match="places 'video_01.mp4' at vector 153, not 150.*--rebuild"):
        open_index(store)


READ_SLP = """
import sys
from pathlib import Path
from ethoprism.io.sleap import read_sleap_instances
instances, labelled = read_sleap_instances(Path(sys.argv[1]), None)
print(len(instances), len(labelled))
"""


@needs_shared(FLY_CLIP)
def test_a_pose_file_whose_video_is_a_fifo_does_not_hang(tmp_path):
    import sleap_io

    fifo = tmp_path / "camera.mp4"
    os.mkfifo(fifo)
    labels = sleap_io.load_slp(str(FLY_CLIP.with_suffix(".slp")), open_videos=False)
    labels.video.replace_filename(str(fifo), open=False)
    path = tmp_path / "poses.slp"
    labels.save(str(path))
    run = subprocess.run(
        [sys.executable, "-c", READ_SLP, str(path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["3000", "1500"]


def test_a_full_disk_is_one_line():
    hdf5 = OSError(
        "Can't synchronously write data (file write failed: time = Mon Nov 30 10:00:00 2026\n, filename = "
        "'/store/x.h5', file descriptor = 7, errno = 28, error message = 'No space left on device', buf = "
        "0x55d, total write size = 4096, bytes this sub-write = 4096, bytes actually written = "
        "18446744073709551615, offset = 0)"
    )
    assert os_reason(hdf5) == "No space left on device"
    assert os_reason(OSError(13, "Permission denied")) == "Permission denied"
    assert os_reason(RuntimeError("first line\nsecond")) == "first line"
