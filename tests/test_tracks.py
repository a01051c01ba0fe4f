"""Per-animal embeddings: each animal's box pooled from the same pass's token map, per frame it
is present, stored with the tracks' provenance; another track set is another entry."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import write_video
from ethoprism.backbones import load_backbone
from ethoprism.cli import app
from ethoprism.clips import ClipSpec
from ethoprism.extract import extract_video
from ethoprism.io.tracks import read_tracks
from ethoprism.localization.geometry import to_input
from ethoprism.store import EmbeddingStore
from ethoprism.tracks import box_weights

SPEC = ClipSpec(frames=8, size=128, overlap=0)


def _tracks_csv(path, shift=0):
    rows = [("v.mp4", f, "left", 2 + shift, 10, 60, 90) for f in range(24)]
    rows += [("v.mp4", f, "right", 70, 20, 126, 80) for f in range(24) if not 8 <= f < 18]  # away 10 frames
    pd.DataFrame(rows, columns=["video", "frame", "animal", "x1", "y1", "x2", "y2"]).to_csv(path, index=False)
    return path


def test_animal_embeddings_are_the_token_map_pooled_in_each_box(tmp_path):
    video = write_video(tmp_path / "v.mp4", n_frames=24, height=96, width=128)
    info = {"v.mp4": {"n_frames": 24, "width": 128, "height": 96}}
    tracks = read_tracks([_tracks_csv(tmp_path / "t.csv")], info)["v.mp4"]
    store = EmbeddingStore(tmp_path / "s")
    backbone = load_backbone("effnet-lite0")
    entry, hit = extract_video(video, backbone, store, SPEC, token_step=1, chunk_frames=8, tracks=tracks)
    assert not hit and entry.animals == ["left", "right"]
    frames, animals = entry.animal_rows()
    vectors = entry.animal_embeddings()
    assert len(frames) == 24 + 14 and vectors.shape == (38, backbone.embed_dim)
    assert not ((animals == 1) & (frames >= 8) & (frames < 18)).any()  # absent: no row, never zeros
    maps, map_frames = entry.tokens()
    assert map_frames.tolist() == list(range(24))
    h, w = maps.shape[1:3]
    for row in (0, 5, len(frames) - 1):
        box = tracks.boxes[(tracks.frame == frames[row]) & (tracks.animal == animals[row])]
        weights = box_weights(to_input(box, 128, 96, SPEC.size, SPEC.square), h, w, SPEC.size)[0]
        expected = np.einsum("hw,hwd->d", weights, maps[frames[row]].astype(np.float32))
        np.testing.assert_allclose(vectors[row], expected, rtol=2e-2, atol=2e-2)  # maps are stored fp16
    assert not np.allclose(vectors[animals == 0][0], vectors[animals == 1][0])
    # the frame embeddings are the same as an extraction without tracks
    plain, _ = extract_video(video, backbone, EmbeddingStore(tmp_path / "plain"), SPEC, token_step=1)
    np.testing.assert_array_equal(entry.embeddings(), plain.embeddings())
    # provenance: the tracks file and a digest of the tracks; another track set is another entry
    record = entry.provenance.tracks
    assert record["file"] == "t.csv" and record["animals"] == ["left", "right"] and record["digest"]
    _, hit = extract_video(video, backbone, store, SPEC, token_step=1, tracks=tracks)
    assert hit
    moved = read_tracks([_tracks_csv(tmp_path / "t2.csv", shift=30)], info)["v.mp4"]
    other, hit = extract_video(video, backbone, store, SPEC, token_step=1, tracks=moved)
    assert not hit and other.path != entry.path and len(store.entries()) == 2
    assert not np.allclose(other.animal_embeddings()[0], vectors[0])
    np.testing.assert_array_equal(entry.animal_embeddings(), vectors)  # the first set is untouched


def test_extract_with_tracks_from_the_cli(tmp_path):
    video = write_video(tmp_path / "v.mp4", n_frames=24, height=96, width=128)
    store = tmp_path / "s"
    tracks = _tracks_csv(tmp_path / "t.csv")
    result = CliRunner().invoke(
        app,
        [
            "extract",
            str(video),
            "--store",
            str(store),
            "--size",
            "128",
            "--frames",
            "8",
            "--tracks",
            str(tracks),
        ],
    )
    assert result.exit_code == 0, result.output
    (entry,) = EmbeddingStore(store).select()
    assert entry.animals == ["left", "right"]
    shown = CliRunner().invoke(app, ["info", str(store)]).output
    assert "left (100% of frames), right (58% of frames); pooled embeddings from t.csv" in shown
    # a tracks file for another video: one line, nothing stored
    other = tmp_path / "other.csv"
    pd.read_csv(tracks).assign(video="w.mp4").to_csv(other, index=False)
    result = CliRunner().invoke(
        app, ["extract", str(video), "--store", str(tmp_path / "s2"), "--tracks", str(other)]
    )
    assert result.exit_code == 2 and "matches none of the videos given" in result.output
    assert not (tmp_path / "s2").exists() or not list((tmp_path / "s2").rglob("*.h5"))


def test_a_killed_extraction_with_tracks_resumes_to_the_same_rows(tmp_path):
    video = write_video(tmp_path / "v.mp4", n_frames=24, height=96, width=128)
    info = {"v.mp4": {"n_frames": 24, "width": 128, "height": 96}}
    tracks = read_tracks([_tracks_csv(tmp_path / "t.csv")], info)["v.mp4"]
    backbone = load_backbone("effnet-lite0")
    store = EmbeddingStore(tmp_path / "s")

    def stop(step):
        if step == "chunk 1 committed":
            raise KeyboardInterrupt(step)

    store.fault_hook = stop
    with pytest.raises(KeyboardInterrupt):
        extract_video(video, backbone, store, SPEC, batch_size=1, chunk_frames=8, tracks=tracks)
    store.fault_hook = None
    assert store.partials()[0].progress() == (2, 3)
    resumed, _ = extract_video(video, backbone, store, SPEC, batch_size=1, chunk_frames=8, tracks=tracks)
    whole, _ = extract_video(
        video, backbone, EmbeddingStore(tmp_path / "w"), SPEC, batch_size=1, chunk_frames=8, tracks=tracks
    )
    for a, b in zip(resumed.animal_rows(), whole.animal_rows()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(resumed.animal_embeddings(), whole.animal_embeddings())


def test_social_features_see_the_nearest_other_animal_and_who_approaches_whom():
    from ethoprism.dataset import SOCIAL_FEATURES, social_features

    # A walks right toward B, which stands still at the right; C appears on frame 5 far away
    frames, ids, boxes = [], [], []
    for f in range(10):
        for k, (x, y) in enumerate([(10 + 5 * f, 50), (90, 50), (10, 5)]):
            if k == 2 and f < 5:
                continue
            frames.append(f)
            ids.append(k)
            boxes.append([x - 2, y - 2, x + 2, y + 2])
    features, others = social_features(np.array(frames), np.array(ids), np.array(boxes, float), 3, 100, 100)
    partner = others[:, 0]
    column = {name: features[:, k] for k, name in enumerate(SOCIAL_FEATURES)}
    rows = {(f, k): r for r, (f, k) in enumerate(zip(frames, ids))}
    a, b = rows[(4, 0)], rows[(4, 1)]
    assert partner[a] == b and partner[b] == a  # each other's nearest
    # every other animal on the frame, nearest first; -1 where fewer are present (C comes at 5)
    assert others[a].tolist() == [b, -1]
    assert others[rows[(6, 0)]].tolist() == [rows[(6, 1)], rows[(6, 2)]]
    assert others[rows[(6, 2)]].tolist() == [rows[(6, 0)], rows[(6, 1)]]  # A (40, 50) is nearer C
    assert column["toward_other"][a] == pytest.approx(1.0) and column["other_toward_me"][b] == pytest.approx(
        1.0
    )
    assert column["toward_other"][b] == 0.0 and column["other_toward_me"][a] == 0.0  # B stands still
    assert column["other_dx"][a] > 0 and column["other_present"][a] == 1.0
    alone = social_features(np.array([0, 1]), np.array([0, 0]), np.array([[0, 0, 4, 4.0]] * 2), 1, 100, 100)
    assert (alone[1] == -1).all() and (alone[0][:, 1:] == 0).all()
