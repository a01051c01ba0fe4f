"""Whom a directed behaviour is directed at: the pair geometry, the learned choice against the
nearest-animal rule and chance, and the MABe-style pair F1 (a wrong target is a miss and a false
positive)."""

import numpy as np
import pytest

from ethoprism.dataset import PAIR_FEATURES, FrameDataset, pair_features
from ethoprism.evaluation.targets import runs, target_metrics
from ethoprism.heads.targets import TargetChooser, nearest_over_bout

SIZE = 200


def three_animal_video(seed: int, n_frames: int = 400):
    """Animal 0 now and then approaches one of the two others, picked at random (the far one as
    often as the near one); the others wander. -> (frames, ids, boxes, approach [n_frames],
    target [n_frames], -1 outside the approaches)."""
    rng = np.random.default_rng(seed)
    position = rng.uniform(30, 170, (3, 2))
    heading = rng.uniform(0, 2 * np.pi, 3)
    centres = np.zeros((n_frames, 3, 2))
    target = np.full(n_frames, -1)
    t = 0
    while t < n_frames:
        length = int(rng.integers(15, 30))
        if rng.random() < 0.5:
            target[t : t + length] = rng.integers(1, 3)
        for step in range(t, min(t + length, n_frames)):
            heading += rng.normal(0, 0.3, 3)
            velocity = 1.5 * np.stack([np.cos(heading), np.sin(heading)], axis=1)
            if target[step] > 0:
                toward = position[target[step]] - position[0]
                velocity[0] = 3.0 * toward / max(np.linalg.norm(toward), 1e-9)
            position = np.clip(position + velocity, 10, SIZE - 10)
            centres[step] = position
        t += length
    frames = np.repeat(np.arange(n_frames), 3)
    ids = np.tile(np.arange(3), n_frames)
    flat = centres.reshape(-1, 2)
    boxes = np.concatenate([flat - 5, flat + 5], axis=1)
    return frames, ids, boxes, target > 0, target


def agent_dataset(n_videos: int = 4) -> FrameDataset:
    """Animal 0's rows of ``n_videos`` simulated videos, its approaches labelled with their target."""
    parts = []
    for video in range(n_videos):
        frames, ids, boxes, approach, target = three_animal_video(video)
        pairs = pair_features(frames, ids, boxes, 3, SIZE, SIZE)[ids == 0]
        parts.append((pairs, approach, target))
    n = [len(p[1]) for p in parts]
    return FrameDataset(
        X=np.zeros((sum(n), 4), np.float32),
        Y=np.concatenate([p[1] for p in parts]).astype(np.int8)[:, None],
        groups=np.repeat(np.arange(n_videos), n),
        frames=np.concatenate([np.arange(k) for k in n]),
        times=np.concatenate([np.arange(k) / 30 for k in n]),
        videos=[f"v{k}.mp4" for k in range(n_videos)],
        behaviors=["approach"],
        exclusive=False,
        provenance=None,
        fps=[30.0] * n_videos,
        animals=["animal0"] * n_videos,
        pairs=np.concatenate([p[0] for p in parts]),
        tracked={f"v{k}.mp4": ["animal0", "animal1", "animal2"] for k in range(n_videos)},
        target_of=np.concatenate([p[2] for p in parts]).astype(np.int16)[:, None],
    )


def test_pair_features_see_every_other_animal_and_who_closes_in():
    # animal 0 runs at animal 2 (far), animal 1 stands near
    frames = np.repeat(np.arange(6), 3)
    ids = np.tile(np.arange(3), 6)
    centres = np.array([[[10 + 4 * t, 50], [14, 58], [80, 50]] for t in range(6)], float).reshape(-1, 2)
    boxes = np.concatenate([centres - 2, centres + 2], axis=1)
    pairs = pair_features(frames, ids, boxes, 3, 100, 100)
    assert pairs.shape == (18, 3, len(PAIR_FEATURES))
    column = {name: k for k, name in enumerate(PAIR_FEATURES)}
    mine = pairs[ids == 0]
    assert np.isnan(mine[:, 0]).all()  # not a candidate for itself
    assert (mine[:2, 1, column["nearness_rank"]] == 0).all() and (
        mine[:2, 2, column["nearness_rank"]] == 1
    ).all()
    assert (mine[:, 2, column["toward_other"]] > 0.99).all()  # it moves straight at animal 2
    assert (mine[:, 2, column["closing_speed"]] > 0).all()  # and they come together
    assert mine[3, 2, column["distance"]] == pytest.approx(np.hypot(80 - 22, 0) / np.hypot(100, 100))
    # an absent animal is no candidate on that frame
    pairs = pair_features(frames[:-1], ids[:-1], boxes[:-1], 3, 100, 100)
    assert np.isnan(pairs[-1, 2]).all() and not np.isnan(pairs[-1, 0]).any()


def test_the_learned_choice_finds_the_far_target_the_nearest_rule_misses():
    data = agent_dataset()
    bouts = runs(np.where(data.Y[:, 0] > 0, data.target_of[:, 0], -1), data)
    nearest_right = np.mean([nearest_over_bout(data.pairs[b]) == data.target_of[b[0], 0] for b in bouts])
    assert len(bouts) > 20 and nearest_right < 0.8  # the near animal is often not the one approached
    # perfect behaviour predictions: only the target can go wrong
    result = {
        "pred": data.Y.copy(),
        "scored": np.ones(len(data.Y), bool),
        "metrics": {"folds": [{"test_videos": [v]} for v in data.videos], "splitter": "LeaveOneGroupOut"},
    }
    metrics = target_metrics(data, result)
    approach = metrics["per_behavior"]["approach"]
    assert approach["bouts"] == len(bouts) and approach["chance"] == pytest.approx(0.5)
    assert approach["nearest_accuracy"] == pytest.approx(nearest_right)
    # measured 0.96 (the nearest rule: 0.78, chance 0.5): learned on the other videos' bouts
    assert (
        approach["target_accuracy"] > 0.9 and approach["target_accuracy"] > approach["nearest_accuracy"] + 0.1
    )
    # the frames of a bout given the wrong target are a false positive and a miss (MABe's
    # scoring): the behaviour itself is predicted perfectly, pair F1 measured 0.86
    assert 0.8 < approach["pair_f1"] < 1
    chooser = TargetChooser().fit(data.pairs, data.target_of, data.behaviors)
    assert set(chooser.to_dict()["approach"]) == {"rule", "mean", "scale", "coef", "intercept"}


def test_a_behaviour_without_a_choice_keeps_the_nearest_rule():
    data = agent_dataset(2)
    two = data.pairs.copy()
    two[:, 2] = np.nan  # animal 2 never there: every bout has one candidate
    chooser = TargetChooser().fit(two, np.where(data.target_of > 0, 1, -1), data.behaviors)
    assert chooser.to_dict() == {"approach": {"rule": "nearest"}}
    assert chooser.choose("approach", two[:20]) == 1
    assert chooser.choose("approach", np.full((5, 3, len(PAIR_FEATURES)), np.nan)) == -1  # nobody else
    assert TargetChooser().fit(data.pairs, np.full_like(data.target_of, -1), ["approach"]).directed == []
