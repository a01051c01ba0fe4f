"""The motif model's parts: windowed features, minimum duration, the sticky HMM, sampling, saving."""

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score

from ethoprism.discovery.features import window_features
from ethoprism.discovery.hmm import MotifHMM, enforce_min_duration, runs
from ethoprism.discovery.model import sample_segments


def test_window_features_are_the_centred_mean_and_the_change_across_it():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(40, 3))
    window, half = 7, 3
    whole = window_features(rows, window, 0, 40, 40, 0)
    for i in (0, 1, 20, 38, 39):
        lo, hi = max(0, i - half), min(40, i + half + 1)
        np.testing.assert_allclose(whole[i, :3], rows[lo:hi].mean(axis=0), rtol=1e-5, atol=1e-6)
        change = rows[i:hi].mean(axis=0) - rows[lo : i + 1].mean(axis=0)
        np.testing.assert_allclose(whole[i, 3:], change, rtol=1e-5, atol=1e-6)
    # a block of the sequence read with its margins gives the same rows as the whole
    part = window_features(rows[10 - half : 20 + half], window, 10, 10, 40, 10 - half)
    np.testing.assert_allclose(part, whole[10:20], rtol=1e-5, atol=1e-6)


def test_no_bout_is_shorter_than_the_minimum_and_strong_neighbours_win():
    rng = np.random.default_rng(1)
    states = rng.integers(0, 4, 3000)
    posteriors = rng.random((3000, 4))
    merged = enforce_min_duration(states, posteriors, 6)
    starts, ends = runs(merged)
    assert (ends - starts).min() >= 6
    # a one-frame flicker goes to the neighbour its posterior prefers
    states = np.array([0] * 10 + [2] + [1] * 10)
    posteriors = np.zeros((21, 3))
    posteriors[10, 1] = 0.9
    assert (enforce_min_duration(states, posteriors, 3)[10]) == 1
    assert enforce_min_duration(np.array([0, 1]), np.ones((2, 2)), 5).tolist() == [0, 1]  # too short to merge


