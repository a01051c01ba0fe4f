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
