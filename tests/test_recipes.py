"""Choosing a recipe by cross-validation: each held-out video's recipe is chosen on the other
videos only, so the choice's score is not the best row of the table."""

import numpy as np
import pytest

from ethoprism.dataset import FrameDataset
from ethoprism.errors import EthoprismError
from ethoprism.evaluation.recipes import best_overall, choose_by_other_folds

VIDEOS = ["a", "b", "c"]
FRAMES = 40


def dataset(y=None):
    truth = np.tile(np.repeat([0, 1], 10), 2 * len(VIDEOS))[:, None].astype(np.int8) if y is None else y
    groups = np.repeat(np.arange(len(VIDEOS)), FRAMES)
    frames = np.tile(np.arange(FRAMES), len(VIDEOS))
    return FrameDataset(
        np.zeros((len(groups), 2), np.float32),
        truth,
        groups,
        frames,
        frames / 10.0,
        VIDEOS,
        ["walk"],
        False,
        None,
        [10.0] * len(VIDEOS),
    )


def result(data, proba):
    proba = proba[:, None].astype(np.float32)
    return {
        "metrics": {
            "folds": [{"test_videos": [v]} for v in VIDEOS],
            "splitter": "LeaveOneGroupOut",
            "map": float("nan"),
        },
        "proba": proba,
        "pred": (proba > 0.5).astype(np.int8),
        "scored": np.ones(len(proba), bool),
        "truth": data.Y.copy(),
    }


def test_each_held_out_video_gets_the_recipe_that_won_elsewhere():
    data = dataset()
    truth = data.Y[:, 0].astype(float)
    on_c = data.groups == 2
    # 'sharp' is perfect on a and b and inverted on c; 'blunt' is right but unsure everywhere
    sharp = np.where(on_c, 1 - truth, truth)
    blunt = 0.4 + 0.2 * truth + np.random.default_rng(0).uniform(-0.15, 0.15, len(truth))
    results = {"sharp": result(data, sharp), "blunt": result(data, blunt)}
    chosen = choose_by_other_folds(results, {"sharp": data, "blunt": data})
    picks = {tuple(f["test_videos"]): f["recipe"] for f in chosen["metrics"]["folds"]}
    # c's choice saw only a and b, where 'sharp' is perfect: c gets its inverted scores
    assert picks[("c",)] == "sharp"
    np.testing.assert_array_equal(chosen["proba"][on_c, 0], sharp[on_c])
    # a's choice saw b (perfect) and c (inverted) for 'sharp': 'blunt' is better there
    assert picks[("a",)] == picks[("b",)] == "blunt"
    assert chosen["chosen"] == {"blunt": 2, "sharp": 1}
    assert chosen["metrics"]["map"] < 0.9  # not the best row's score: c's labels chose nothing
    assert chosen["metrics"]["folds"][2]["fold_map"] <= 0.5  # c on its own, under the recipe it got
    assert chosen["fold_map"] == pytest.approx(np.mean([f["fold_map"] for f in chosen["metrics"]["folds"]]))

    # what a recipe does on the held-out video never changes the recipe that video gets
    results["blunt"] = result(data, np.where(on_c, truth, blunt))  # now perfect on c
    again = choose_by_other_folds(results, {"sharp": data, "blunt": data})
    assert {tuple(f["test_videos"]): f["recipe"] for f in again["metrics"]["folds"]}[("c",)] == "sharp"


def test_recipes_scored_on_other_rows_cannot_be_compared():
    data, other = dataset(), dataset()
    other.Y = other.Y.copy()
    other.Y[:5] = 1 - other.Y[:5]
    proba = np.linspace(0, 1, len(data.Y))
    with pytest.raises(EthoprismError, match="cover different videos, frames or labels"):
        choose_by_other_folds({"x": result(data, proba), "y": result(other, proba)}, {"x": data, "y": other})


def test_the_recipe_to_train_goes_by_the_folds_own_maps_ties_to_the_first():
    data = dataset()
    truth = data.Y[:, 0].astype(float)
    noise = np.random.default_rng(1).uniform(-0.3, 0.3, len(truth))
    good, fair = result(data, truth * 0.5 + 0.25 + noise / 2), result(data, 0.5 + noise)
    datasets = {"linear": data, "mlp": data, "temporal": data}
    assert best_overall({"linear": fair, "mlp": good, "temporal": good}, datasets) == "mlp"
    # single-behaviour videos (each all positive or all negative): no fold is scored alone, the
    # pooled mAP decides
    flat = dataset(np.repeat([0, 1, 0], FRAMES)[:, None].astype(np.int8))
    datasets = {"linear": flat, "mlp": flat}
    ranks = np.repeat([0.2, 0.9, 0.1], FRAMES).astype(float)
    assert best_overall({"linear": result(flat, 1 - ranks), "mlp": result(flat, ranks)}, datasets) == "mlp"
    with pytest.raises(EthoprismError, match="no recipe could be scored"):
        empty = dataset(np.zeros((3 * FRAMES, 1), np.int8))
        best_overall({"linear": result(empty, ranks)}, {"linear": empty})
