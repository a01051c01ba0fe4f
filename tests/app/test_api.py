"""Every endpoint of ethoprism app, bad input included: clear 4xx, nothing saved."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ethoprism.app.project import BadEdit, Project
from ethoprism.app.server import create_app
from ethoprism.errors import EthoprismError

from .conftest import bouts_for_two_videos

TOKEN = "secret-token"


@pytest.fixture
def client(app_store, tmp_path):
    project = Project(app_store, tmp_path / "labels.csv")
    with TestClient(create_app(project, TOKEN)) as client:
        client.get("/", params={"token": TOKEN})  # sets the cookie
        yield client, project, tmp_path / "labels.csv"


def test_every_request_needs_the_token(app_store, tmp_path):
    with TestClient(create_app(Project(app_store, tmp_path / "l.csv"), TOKEN)) as anonymous:
        for path in ("/", "/api/videos", "/api/labels", "/api/videos/fly.mp4/file", "/static/app.js"):
            assert anonymous.get(path).status_code == 403
            assert anonymous.get(path, params={"token": "wrong"}).status_code == 403
        page = anonymous.get("/", params={"token": TOKEN})
        assert page.status_code == 200 and "ethoprism" in page.text
        assert anonymous.get("/api/videos").status_code == 200  # the cookie from then on
        assert anonymous.get("/api/videos", headers={"x-token": TOKEN}).status_code == 200


def test_videos_ranges_proxies_and_thumbnails(client):
    client, project, _ = client
    videos = client.get("/api/videos").json()
    assert [v["name"] for v in videos] == ["fly.mp4", "mouse.mp4"] and videos[0]["n_frames"] == 90
    part = client.get("/api/videos/fly.mp4/file", headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"].startswith("bytes 10-109/")
    assert client.get("/api/videos/fly.mp4/file", headers={"Range": "bytes=99999999-"}).status_code == 416
    first = client.get("/api/videos/mouse.mp4/file")  # yuv444p: a proxy is made first, with progress
    deadline = time.time() + 120
    while first.status_code == 202 and time.time() < deadline:
        assert "making_proxy" in first.json()
        time.sleep(0.2)
        first = client.get("/api/videos/mouse.mp4/file", headers={"Range": "bytes=0-"})
    assert first.status_code == 206 and first.content[4:8] == b"ftyp"
    assert client.get("/api/videos/mouse.mp4/proxy").json()["done"] in (0, 90)
    thumb = client.get("/api/videos/fly.mp4/frames/5.jpg")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert client.get("/api/videos/fly.mp4/frames/90.jpg").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/videos/..%2F..%2F..%2Fetc%2Fpasswd/file",
        "/api/videos/%2Fetc%2Fpasswd/file",
        "/api/videos/fly.mp4%2F..%2F..%2Fstore/file",
        "/api/videos/nosuch.mp4/file",
        "/static/..%2Fproject.py",
        "/static/%2Fetc%2Fpasswd",
        "/api/videos/..%252F..%252Fetc%252Fpasswd/file",
    ],
)
def test_no_path_from_the_client_is_ever_served(client, path):
    client, _, _ = client
    response = client.get(path)
    assert response.status_code == 404, (path, response.text)
    assert b"root:" not in response.content


def test_a_symlink_in_the_store_folder_is_not_a_way_out(client, app_store):
    client, _, _ = client
    link = app_store / "_app" / "proxies" / "escape.mp4"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/passwd")
    assert client.get("/api/videos/escape.mp4/file").status_code == 404
    assert client.get("/static/escape.mp4").status_code == 404


BAD_EDITS = [
    (
        {
            "behaviors": ["walk"],
            "bouts": [{"video": "nosuch.mp4", "behavior": "walk", "start_frame": 0, "end_frame": 3}],
        },
        404,
    ),
    (
        {
            "behaviors": ["walk"],
            "bouts": [{"video": "fly.mp4", "behavior": "walk", "start_frame": 0, "end_frame": 90}],
        },
        400,
    ),
    (
        {
            "behaviors": ["walk"],
            "bouts": [{"video": "fly.mp4", "behavior": "walk", "start_frame": 5, "end_frame": 3}],
        },
        400,
    ),
    (
        {
            "behaviors": ["walk"],
            "bouts": [{"video": "fly.mp4", "behavior": "walk", "start_frame": -1, "end_frame": 3}],
        },
        400,
    ),
    (
        {
            "behaviors": ["walk"],
            "bouts": [{"video": "fly.mp4", "behavior": "walk", "start_frame": "0", "end_frame": 3}],
        },
        400,
    ),
    (
        {
            "behaviors": ["walk"],
            "bouts": [{"video": "fly.mp4", "behavior": "jump", "start_frame": 0, "end_frame": 3}],
        },
        400,
    ),
    ({"behaviors": ["walk"], "bouts": [{"video": "fly.mp4", "behavior": "walk"}]}, 400),
    ({"behaviors": ["walk", "walk"], "bouts": []}, 400),
    ({"behaviors": [""], "bouts": []}, 400),
    ({"behaviors": "walk", "bouts": []}, 400),
    ({"behaviors": ["walk"], "bouts": "all"}, 400),
    (
        {
            "behaviors": ["walk", "rest"],
            "bouts": [
                {"video": "fly.mp4", "behavior": "walk", "start_frame": 0, "end_frame": 10},
                {"video": "fly.mp4", "behavior": "rest", "start_frame": 10, "end_frame": 20},
            ],
        },
        409,
    ),
    ([1, 2], 400),
]


def test_label_edits_are_checked_and_saved_atomically(client):
    client, project, path = client
    good = bouts_for_two_videos()
    saved = client.put("/api/labels", json=good)
    assert saved.status_code == 200 and len(saved.json()["bouts"]) == len(good["bouts"])
    on_disk = path.read_bytes()
    assert len(pd.read_csv(path)) == len(good["bouts"])
    for body, status in BAD_EDITS:
        response = client.put("/api/labels", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]
        assert path.read_bytes() == on_disk  # nothing saved
    assert client.put("/api/labels", content=b"{not json").status_code == 400
    smaller = {"behaviors": good["behaviors"], "bouts": good["bouts"][:2]}
    assert client.put("/api/labels", json=smaller).status_code == 200
    history = sorted(path.with_name("labels.history").iterdir())
    assert history[-1].read_bytes() == on_disk  # the version it replaced is kept, numbered

    def order(bouts):
        return sorted(bouts, key=lambda b: (b["video"], b["start_frame"]))

    assert order(Project(project.store.root, path).labels()["bouts"]) == order(smaller["bouts"])  # reloads
    assert not list(path.parent.glob("*.tmp-*"))


def wait_for_metrics(client, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (metrics := client.get("/api/metrics").json()["metrics"]).get("pending"):
        assert time.monotonic() < deadline, "held-out metrics never came"
        time.sleep(0.1)
    return metrics


def test_a_second_training_while_one_runs_is_refused_and_stale_metrics_are_dropped(client):
    client, project, _ = client
    client.put("/api/labels", json=bouts_for_two_videos())
    with project.training:  # as if a training were under way
        refused = client.post("/api/train", json={"head": "linear"})
    assert refused.status_code == 409 and "being trained" in refused.json()["error"]
    first = project.train("linear")
    generation = project._generation
    project.train("linear", wait_for_metrics=True)
    fresh = project.metrics
    assert "map" in fresh and project._generation == generation + 1
    # metrics of the first training, arriving late, must not replace the second's
    project._held_out_metrics("linear", project.model_data, generation)
    assert project.metrics is fresh and first["metrics"]["pending"]


def test_train_predict_suggest_similar_and_export(client):
    client, _, _ = client
    assert client.post("/api/train", json={"head": "linear"}).status_code == 400  # nothing labelled
    assert client.get("/api/suggest").status_code == 409  # no head yet
    assert client.put("/api/labels", json=bouts_for_two_videos()).status_code == 200
    trained = client.post("/api/train", json={"head": "linear"}).json()
    # predictions are there at once; leave-one-video-out metrics follow from a background thread
    assert trained["metrics"] == {"pending": True, "videos": 2}
    assert len(client.get("/api/predictions/fly.mp4").json()["proba"]) == 90
    metrics = wait_for_metrics(client)
    assert metrics["videos"] == 2
    # walk and rest split every labelled frame between them: chance mAP is exactly their mean, 0.5
    assert metrics["chance_map"] == pytest.approx(0.5)
    # the fixture's bouts are arbitrary, not tied to what the videos show: measured 0.554, floor 0.45
    assert metrics["map"] >= 0.45
    assert client.get("/api/predictions/fly.mp4").json()["metrics"] == metrics
    prediction = client.get("/api/predictions/fly.mp4").json()
    assert prediction["behaviors"] == ["walk", "rest"] and len(prediction["proba"]) == 90
    assert client.get("/api/predictions/nosuch.mp4").status_code == 404
    assert client.post("/api/train", json={"head": "svm"}).status_code == 400
    # all labelled: nothing to suggest; drop the mouse's labels and suggestions come from it
    assert client.get("/api/suggest").status_code == 400
    fly_only = bouts_for_two_videos()
    fly_only["bouts"] = [b for b in fly_only["bouts"] if b["video"] == "fly.mp4"]
    client.put("/api/labels", json=fly_only)
    suggestions = client.get("/api/suggest", params={"n": 2}).json()
    assert len(suggestions) == 2 and {s["video"] for s in suggestions} == {"mouse.mp4"}
    assert client.get("/api/suggest", params={"n": 0}).status_code == 400
    hits = client.get("/api/similar", params={"video": "fly.mp4", "start": 0, "end": 14, "k": 3}).json()
    assert 1 <= len(hits) <= 3 and all({"video", "start_frame", "score"} <= set(h) for h in hits)
    assert client.get("/api/similar", params={"video": "fly.mp4", "start": 80, "end": 95}).status_code == 400
    exported = client.get("/api/export/bouts")
    assert pd.read_csv(io.StringIO(exported.text)).equals(pd.DataFrame(fly_only["bouts"]))
    for fmt, name in (("boris", "fly.boris.tsv"), ("deepethogram", "fly_labels.csv"), ("nwb", "fly.nwb")):
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/api/export/{fmt}").content))
        assert name in archive.namelist(), (fmt, archive.namelist())
    assert client.get("/api/export/xls").status_code == 404


SAVE_KILLED = """
import os, signal, sys
import ethoprism.app.project as project_module
from ethoprism.app.project import Project
store, labels, kill_at = sys.argv[1], sys.argv[2], sys.argv[3]
project = Project(store, labels)
def die(step):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
project_module.LABELS_FAULT_HOOK = die
bouts = [dict(video="fly.mp4", behavior="groom", start_frame=40, end_frame=50)]
project.set_labels(["walking", "rest", "groom"], bouts)
"""


@pytest.mark.parametrize("kill_at", ["previous kept", "behaviours written", "labels written"])
def test_kill_9_inside_a_label_save_loses_nothing_saved(app_store, tmp_path, kill_at):
    import subprocess
    import sys

    labels = tmp_path / "labels.csv"
    before = bouts_for_two_videos()
    Project(app_store, labels).set_labels(**before)
    saved = labels.read_bytes()
    run = subprocess.run([sys.executable, "-c", SAVE_KILLED, str(app_store), str(labels), kill_at])
    assert run.returncode == -9
    assert labels.read_bytes() == saved  # the commit (the CSV's rename) never happened
    reloaded = Project(app_store, labels).labels()
    assert len(reloaded["bouts"]) == len(before["bouts"])
    assert {"walk", "rest"} <= set(reloaded["behaviors"])  # every name a bout uses is still there


def _deepethogram_file(tmp_path, project):
    from ethoprism.io.deepethogram import write_deepethogram
    from ethoprism.labels.model import VideoLabels

    targets = np.zeros((project.entries["fly.mp4"].n_frames, 2), np.int8)
    targets[10:20, 0] = 1
    targets[40:50, 1] = 1
    path = tmp_path / "fly_labels.csv"
    write_deepethogram(VideoLabels("fly.mp4", ["walk", "groom"], targets, 30.0, True), path)
    return path


def test_relaunching_with_an_imported_file_keeps_every_edit(app_store, tmp_path):
    """Launch with a DeepEthogram file, add a bout, stop; launch again with the same file: the
    bout is there, the user's file is untouched, and every replaced version is kept."""
    store = tmp_path / "store"
    import shutil

    shutil.copytree(app_store, store, ignore=shutil.ignore_patterns("_app"))
    first = Project(store)
    source = _deepethogram_file(tmp_path, first)
    original = source.read_bytes()
    first = Project(store, source)
    assert any("imported from" in note for note in first.notes)
    labels = first.labels()
    assert len(labels["bouts"]) == 2 and labels["imported_from"] == str(source)
    added = labels["bouts"] + [{"video": "fly.mp4", "behavior": "walk", "start_frame": 60, "end_frame": 70}]
    first.set_labels(labels["behaviors"], added, labels["version"])
    again = Project(store, source)  # a new launch, the same file
    assert any("your edits of" in note for note in again.notes)
    assert len(again.labels()["bouts"]) == 3
    working = Path(again.labels()["file"])
    for end in (71, 72):  # two more saves
        bouts = again.labels()["bouts"]
        bouts[-1] = {**bouts[-1], "end_frame": end}
        again.set_labels(again.behaviors, bouts, again.version)
    assert (
        len(Project(store, source).labels()["bouts"]) == 3
        and Project(store, source).bouts[-1].end_frame == 72
    )
    kept = [pd.read_csv(p) for p in sorted(working.with_name(working.stem + ".history").iterdir())]
    assert [len(t) for t in kept] == [2, 3, 3]  # the import, then each replaced version
    assert [t.end_frame.max() for t in kept][1:] == [70, 71]
    assert source.read_bytes() == original  # the user's file is never written
    # the source changed since the import: the edits stay, and the app says so
    source.write_text(source.read_text().replace("0,1,0", "0,0,1", 1))
    changed = Project(store, source)
    assert len(changed.bouts) == 3 and any("has changed since" in note for note in changed.notes)


