"""A store on a read-only file system: reading commands work, writing commands end with one
error line and exit 2, and nothing in the store changes. Uses a real read-only tmpfs mount
(root only; skipped elsewhere)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from conftest import write_video
from ethoprism.cli import app


def _mount(target, options: str) -> bool:
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)]).returncode == 0


@pytest.fixture
def read_only_store(synthetic_store, tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    if shutil.which("mount") is None or not _mount(mount, "size=64m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        store = mount / "store"
        shutil.copytree(synthetic_store["store"], store)
        assert CliRunner().invoke(app, ["index", str(store)]).exit_code == 0
        if subprocess.run(["mount", "-o", "remount,ro", str(mount)]).returncode != 0:
            pytest.skip("cannot remount read-only")
        yield store
    finally:
        subprocess.run(["umount", str(mount)])


def snapshot(folder):
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


def test_read_only_store(read_only_store, synthetic_store, tmp_path):
    before = snapshot(read_only_store)
    runner = CliRunner()
    writing = [
        ["extract", str(write_video(tmp_path / "new.mp4")), "--store", str(read_only_store)],
        ["index", str(read_only_store), "--rebuild"],
    ]
    for argv in writing:
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output, result.exception)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Read-only file system" in errors[0], result.output
        assert "Traceback" not in result.output
    reading = [
        ["info", str(read_only_store)],
        [
            "train",
            str(read_only_store),
            "--labels",
            str(synthetic_store["labels"]),
            "--out",
            str(tmp_path / "h"),
        ],
        ["search", str(read_only_store), "--example", "video_00.mp4:10-20", "--k", "3"],
    ]
    for argv in reading:
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, (argv, result.output, result.exception)
    assert snapshot(read_only_store) == before
