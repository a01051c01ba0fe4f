import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ethoprism.errors import EthoprismError
from ethoprism.heads import (AttentiveProbe, LinearProbe, MLPHead, TemporalHead, best_f1_thresholds, check_embeddings_match,
                             load_head, make_head, remove_short_bouts, save_head, smooth_probabilities)

HEADS = [LinearProbe(), MLPHead(epochs=15), AttentiveProbe(epochs=8, window=5), TemporalHead(epochs=15)]


def blobs(n=900, d=16, k=3, seed=0, exclusive=True):
    rng = np.random.default_rng(seed)
    cls = np.repeat(rng.integers(0, k + 1, n // 30), 30)  # bouts of 30 frames
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, : k + 1] += 3 * np.eye(k + 1)[cls]
    Y = np.zeros((n, k), np.int8)
    Y[cls > 0, cls[cls > 0] - 1] = 1
    if not exclusive:
        Y[:, 0] = (X[:, 10] > 0.5).astype(np.int8)
    return X, Y, np.repeat(np.arange(3), n // 3)


@pytest.mark.parametrize("head", HEADS, ids=lambda h: type(h).__name__)
@pytest.mark.parametrize("exclusive", [True, False])
def test_heads_learn_and_follow_sklearn_conventions(head, exclusive):
    X, Y, groups = blobs(exclusive=exclusive)
    model = clone(head).set_params(exclusive=exclusive)
    assert model.fit(X, Y, groups=groups) is model
    proba = model.predict_proba(X, groups=groups)
    assert proba.shape == Y.shape and np.all((proba >= 0) & (proba <= 1))
    if exclusive:
        assert np.all(proba.sum(axis=1) <= 1 + 1e-5)
    pred = model.predict(X, groups=groups)
    assert (pred == Y).all(axis=1).mean() > (0.8 if exclusive else 0.7)
    assert model.n_features_in_ == 16 and model.thresholds_.shape == (3,)
    assert clone(model).get_params() == model.get_params()


def test_unlabelled_rows_are_ignored():
    X, Y, groups = blobs()
    Y_partial = Y.copy()
    Y_partial[::2] = -1
    for head in HEADS:
        model = clone(head).fit(X, Y_partial, groups=groups)
        accuracy = (model.predict(X, groups=groups) == Y).all(axis=1).mean()
        assert accuracy > 0.75, (type(head).__name__, accuracy)


def test_sklearn_tools_work_with_groups():
    X, Y, groups = blobs()
    index = Y.argmax(axis=1) + (Y.max(axis=1) > 0)
    pipeline = make_pipeline(StandardScaler(), LinearProbe())
    scores = cross_val_score(pipeline, X, Y, groups=groups, cv=GroupKFold(3),
                             scoring=lambda est, X_, Y_: float((est.predict(X_) == Y_).all(axis=1).mean()))
    assert scores.shape == (3,) and scores.min() > 0.8
    assert index.max() == 3


@pytest.mark.parametrize("head", HEADS, ids=lambda h: type(h).__name__)
def test_save_load_without_pickle(tmp_path, head):
    X, Y, groups = blobs()
    model = clone(head).fit(X, Y, groups=groups)
    model.thresholds_ = np.array([0.3, 0.5, 0.7], np.float32)
    provenance = {"backbone": "effnet-lite0", "clip_spec": {"frames": 16}, "weights": {"model_id": "m", "sha256": "abc"}}
    meta_path = save_head(model, tmp_path / "head", ["a", "b", "c"], provenance, {"smooth": 3})
    assert meta_path.with_suffix(".safetensors").exists()
    loaded, meta = load_head(meta_path)
    np.testing.assert_allclose(loaded.predict_proba(X, groups=groups), model.predict_proba(X, groups=groups), atol=1e-6)
    np.testing.assert_array_equal(loaded.thresholds_, model.thresholds_)
    assert meta["behaviors"] == ["a", "b", "c"] and meta["postprocess"] == {"smooth": 3}
    check_embeddings_match(meta, provenance, "x")
    other = {**provenance, "backbone": "videoprism-b"}
    with pytest.raises(EthoprismError, match="backbone 'effnet-lite0' but these come from 'videoprism-b'"):
        check_embeddings_match(meta, other, "x")
    with pytest.raises(EthoprismError, match="other weights"):
        check_embeddings_match(meta, {**provenance, "weights": {"model_id": "m", "sha256": "def"}}, "x")
    with pytest.raises(EthoprismError, match="embeddings have 8 dimensions"):
        loaded.predict_proba(X[:, :8])


def test_bad_head_files(tmp_path):
    with pytest.raises(EthoprismError, match="does not exist"):
        load_head(tmp_path / "missing.json")
    (tmp_path / "h.json").write_text("{}")
    (tmp_path / "h.safetensors").write_bytes(b"junk")
    with pytest.raises(EthoprismError, match="unreadable head file|not an ethoprism head"):
        load_head(tmp_path / "h.json")
    with pytest.raises(EthoprismError, match="unknown head 'svm'"):
        make_head("svm")


def test_postprocessing():
    proba = np.array([[0.1], [0.9], [0.1], [0.9], [0.9], [0.9], [0.1]])
    assert smooth_probabilities(proba, 3)[1, 0] == pytest.approx((0.1 + 0.9 + 0.1) / 3)
    pred = (proba > 0.5).astype(np.int8)
    assert remove_short_bouts(pred, 2)[:, 0].tolist() == [0, 0, 0, 1, 1, 1, 0]
    groups = np.array([0, 0, 0, 0, 1, 1, 1])  # bouts never span videos
    assert remove_short_bouts(pred, 2, groups)[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 0]
    y = np.array([[0], [1], [0], [1], [1], [1], [0]])
    thresholds = best_f1_thresholds(y, np.array([[0.2], [0.6], [0.3], [0.7], [0.8], [0.65], [0.1]]))
    assert 0.3 < thresholds[0] <= 0.6


def test_temporal_head_uses_context_a_frame_head_cannot():
    """Labels that depend on motion (the change between frames), not on one frame's appearance."""
    rng = np.random.default_rng(1)
    n = 1200
    position = np.cumsum(rng.choice([-1, 0, 1], n))
    X = np.stack([np.sin(position / 3), np.cos(position / 3)], 1).astype(np.float32) + rng.normal(0, 0.01, (n, 2)).astype(np.float32)
    moving = np.abs(np.convolve(np.diff(position, prepend=0), np.ones(5) / 5, mode="same")) > 0.3
    Y = moving[:, None].astype(np.int8)
    groups = np.repeat([0, 1], n // 2)
    temporal = TemporalHead(exclusive=False, epochs=40).fit(X[:600], Y[:600], groups=groups[:600])
    linear = LinearProbe(exclusive=False).fit(X[:600], Y[:600])
    acc_t = (temporal.predict(X[600:], groups=groups[600:]) == Y[600:]).mean()
    acc_l = (linear.predict(X[600:]) == Y[600:]).mean()
    assert acc_t > acc_l + 0.1
