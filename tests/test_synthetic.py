import json

import numpy as np

from ethoprism.synthetic import BEHAVIORS, SyntheticConfig, generate
from ethoprism.video import VideoReader


def test_generator_is_deterministic_and_has_exact_ground_truth(tmp_path):
    config = SyntheticConfig(n_videos=2, n_frames=120, size=64, n_animals=2, seed=7, rare_videos=1.0)
    a = generate(tmp_path / "a", config)
    b = generate(tmp_path / "b", config)
    for va, vb in zip(a, b):
        np.testing.assert_array_equal(va.labels.targets, vb.labels.targets)
        np.testing.assert_array_equal(va.boxes, vb.boxes)
        frames_a = VideoReader(va.path).read_frames([0, 60])
        frames_b = VideoReader(vb.path).read_frames([0, 60])
        np.testing.assert_array_equal(frames_a, frames_b)
    video = a[0]
    assert VideoReader(video.path).n_frames == 120
    assert video.labels.behaviors == BEHAVIORS and video.labels.exclusive
    assert (video.labels.targets.sum(axis=1) <= 1).all()
    assert video.labels.targets[:, BEHAVIORS.index("shake")].any()  # the planted rare behaviour
    # fast behaviour: any jump bout lasts 3-5 frames
    from ethoprism.labels import bouts_from_mask

    for start, end in bouts_from_mask(
        np.concatenate([v.labels.targets[:, BEHAVIORS.index("jump")] for v in a])
    ):
        assert 3 <= end - start + 1 <= 5 or start == 0 or end == 119
    assert video.boxes.shape == (120, 2, 4)
    assert (video.boxes[..., 2] > video.boxes[..., 0]).all() and (video.boxes[..., 2] <= 64).all()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["behaviors"] == BEHAVIORS and len(manifest["videos"]) == 2
    coco = json.loads((tmp_path / "a" / "boxes.json").read_text())
    assert len(coco["annotations"]) == 2 * 120 * 2


def test_boxes_enclose_the_dark_animal(tmp_path):
    (video,) = generate(
        tmp_path, SyntheticConfig(n_videos=1, n_frames=30, size=96, noise=0.0, lighting_change=False)
    )
    frame = VideoReader(video.path).read_frames([10])[0].astype(float)
    x0, y0, x1, y1 = video.boxes[10, 0].astype(int)
    inside = frame[y0:y1, x0:x1].mean()
    assert inside < frame.mean() - 10  # the animal is darker than the arena


def test_several_animals_have_their_own_ground_truth_and_tracks(tmp_path):
    import pandas as pd

    from ethoprism.io.tracks import read_tracks
    from ethoprism.synthetic import animal_name

    config = SyntheticConfig(n_videos=1, n_frames=200, size=64, n_animals=3, others_behave=True, seed=5)
    (video,) = generate(tmp_path, config)
    assert [lab.subject for lab in video.animal_labels] == ["animal0", "animal1", "animal2"]
    np.testing.assert_array_equal(video.animal_labels[0].targets, video.labels.targets)
    # each animal follows its own schedule: the others groom and rear too, not only walk
    for labels in video.animal_labels[1:]:
        assert (
            labels.targets[:, BEHAVIORS.index("groom")].any()
            or labels.targets[:, BEHAVIORS.index("rear")].any()
        )
        assert (labels.targets != video.labels.targets).any()
    bouts = pd.read_csv(tmp_path / "animal_labels.csv")
    assert set(bouts.animal) == {animal_name(k) for k in range(3)}
    mine = bouts[(bouts.animal == "animal2")]
    rebuilt = np.zeros_like(video.animal_labels[2].targets)
    for row in mine.itertuples():
        rebuilt[row.start_frame : row.end_frame + 1, BEHAVIORS.index(row.behavior)] = 1
    np.testing.assert_array_equal(rebuilt, video.animal_labels[2].targets)
    tracks = read_tracks(
        [tmp_path / "tracks.csv"], {video.path.name: {"n_frames": 200, "width": 64, "height": 64}}
    )
    found = tracks[video.path.name]
    assert found.animals == ["animal0", "animal1", "animal2"] and len(found) == 3 * 200
    np.testing.assert_allclose(found.boxes[found.animal == 1], video.boxes[:, 1], atol=0.06)
    # without others_behave the other animals only walk and rest (the single-subject set is unchanged)
    (plain,) = generate(
        tmp_path / "plain", SyntheticConfig(n_videos=1, n_frames=200, size=64, n_animals=3, seed=5)
    )
    np.testing.assert_array_equal(plain.labels.targets, video.labels.targets)
    walking_only = plain.animal_labels[1].targets
    assert set(np.flatnonzero(walking_only.any(axis=0))) <= {BEHAVIORS.index("walk")}