def test_the_users_own_columns_survive_autosave(app_store, tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame(
        [
            {
                "video": "fly.mp4",
                "behavior": "walk",
                "start_frame": 0,
                "end_frame": 9,
                "notes": "clear",
                "annotator": "AB",
            },
            {
                "video": "fly.mp4",
                "behavior": "rest",
                "start_frame": 20,
                "end_frame": 29,
                "notes": None,
                "annotator": "CD",
            },
        ]
    ).to_csv(path, index=False)
    project = Project(app_store, path)
    labels = project.labels()
    assert labels["bouts"][0]["notes"] == "clear" and labels["bouts"][1]["notes"] is None
    bouts = labels["bouts"] + [{"video": "fly.mp4", "behavior": "walk", "start_frame": 40, "end_frame": 49}]
    project.set_labels(labels["behaviors"], bouts, labels["version"])
    saved = pd.read_csv(path)
    assert list(saved.columns) == ["video", "behavior", "start_frame", "end_frame", "notes", "annotator"]
    assert saved.notes.tolist()[0] == "clear" and saved.annotator.tolist()[:2] == ["AB", "CD"]
    assert saved.annotator.isna().tolist() == [False, False, True]
    with pytest.raises(BadEdit, match="column 'notes' must hold text or a number"):
        project.set_labels(labels["behaviors"], [{**bouts[0], "notes": {"nested": 1}}])


def test_an_edit_on_stale_labels_is_refused(client):
    client, project, path = client
    good = bouts_for_two_videos()
    first = client.put("/api/labels", json={**good, "base_version": 0})
    assert first.status_code == 200 and first.json()["version"] == 1
    on_disk = path.read_bytes()
    stale = client.put("/api/labels", json={**good, "bouts": good["bouts"][:1], "base_version": 0})
    assert stale.status_code == 409 and "changed since" in stale.json()["error"]
    assert path.read_bytes() == on_disk and len(project.bouts) == len(good["bouts"])
    assert client.put("/api/labels", json={**good, "base_version": "1"}).status_code == 400


def test_overlapping_labels_set_the_mode_at_load(app_store, tmp_path):
    path = tmp_path / "two_behaviours.csv"
    pd.DataFrame(
        [
            {"video": "fly.mp4", "behavior": "walk", "start_frame": 0, "end_frame": 30},
            {"video": "fly.mp4", "behavior": "wing_extension", "start_frame": 10, "end_frame": 20},
        ]
    ).to_csv(path, index=False)
    project = Project(app_store, path)  # no mode named: taken from the file
    assert project.exclusive is False
    bouts = project.labels()["bouts"] + [
        {"video": "fly.mp4", "behavior": "walk", "start_frame": 50, "end_frame": 60}
    ]
    project.set_labels(project.behaviors, bouts, project.version)
    assert len(pd.read_csv(path)) == 3
    with pytest.raises(EthoprismError, match="--multi-label") as info:
        Project(app_store, path, exclusive=True)
    assert str(path) in str(info.value)


def test_a_failed_save_changes_nothing_and_says_why(client, monkeypatch):
    import errno

    import ethoprism.app.project as project_module

    client, project, path = client
    good = bouts_for_two_videos()
    client.put("/api/labels", json=good)
    on_disk, version = path.read_bytes(), project.version

    def read_only(step):
        if step == "behaviours written":
            raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(project_module, "LABELS_FAULT_HOOK", read_only)
    response = client.put("/api/labels", json={**good, "bouts": good["bouts"][:1], "base_version": version})
    assert response.status_code == 503
    assert response.json()["error"] == f"labels not saved: {path}: Read-only file system"
    assert path.read_bytes() == on_disk and project.version == version
    assert client.get("/api/labels").json()["bouts"] == good["bouts"]  # memory holds what is saved
    assert not list(path.parent.glob("*.tmp-*"))


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"text"',
        b"3",
        b"null",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    ],
    ids=["list", "string", "number", "null", "deep-list", "deep-object"],
)
def test_no_body_makes_a_server_error(client, body):
    client, _, _ = client
    for method, url in (("put", "/api/labels"), ("post", "/api/train")):
        response = getattr(client, method)(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (url, response.text[:200])
        assert "JSON object" in response.json()["error"]


def test_training_into_a_store_it_cannot_write_is_one_line(app_store, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(app_store, store, ignore=shutil.ignore_patterns("_app"))
    project = Project(store, tmp_path / "labels.csv")
    project.set_labels(**bouts_for_two_videos())
    (project.folder / "heads").write_text("a file where the heads folder goes")
    with TestClient(create_app(project, TOKEN)) as client:
        client.get("/", params={"token": TOKEN})
        response = client.post("/api/train", json={"head": "linear"})
    assert response.status_code == 503 and "heads" in response.json()["error"]


def test_the_boris_export_uses_the_videos_own_timestamps(client, monkeypatch):
    """A variable-frame-rate video: the export's times are the frames' timestamps, as the CLI's."""
    from ethoprism.store import StoreEntry

    client, project, _ = client
    client.put("/api/labels", json=bouts_for_two_videos())
    real = StoreEntry.timestamps
    monkeypatch.setattr(StoreEntry, "timestamps", lambda self: real(self) * 1.5)  # slower in places
    archive = zipfile.ZipFile(io.BytesIO(client.get("/api/export/boris").content))
    events = pd.read_csv(archive.open("fly.boris.tsv"), sep="\t")
    starts = events[events["Behavior type"] == "START"]["Time"].tolist()
    expected = real(project.entries["fly.mp4"]) * 1.5
    fly = [b for b in bouts_for_two_videos()["bouts"] if b["video"] == "fly.mp4"]
    assert sorted(starts) == pytest.approx(sorted(round(float(expected[b["start_frame"]]), 3) for b in fly))


def test_the_app_command_refuses_bad_ports_in_one_line(app_store):
    import socket

    from typer.testing import CliRunner

    from ethoprism.cli import app

    for port in ("-1", "70000", "0"):
        result = CliRunner().invoke(app, ["app", str(app_store), "--port", port])
        assert result.exit_code == 2 and "--port must be 1 to 65535" in result.output
        assert "Traceback" not in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["app", str(app_store), "--port", str(port)])
    assert result.exit_code == 2 and f"cannot serve on 127.0.0.1:{port}" in result.output
    assert len(result.output.strip().splitlines()) <= 2  # the note on the labels file, the error


def test_export_keeps_videos_that_share_a_stem_apart(tmp_path):
    """clip.mp4 and clip.mkv in one store: two files in each export zip, not one overwritten."""
    from conftest import write_video
    from ethoprism.backbones import load_backbone
    from ethoprism.clips import ClipSpec
    from ethoprism.extract import extract_video
    from ethoprism.store import EmbeddingStore

    store, backbone = EmbeddingStore(tmp_path / "store"), load_backbone("effnet-lite0")
    for name, seed in (("clip.mp4", 0), ("clip.mkv", 1)):
        video = write_video(tmp_path / name, n_frames=12, height=64, width=64, seed=seed)
        extract_video(video, backbone, store, ClipSpec(frames=12, size=64, overlap=0))
    project = Project(store.root, tmp_path / "labels.csv")
    bouts = [
        {"video": video, "behavior": "walk", "start_frame": 2, "end_frame": 5}
        for video in ("clip.mp4", "clip.mkv")
    ]
    project.set_labels(["walk"], bouts)
    with TestClient(create_app(project, TOKEN)) as client:
        client.get("/", params={"token": TOKEN})
        for fmt in ("boris", "deepethogram"):
            names = zipfile.ZipFile(io.BytesIO(client.get(f"/api/export/{fmt}").content)).namelist()
            assert len(names) == 2 and len(set(names)) == 2, names


def test_discovered_motifs_are_served_as_bouts_per_video(app_store, app_motifs, tmp_path):
    project = Project(app_store, tmp_path / "labels.csv", motifs_dir=app_motifs)
    with TestClient(create_app(project, TOKEN)) as client:
        client.get("/", params={"token": TOKEN})
        motifs = client.get("/api/motifs").json()
    assert motifs["n_motifs"] == 2 and len(motifs["colours"]) == 2
    for video in ("fly.mp4", "mouse.mp4"):
        bouts = motifs["bouts"][video]
        assert bouts[0][1] == 0 and bouts[-1][2] == 89  # the whole video, bout after bout
        assert all(b[1] == a[2] + 1 for a, b in zip(bouts, bouts[1:]))
    table = pd.read_csv(app_motifs / "fly.motifs.csv")
    assert [b[0] for b in motifs["bouts"]["fly.mp4"]][0] == table["motif"].iloc[0]
    with TestClient(create_app(Project(app_store, tmp_path / "l2.csv"), TOKEN)) as client:
        client.get("/", params={"token": TOKEN})
        assert client.get("/api/motifs").json()["n_motifs"] == 0  # none given: an empty band
    with pytest.raises(EthoprismError, match="discover"):
        Project(app_store, tmp_path / "l3.csv", motifs_dir=tmp_path)  # no motif tables there


def test_per_animal_labels_name_their_animal_and_train_per_animal(animal_store, tmp_path):
    from ethoprism.app.project import BadEdit, Project

    labels = pd.read_csv(animal_store["labels"])
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    project = Project(animal_store["store"], path)
    assert project.per_animal and {v["name"]: v["animals"] for v in project.videos()} == {
        "fly_part0.mp4": ["female", "male"],
        "fly_part1.mp4": ["female", "male"],
    }
    # a bouts CSV with an animal column: every bout keeps its animal
    assert {(b.video, b.animal) for b in project.bouts} == set(zip(labels.video, labels.animal))
    boxes = project.animal_boxes("fly_part0.mp4", 10)
    assert [b["animal"] for b in boxes] == ["female", "male"] and boxes[0]["x1"] > boxes[0]["x0"]
    behaviors = project.behaviors
    bout = {"video": "fly_part0.mp4", "behavior": behaviors[0], "start_frame": 0, "end_frame": 5}
    with pytest.raises(BadEdit, match="say whose behaviour it is: 'animal' must be one of female, male"):
        project.set_labels(behaviors, [bout])
    # two animals may do one exclusive behaviour at once; one animal may not do two
    both = [{**bout, "animal": "female"}, {**bout, "animal": "male"}]
    project.set_labels(behaviors, both)
    if project.exclusive and len(behaviors) > 1:
        with pytest.raises(BadEdit, match="overlap in 'fly_part0.mp4' for male"):
            project.set_labels(behaviors, [*both, {**both[1], "behavior": behaviors[1]}])
    saved = pd.read_csv(project.labels_path)
    assert list(saved.columns[:2]) == ["video", "animal"] and set(saved.animal) == {"female", "male"}
    # train on per-animal rows; predictions per animal, absent frames null
    original = [
        {
            "video": r.video,
            "animal": r.animal,
            "behavior": r.behavior,
            "start_frame": r.start_frame,
            "end_frame": r.end_frame,
        }
        for r in labels.itertuples()
    ]
    project.set_labels(behaviors, original)
    result = project.train("linear", wait_for_metrics=True)
    assert result["metrics"]["videos"] == 2 and "map" in result["metrics"]
    shown = project.prediction("fly_part1.mp4")
    assert set(shown["animals"]) == {"female", "male"} and len(shown["animals"]["male"]) == 48
    assert {b["animal"] for b in shown["bouts"]} <= {"female", "male"}
    picks = project.suggest(3)
    assert picks and all(p["animal"] in ("female", "male") for p in picks)
    # relaunched on the app's own file: the same bouts, with their animals
    again = Project(animal_store["store"], project.labels_path)
    assert [b.as_dict() for b in again.bouts] == [b.as_dict() for b in project.bouts]


def test_per_animal_motifs_are_served_with_their_animal(animal_store, tmp_path):
    from typer.testing import CliRunner

    from ethoprism.cli import app

    out = tmp_path / "motifs"
    args = ["discover", str(animal_store["store"]), "--out", str(out), "--motifs", "2", "--no-movies"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    project = Project(animal_store["store"], tmp_path / "labels.csv", motifs_dir=out)
    bouts = project.motifs["bouts"]["fly_part0.mp4"]
    assert {b[3] for b in bouts} == {"female", "male"}
    table = pd.read_csv(out / "fly_part0.motifs.csv")
    for animal in ("female", "male"):  # each animal's bouts tile its own frames, in order
        mine = [b for b in bouts if b[3] == animal]
        assert mine[0][1] == 0 and mine[-1][2] == table[table.animal == animal].frame.max()
        assert all(a[2] + 1 == b[1] for a, b in zip(mine, mine[1:]))
    with pytest.raises(EthoprismError, match="motifs are per animal.*--whole-frame"):
        Project(animal_store["store"], tmp_path / "l2.csv", subject="female", motifs_dir=out)
