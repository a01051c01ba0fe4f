"""Tracks files: SLEAP, DeepLabCut multi-animal, boxes CSV, localize output; matched to videos;
messy tracks (gaps, NaN keypoints) and bad ones (another video, outside the frame) handled."""

import numpy as np
import pandas as pd
import pytest

from conftest import FLY_CLIP, needs_shared
from ethoprism.errors import EthoprismError
from ethoprism.io.tracks import read_tracks
from ethoprism.tracks import MAX_GAP, box_weights

VIDEOS = {"arena.mp4": {"n_frames": 30, "width": 100, "height": 80}}


def _boxes_csv(path, rows):
    pd.DataFrame(rows, columns=["video", "frame", "animal", "x1", "y1", "x2", "y2"]).to_csv(path, index=False)
    return path


@needs_shared(FLY_CLIP)
def test_the_real_sleap_fly_clip():
    tracks = read_tracks(
        [FLY_CLIP.with_suffix(".slp")], {"clip.mp4": {"n_frames": 1500, "width": 1024, "height": 1024}}
    )
    fly = tracks["clip.mp4"]
    assert fly.animals == ["female", "male"] and len(fly) == 3000
    assert fly.coverage(1500) == {"female": 1.0, "male": 1.0} and not fly.interpolated.any()
    assert (fly.boxes[:, 2] > fly.boxes[:, 0]).all() and fly.boxes.max() <= 1024
    assert fly.to_dict()["file"] == "clip.slp" and len(fly.to_dict()["file_sha256"]) == 64


def test_a_boxes_csv_with_gaps(tmp_path):
    rows = [("arena.mp4", f, "resident", 10, 10, 40, 30) for f in range(0, 10)]
    rows += [("arena.mp4", f, "resident", 10 + f, 10, 40 + f, 30) for f in range(13, 20)]  # 3-frame gap
    rows += [("arena.mp4", f, "intruder", 50, 40, 90, 70) for f in (0, 1, 2, 20, 21)]  # 17-frame gap
    tracks = read_tracks([_boxes_csv(tmp_path / "t.csv", rows)], VIDEOS)["arena.mp4"]
    assert tracks.animals == ["intruder", "resident"]
    resident = tracks.frame[tracks.animal == 1]
    assert resident.tolist() == list(range(20)) and tracks.interpolated[tracks.animal == 1].sum() == 3
    filled = tracks.boxes[(tracks.animal == 1) & (tracks.frame == 11)][0]
    np.testing.assert_allclose(filled, [10 + 13 * 2 / 4, 10, 40 + 13 * 2 / 4, 30])  # linear between 9 and 13
    assert tracks.frame[tracks.animal == 0].tolist() == [0, 1, 2, 20, 21]  # a long gap stays a gap
    assert any("3 missing frames interpolated" in note for note in tracks.notes) and MAX_GAP == 5
    assert tracks.coverage(30)["intruder"] == pytest.approx(5 / 30)


def test_localize_output_and_deeplabcut_multi_animal(tmp_path):
    boxes = pd.DataFrame(
        {
            "video": "arena.mp4",
            "frame": [0, 0, 1],
            "track": [0, 1, 0],
            "x0": 1.0,
            "y0": 1.0,
            "x1": 9.0,
            "y1": 9.0,
        }
    )
    boxes.to_csv(tmp_path / "boxes.csv", index=False)
    tracks = read_tracks([tmp_path / "boxes.csv"], VIDEOS)["arena.mp4"]
    assert tracks.animals == ["track0", "track1"] and len(tracks) == 3
    boxes.assign(track=-1).to_csv(tmp_path / "boxes.csv", index=False)
    with pytest.raises(EthoprismError, match="without identities"):
        read_tracks([tmp_path / "boxes.csv"], VIDEOS)
    levels = [["DLC_dlcrnetms5"], ["mouse1", "mouse2"], ["snout", "tail"], ["x", "y", "likelihood"]]
    columns = pd.MultiIndex.from_product(levels, names=["scorer", "individuals", "bodyparts", "coords"])
    values = [
        [10, 10, 1, 30, 40, 1, 60, 50, 1, 80, 70, 1],
        [11, 10, 1, 31, 40, 1, np.nan, np.nan, 0, 80, 70, 1],
    ]
    pd.DataFrame(values, columns=columns).to_csv(tmp_path / "arenaDLC_dlcrnetms5.csv")
    tracks = read_tracks([tmp_path / "arenaDLC_dlcrnetms5.csv"], VIDEOS)["arena.mp4"]
    assert tracks.animals == ["mouse1", "mouse2"]
    # mouse2 has one confident point on frame 1 (NaN keypoints are missing ones): absent there
    assert list(zip(tracks.frame, tracks.animal)) == [(0, 0), (0, 1), (1, 0)]


@pytest.mark.parametrize(
    "rows, problem",
    [
        ([("other.mp4", 0, "a", 1, 1, 9, 9)], "matches none of the videos given"),
        ([("arena.mp4", 30, "a", 1, 1, 9, 9)], "tracks reach frame 30 but 'arena.mp4' has 30 frames"),
        ([("arena.mp4", 0, "a", 1, 1, 190, 9)], "outside the 100x80 frame"),
        ([("arena.mp4", 0, "mouse A", 1, 1, 9, 9)], "has spaces or characters"),
        ([("arena.mp4", 0, "Maus\u00e9", 1, 1, 9, 9)], "has spaces or characters"),
        ([("arena.mp4", 0, "a", 1, 1, 9, 9), ("arena.mp4", 0, "a", 2, 2, 9, 9)], "has two boxes on frame 0"),
        ([("arena.mp4", 0, "a", "x", 1, 9, 9)], "x1 values"),
    ],
)
def test_bad_tracks_are_one_clear_error(tmp_path, rows, problem):
    path = _boxes_csv(tmp_path / "t.csv", rows)
    with pytest.raises(EthoprismError, match=problem) as info:
        read_tracks([path], VIDEOS)
    assert str(path) in str(info.value)


def test_two_files_for_one_video_and_unknown_formats(tmp_path):
    one = _boxes_csv(tmp_path / "one.csv", [("arena.mp4", 0, "a", 1, 1, 9, 9)])
    two = _boxes_csv(tmp_path / "two.csv", [("arena.mp4", 1, "b", 1, 1, 9, 9)])
    with pytest.raises(EthoprismError, match="a second tracks file for video 'arena.mp4'"):
        read_tracks([one, two], VIDEOS)
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(EthoprismError, match="unknown tracks format"):
        read_tracks([tmp_path / "t.txt"], VIDEOS)
    with pytest.raises(EthoprismError, match="does not exist"):
        read_tracks([tmp_path / "none.slp"], VIDEOS)


def test_box_weights_average_the_box():
    weights = box_weights(np.array([[0, 0, 32, 32], [16, 16, 48, 48], [-50, -50, -10, -10]]), 2, 2, 64)
    np.testing.assert_allclose(weights.sum(axis=(1, 2)), 1, atol=1e-6)
    np.testing.assert_allclose(weights[0], [[1, 0], [0, 0]])
    np.testing.assert_allclose(weights[1], np.full((2, 2), 0.25))
    np.testing.assert_allclose(weights[2], [[1, 0], [0, 0]], atol=1e-6)  # off the crop: the nearest cell
