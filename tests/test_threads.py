"""Compute pools sized from the cores this process may use (affinity, cgroup quota) or --threads."""

import os
import subprocess
import sys

from typer.testing import CliRunner

from ethoprism.cli import app
from ethoprism.threads import cgroup_quota, usable_cores


def test_the_cgroup_quota_limits_the_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cgroup_quota(tmp_path) == 0.5
    cores, how = usable_cores(tmp_path)
    assert cores == 1 and "cgroup quota of 0.5 CPUs" in how
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path) is None
    assert usable_cores(tmp_path)[0] == len(os.sched_getaffinity(0))
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("150000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_quota(v1) == 1.5
    assert cgroup_quota(tmp_path / "none") is None


THREADS = """
from typer.testing import CliRunner
from ethoprism.cli import app
import os
result = CliRunner().invoke(app, ["--threads", "1", "extract", "missing.mp4", "--store", "s"])
import torch
print(os.environ["OMP_NUM_THREADS"], torch.get_num_threads(), "threads: 1 (--threads" in result.output,
      os.environ["OMP_WAIT_POLICY"])
"""


def test_threads_reach_torch_and_the_run_log():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run(
        [sys.executable, "-c", THREADS], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1", "True", "PASSIVE"]
    # a user's own setting stands
    run = subprocess.run(
        [sys.executable, "-c", THREADS],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
    )
    assert run.stdout.split()[-1] == "ACTIVE"
    result = CliRunner().invoke(app, ["--threads", "0", "backbones"])
    assert result.exit_code == 2 and "--threads must be at least 1" in result.output


def test_the_decoder_gets_the_pools_thread_count_not_one_per_cpu_of_the_machine(tmp_path, monkeypatch):
    from conftest import write_video
    from ethoprism.video import VideoReader
    from ethoprism.video.reader import decoder_threads

    video = write_video(tmp_path / "v.mp4", n_frames=5)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert decoder_threads() == 1
    with VideoReader(video) as reader:
        assert reader._stream.thread_count == 1
        assert len(list(reader.iter_frames())) == 5
    monkeypatch.delenv("OMP_NUM_THREADS")
    from ethoprism.threads import usable_cores

    assert decoder_threads() == usable_cores()[0]