def planted(n_per_bout=40, bouts=60, seed=0):
    """Features from three well-separated states that last ``n_per_bout`` frames each."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.integers(0, 3, bouts), n_per_bout)
    centres = rng.normal(scale=4.0, size=(3, 5))
    return centres[truth] + rng.normal(size=(len(truth), 5)), truth


def test_the_sticky_hmm_finds_planted_states_in_blocks_as_in_one_piece():
    X, truth = planted()
    hmm = MotifHMM(3, mean_frames=40, min_frames=5, seed=0).fit(X, [len(X)])
    motifs, probability = hmm.decode(X)
    assert adjusted_mutual_info_score(truth, motifs) > 0.95
    assert ((probability > 0) & (probability <= 1)).all()
    blocks = [X[i : i + 500] for i in range(0, len(X), 500)]
    in_blocks, _ = hmm.decode_blocks(blocks)
    assert (in_blocks == motifs).mean() > 0.99  # only a block's first frames may differ
    other = MotifHMM(3, mean_frames=40, min_frames=5, seed=7).fit(X, [len(X)])
    assert adjusted_mutual_info_score(motifs, other.decode(X)[0]) > 0.95  # seeds agree
    groups = hmm.coarsen(2)
    assert sorted(set(groups.tolist())) == [0, 1] and groups[0] == 0


def planted_bouts(mean_bout: float, frames=6000, seed=0):
    """Three well-separated states whose bouts last ``mean_bout`` frames on average (geometric)."""
    rng = np.random.default_rng(seed)
    lengths = rng.geometric(1.0 / mean_bout, frames)
    truth = np.repeat(rng.integers(0, 3, len(lengths)), lengths)[:frames]
    centres = rng.normal(scale=4.0, size=(3, 5))
    return centres[truth] + rng.normal(size=(frames, 5)), truth


@pytest.mark.parametrize("mean_bout", [12, 120])
def test_the_mean_bout_is_learned_from_the_data_whatever_the_start(mean_bout):
    X, truth = planted_bouts(mean_bout)
    starts, ends = runs(truth)
    planted_mean = float(np.mean(ends - starts))  # a state drawn twice in a row makes one longer run
    for start in (5.0, 300.0):
        hmm = MotifHMM(3, mean_frames=start, min_frames=3, seed=0, n_init=1).fit(X, [len(X)])
        assert 0.7 * planted_mean < hmm.bout_frames_ < 1.4 * planted_mean, (start, hmm.bout_frames_)
        assert adjusted_mutual_info_score(truth, hmm.decode(X)[0]) > 0.9
        stay = np.diag(hmm.transmat_)
        np.testing.assert_allclose(stay, 1 - 1 / hmm.bout_frames_)  # one number shared by every motif
        np.testing.assert_allclose(hmm.transmat_.sum(axis=1), 1.0)


def test_the_learned_mean_bout_never_goes_below_the_shortest_bout():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 4))  # no states at all: EM would happily flicker
    hmm = MotifHMM(4, mean_frames=30, min_frames=8, seed=0, n_init=1).fit(X, [len(X)])
    assert hmm.bout_frames_ >= 8


class _Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def test_the_fitting_sample_is_contiguous_proportional_and_the_same_every_time():
    sequences = [_Sized(100_000), _Sized(20_000), _Sized(500)]
    segments = sample_segments(sequences, 30_000)
    assert segments == sample_segments(sequences, 30_000)
    taken = {i: sum(b - a for j, a, b in segments if j == i) for i in range(3)}
    assert 24_000 <= sum(taken.values()) <= 31_000
    assert taken[0] > 4 * taken[1] > 0 and taken[2] > 0
    assert all(0 <= a < b <= len(sequences[i]) for i, a, b in segments)
    assert sample_segments(sequences[2:], 30_000) == [(0, 0, 500)]  # small: all of it


@pytest.mark.parametrize("bad", ["arrays", "json", "bout"])
def test_a_damaged_motif_model_is_one_error_naming_it(tmp_path, synthetic_store, bad):
    from ethoprism.discovery.model import MotifModel, fit_model
    from ethoprism.errors import EthoprismError
    from ethoprism.workflows.discover import select_sequences

    sequences = select_sequences(synthetic_store["store"])
    model = fit_model(sequences, 3, window=5, min_frames=3, mean_frames=20.0, n_init=1)
    model.save(tmp_path / "m.json")
    again = MotifModel.load(tmp_path / "m.json")
    assert again.hmm_.bout_frames_ == pytest.approx(model.hmm_.bout_frames_)
    for sequence in sequences:  # saved and loaded, the same motifs
        np.testing.assert_array_equal(model.assign(sequence)[0], again.assign(sequence)[0])
    if bad == "arrays":
        next(tmp_path.glob("m.*.safetensors")).write_bytes(b"not arrays")
    elif bad == "json":
        (tmp_path / "m.json").write_text('{"format": "ethoprism-motifs-v1", "n_motifs": "x"}')
    else:  # a learned bout that would make the transitions NaN: damaged, not silently wrong motifs
        meta = json.loads((tmp_path / "m.json").read_text())
        (tmp_path / "m.json").write_text(json.dumps({**meta, "bout_frames": float("nan")}))
    with pytest.raises(EthoprismError, match="m\\."):
        MotifModel.load(tmp_path / "m.json")


def test_a_model_saved_before_the_mean_bout_was_learned_still_assigns_as_it_did(tmp_path, synthetic_store):
    from ethoprism.discovery.hmm import sticky_transitions
    from ethoprism.discovery.model import MotifModel, fit_model
    from ethoprism.workflows.discover import select_sequences

    sequences = select_sequences(synthetic_store["store"])
    model = fit_model(sequences, 3, window=5, min_frames=3, mean_frames=20.0, n_init=1)
    model.save(tmp_path / "m.json")
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["format"] = "ethoprism-motifs-v1"  # v1 files had no learned bout: stickiness was mean_frames
    del meta["bout_frames"]
    (tmp_path / "m.json").write_text(json.dumps(meta))
    old = MotifModel.load(tmp_path / "m.json")
    assert old.hmm_.bout_frames_ == 20.0
    np.testing.assert_allclose(old.hmm_.transmat_, sticky_transitions(3, 20.0))
    assert len(old.assign(sequences[0])[0]) == len(sequences[0])


def test_one_motif_is_every_frame_and_keeps_its_starting_bout():
    X = np.random.default_rng(0).normal(size=(300, 3))
    hmm = MotifHMM(1, mean_frames=20, min_frames=3).fit(X, [len(X)])
    assert hmm.bout_frames_ == 20 and (hmm.decode(X)[0] == 0).all()
