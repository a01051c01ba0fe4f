import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ethoprism.errors import EthoprismError
from ethoprism.heads import (
    AttentiveProbe,
    AttentiveTokensHead,
    LinearProbe,
    MLPHead,
    TemporalHead,
    ThresholdedHead,
    check_embeddings_match,
    decide,
    load_head,
    make_head,
    remove_short_bouts,
    save_head,
    smooth_probabilities,
    tune_thresholds,
)

HEADS = [
    LinearProbe(),
    MLPHead(epochs=15),
    AttentiveProbe(epochs=8, window=5),
    TemporalHead(epochs=15),
    AttentiveTokensHead(grid=2, window=3, epochs=8),  # 16 features = 2x2 tokens of 4
]


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
    train, test = groups < 2, groups == 2  # held-out video, not training accuracy
    model = clone(head).set_params(exclusive=exclusive)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert model.fit(X[train], Y[train], groups=groups[train]) is model
    check_is_fitted(model)
    proba = model.predict_proba(X[test], groups=groups[test])
    assert proba.shape == Y[test].shape
    if exclusive:
        assert np.all(proba.sum(axis=1) <= 1 + 1e-5)
    accuracy = (model.predict(X[test], groups=groups[test]) == Y[test]).all(axis=1).mean()
    # baseline: always predicting the most frequent row of the training labels
    rows, counts = np.unique(Y[train], axis=0, return_counts=True)
    majority = (Y[test] == rows[counts.argmax()]).all(axis=1).mean()
    assert accuracy > majority + 0.2, (accuracy, majority)
    assert model.n_features_in_ == 16
    # a clone is unfitted with the same parameters, and refitting it is deterministic
    copy = clone(model)
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    copy.fit(X[train], Y[train], groups=groups[train])
    np.testing.assert_allclose(copy.predict_proba(X[test], groups=groups[test]), proba, atol=1e-6)


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
    scores = cross_val_score(
        pipeline,
        X,
        Y,
        groups=groups,
        cv=GroupKFold(3),
        scoring=lambda est, X_, Y_: float((est.predict(X_) == Y_).all(axis=1).mean()),
    )
    assert scores.shape == (3,) and scores.min() > 0.8
    assert index.max() == 3


@pytest.mark.parametrize("head", HEADS, ids=lambda h: type(h).__name__)
def test_save_load_without_pickle(tmp_path, head):
    X, Y, groups = blobs()
    model = ThresholdedHead(clone(head), thresholds=[0.3, 0.5, 0.7], smooth=3).fit(X, Y, groups=groups)
    provenance = {
        "backbone": "effnet-lite0",
        "clip_spec": {"frames": 16},
        "weights": {"model_id": "m", "sha256": "abc"},
        "token_grid": getattr(head, "grid", None),  # token heads read grids of this size
    }
    meta_path = save_head(model, tmp_path / "head", ["a", "b", "c"], provenance)
    assert meta_path.with_name(json.loads(meta_path.read_text())["weights_file"]).exists()
    loaded, meta = load_head(meta_path)
    np.testing.assert_allclose(
        loaded.predict_proba(X, groups=groups), model.predict_proba(X, groups=groups), atol=1e-6
    )
    np.testing.assert_array_equal(loaded.predict(X, groups=groups), model.predict(X, groups=groups))
    np.testing.assert_allclose(loaded.thresholds_, [0.3, 0.5, 0.7], rtol=1e-6)
    assert meta["behaviors"] == ["a", "b", "c"] and meta["postprocess"] == {"smooth": 3, "min_bout": 1}
    check_embeddings_match(meta, provenance, "x")
    other = {**provenance, "backbone": "videoprism-b"}
    with pytest.raises(EthoprismError, match="backbone 'effnet-lite0' but these come from 'videoprism-b'"):
        check_embeddings_match(meta, other, "x")
    with pytest.raises(EthoprismError, match="other weights"):
        check_embeddings_match(meta, {**provenance, "weights": {"model_id": "m", "sha256": "def"}}, "x")
    with pytest.raises(EthoprismError, match="embeddings have 8 dimensions"):
        loaded.predict_proba(X[:, :8])


def test_head_names_with_dots_do_not_collide(tmp_path):
    X, Y, groups = blobs()
    provenance = {"backbone": "b", "clip_spec": {}, "weights": {}}
    day1 = save_head(
        ThresholdedHead(LinearProbe(), thresholds=0.2).fit(X, Y),
        tmp_path / "mouse.day1",
        ["a", "b", "c"],
        provenance,
    )
    day2 = save_head(
        ThresholdedHead(LinearProbe(), thresholds=0.8).fit(X, Y),
        tmp_path / "mouse.day2",
        ["a", "b", "c"],
        provenance,
    )
    assert day1 != day2 and day1.name == "mouse.day1.json"
    assert load_head(tmp_path / "mouse.day1")[0].thresholds_[0] == pytest.approx(0.2)
    assert load_head(day2)[0].thresholds_[0] == pytest.approx(0.8)


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
    thresholds = tune_thresholds(
        y, np.array([[0.2], [0.6], [0.3], [0.7], [0.8], [0.65], [0.1]]), exclusive=False
    )
    assert 0.3 < thresholds[0] <= 0.6


def test_temporal_head_uses_context_a_frame_head_cannot():
    """Labels that depend on motion (the change between frames), not on one frame's appearance."""
    rng = np.random.default_rng(1)
    n = 1200
    position = np.cumsum(rng.choice([-1, 0, 1], n))
    X = np.stack([np.sin(position / 3), np.cos(position / 3)], 1).astype(np.float32) + rng.normal(
        0, 0.01, (n, 2)
    ).astype(np.float32)
    moving = np.abs(np.convolve(np.diff(position, prepend=0), np.ones(5) / 5, mode="same")) > 0.3
    Y = moving[:, None].astype(np.int8)
    groups = np.repeat([0, 1], n // 2)
    temporal = TemporalHead(exclusive=False, epochs=40).fit(X[:600], Y[:600], groups=groups[:600])
    linear = LinearProbe(exclusive=False).fit(X[:600], Y[:600])
    acc_t = (temporal.predict(X[600:], groups=groups[600:]) == Y[600:]).mean()
    acc_l = (linear.predict(X[600:]) == Y[600:]).mean()
    assert acc_t > acc_l + 0.1


def test_exclusive_thresholds_are_tuned_under_the_rule_that_applies_them():
    """A rare behaviour whose probability stays below the background's: the arg-max-first rule
    could never predict it whatever its threshold; tuning under the one rule finds it."""
    rng = np.random.default_rng(0)
    n = 2000
    truth = np.zeros((n, 2), np.int8)
    truth[rng.random(n) < 0.1, 0] = 1
    truth[(rng.random(n) < 0.3) & (truth[:, 0] == 0), 1] = 1
    proba = np.zeros((n, 2))
    proba[:, 0] = np.where(truth[:, 0] == 1, rng.uniform(0.25, 0.35, n), rng.uniform(0.0, 0.15, n))
    proba[:, 1] = np.where(truth[:, 1] == 1, rng.uniform(0.55, 0.65, n), rng.uniform(0.0, 0.1, n))
    thresholds = tune_thresholds(truth, proba, exclusive=True)
    assert thresholds[0] < 0.3
    pred = decide(proba, thresholds, exclusive=True)
    f1 = lambda k: 2 * (pred[:, k] & truth[:, k]).sum() / (pred[:, k].sum() + truth[:, k].sum())  # noqa: E731
    assert f1(0) > 0.95 and f1(1) > 0.95
    assert (pred.sum(axis=1) <= 1).all()
    # the old rule (arg-max with background first, then thresholds) never predicts behaviour 0
    background = 1 - proba.sum(axis=1)
    assert not ((proba[:, 0] > background) & (proba[:, 0] > proba[:, 1])).any()


def test_thresholded_head_tunes_on_the_tail_of_a_single_training_video():
    rng = np.random.default_rng(0)
    n = 1000
    Y = np.zeros((n, 2), np.int8)
    Y[rng.random(n) < 0.3, 0] = 1
    Y[rng.random(n) < 0.1, 1] = 1
    X = (Y @ rng.standard_normal((2, 8)) * 0.8 + rng.standard_normal((n, 8))).astype(np.float32)
    model = ThresholdedHead(LinearProbe(exclusive=False)).fit(X, Y, groups=np.zeros(n, int))
    inner = LinearProbe(exclusive=False).fit(X[:800], Y[:800])  # the last fifth is held out
    np.testing.assert_allclose(
        model.thresholds_, tune_thresholds(Y[800:], inner.predict_proba(X[800:]), False)
    )
    assert not np.allclose(model.thresholds_, 0.5)
    np.testing.assert_allclose(model.head_.coef_, LinearProbe(exclusive=False).fit(X, Y).coef_, atol=1e-5)


def _crossing_matters():
    """Two kinds of video: in one the label follows the feature's rise, in the other its level."""
    rng = np.random.default_rng(2)
    X, Y, groups = [], [], []
    for video in range(4):
        t = np.arange(300)
        x = np.sin(t / 7 + video) + rng.normal(0, 0.05, 300)
        y = (np.gradient(x) > 0).astype(np.int8)
        X.append(np.stack([x, np.full(300, video % 2)], 1))
        Y.append(y[:, None])
        groups.append(np.full(300, video))
    return np.concatenate(X).astype(np.float32), np.concatenate(Y), np.concatenate(groups)


def test_groups_reach_sequence_heads_through_sklearn_metadata_routing():
    import sklearn
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict

    X, Y, groups = _crossing_matters()
    head = TemporalHead(exclusive=False, epochs=5, hidden=16, dilations=(1, 2), chunk=128, random_state=0)
    by_hand = np.zeros(Y.shape, np.float32)
    blind = np.zeros(Y.shape, np.float32)
    for train, test in LeaveOneGroupOut().split(X, groups=groups):
        scaler = StandardScaler().fit(X[train])
        fitted = clone(head).fit(scaler.transform(X[train]), Y[train], groups=groups[train])
        by_hand[test] = fitted.predict_proba(scaler.transform(X[test]), groups=groups[test])
        fitted = clone(head).fit(scaler.transform(X[train]), Y[train])  # one sequence across videos
        blind[test] = fitted.predict_proba(scaler.transform(X[test]), groups=groups[test])
    assert np.abs(by_hand - blind).max() > 1e-3  # crossing video boundaries changes the answer
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = make_pipeline(StandardScaler(), clone(head))
        routed = cross_val_predict(
            pipeline, X, Y, cv=LeaveOneGroupOut(), method="predict_proba", params={"groups": groups}
        )
        np.testing.assert_allclose(routed, by_hand, atol=1e-5)
        # and through the decision rule, whose fit, predict_proba and predict route groups too
        model = make_pipeline(StandardScaler(), ThresholdedHead(clone(head), thresholds=0.5))
        model.fit(X, Y, groups=groups)
        direct = ThresholdedHead(clone(head), thresholds=0.5).fit(
            StandardScaler().fit_transform(X), Y, groups=groups
        )
        np.testing.assert_allclose(
            model.predict_proba(X, groups=groups),
            direct.predict_proba(StandardScaler().fit(X).transform(X), groups=groups),
            atol=1e-5,
        )


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda m: m.update(head="svm"), "head: Input should be"),
        (lambda m: m.pop("behaviors"), "behaviors: Field required"),
        (lambda m: m.update(surprise=1), "surprise: Extra inputs are not permitted"),
        (lambda m: m.update(behaviors=["a", "b"]), "2 behaviours but thresholds of shape \\(3,\\)"),
        (lambda m: m["params"].update(colour="red"), "params \\['colour'\\] are not parameters"),
        (lambda m: m.update(n_features_in=-4), "n_features_in: Input should be greater than 0"),
        (lambda m: m["postprocess"].update(smooth=0), "postprocess.smooth"),
    ],
)
def test_head_files_are_validated_before_use(tmp_path, damage, message):
    import json

    X, Y, groups = blobs()
    provenance = {"backbone": "b", "clip_spec": {}, "weights": {}}
    path = save_head(
        ThresholdedHead(LinearProbe()).fit(X, Y, groups=groups), tmp_path / "h", ["a", "b", "c"], provenance
    )
    meta = json.loads(path.read_text())
    damage(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(EthoprismError, match=message) as info:
        load_head(path)
    assert "h.json" in str(info.value)


def test_torch_head_weights_must_fit_their_parameters(tmp_path):
    import json

    X, Y, groups = blobs()
    path = save_head(
        ThresholdedHead(MLPHead(epochs=1)).fit(X, Y, groups=groups),
        tmp_path / "m",
        ["a", "b", "c"],
        {"backbone": "b", "clip_spec": {}, "weights": {}},
    )
    meta = json.loads(path.read_text())
    meta["params"]["hidden"] = 64  # the stored weights are 256 wide
    path.write_text(json.dumps(meta))
    with pytest.raises(EthoprismError, match="does not fit its parameters"):
        load_head(path)


def conjunction_tokens(n=1800, cells=4, d=6, seed=0):
    """A behaviour is two features high in the *same* token (one animal doing it); other animals
    show each feature alone in other tokens. The frame's mean over tokens cannot tell these apart
    (sums are alike); attention over the tokens can."""
    rng = np.random.default_rng(seed)
    behaviour = np.repeat(rng.integers(0, 2, n // 20), 20)  # bouts of 20 frames
    tokens = rng.normal(0, 0.3, size=(n, cells, d)).astype(np.float32)
    for i in range(n):
        a, b = rng.choice(cells, 2, replace=False)
        if behaviour[i]:
            tokens[i, a, :2] += 2.0
        else:
            tokens[i, a, 0] += 2.0
            tokens[i, b, 1] += 2.0
    return tokens, behaviour[:, None].astype(np.int8), np.repeat(np.arange(3), n // 3)


def test_attention_over_tokens_finds_what_one_animal_does():
    tokens, Y, groups = conjunction_tokens()
    train, test = groups < 2, groups == 2
    pooled = tokens.mean(axis=1)
    linear = LinearProbe().fit(pooled[train], Y[train], groups=groups[train])
    flat = tokens.reshape(len(tokens), -1)
    head = AttentiveTokensHead(grid=2, window=1, epochs=30).fit(flat[train], Y[train], groups=groups[train])
    accuracy = {
        "pooled linear": (linear.predict(pooled[test]) == Y[test]).mean(),
        "attentive tokens": (head.predict(flat[test], groups=groups[test]) == Y[test]).mean(),
    }
    assert accuracy["pooled linear"] < 0.7 and accuracy["attentive tokens"] > 0.9, accuracy


@pytest.mark.parametrize("heads", [1, 4])
def test_one_query_attention_is_multihead_attention(heads):
    from torch import nn

    from ethoprism.heads.torch_heads import attend_with_one_query

    torch.manual_seed(0)
    attention = nn.MultiheadAttention(32, heads, batch_first=True).eval()
    with torch.no_grad():  # non-zero biases, so the bias terms are checked too
        attention.in_proj_bias.normal_()
        attention.out_proj.bias.normal_()
    query, tokens = torch.randn(1, 1, 32), torch.randn(5, 12, 32)
    expected, _ = attention(query.expand(5, -1, -1), tokens, tokens)
    torch.testing.assert_close(attend_with_one_query(attention, query, tokens), expected[:, 0])


def test_the_probe_standardises_as_scikit_learn_does():
    from sklearn.preprocessing import StandardScaler

    from ethoprism.heads.linear import standardisation

    rng = np.random.default_rng(3)
    X = (rng.normal(size=(1000, 6)) * [1, 10, 1e-3, 0, 5, 1] + [0, 3, 10, 7, -2, 0]).astype(np.float32)
    mean, scale = standardisation(X, rows=128)  # several blocks
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(mean, scaler.mean_, rtol=1e-6)
    np.testing.assert_allclose(scale, scaler.scale_, rtol=1e-4)
    assert scale[3] == 1.0  # a constant dimension is left unscaled, not divided by zero


def test_held_out_blocks_are_whole_stretches_spread_over_the_data():
    from ethoprism.heads.training import held_out_blocks

    mask = held_out_blocks(10_000, 0.1, 256, random_state=0)
    assert 0.08 < mask.mean() < 0.12
    starts = np.flatnonzero(np.diff(mask.astype(int)) == 1) + 1
    assert len(starts) >= 3 and all(s % 256 == 0 for s in starts)  # whole blocks
    assert mask[:5000].any() and mask[5000:].any()


def test_early_stopping_keeps_the_best_epoch_and_stops():
    from torch import nn

    from ethoprism.heads.training import optimise

    torch.manual_seed(0)
    module = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.zero_()
    validation = torch.arange(0, 1000, 10)
    held = torch.zeros(1000, dtype=torch.bool)
    held[validation] = True
    seen = []

    def loss(batch, _):  # training pulls the weight to 1; the held-out items prefer 0.3
        w = module.weight[0, 0]
        if held[batch].all():
            seen.append(float(w))
            return (w - 0.3) ** 2
        return (w - 1.0) ** 2

    state, epochs = optimise(
        module,
        1000,
        50,
        loss,
        epochs=200,
        min_steps=0,
        lr=0.002,
        weight_decay=0,
        random_state=0,
        validation=validation,
        n_iter_no_change=2,
    )
    checks = seen[::2]  # two validation batches per check
    best = int(np.argmin([abs(w - 0.3) for w in checks]))
    assert epochs == best + 3 < 200  # two epochs without improvement after the best, then stop
    assert float(state["weight"]) == pytest.approx(checks[best])
    assert float(module.weight.detach()) == pytest.approx(
        checks[best]
    )  # the module holds the best weights too


@pytest.mark.parametrize("kind", ["mlp", "attentive", "temporal"])
def test_torch_heads_stop_early_on_large_sets_and_tune_on_what_they_held_out(kind, monkeypatch):
    from ethoprism.heads import make_head
    from ethoprism.heads.decision import ThresholdedHead

    X, Y, groups = blobs(n=4500)
    head = make_head(kind, epochs=100).fit(X, Y, groups=groups)
    rows = head.validation_rows_
    assert rows is not None and 0.05 < len(rows) / len(X) < 0.2
    assert head.n_epochs_ < 100  # easy data: stopped long before the budget
    # which rows train is decided before any step: the checks below train a step or two
    brief = dict(epochs=1) if kind == "temporal" else dict(epochs=1, min_steps=1)
    # few labelled frames: every one is used for training
    assert make_head(kind, **brief).fit(X[:900], Y[:900], groups=groups[:900]).validation_rows_ is None
    assert make_head(kind, early_stopping=False, **brief).fit(X, Y, groups=groups).validation_rows_ is None
    with pytest.raises(ValueError, match="early_stopping"):
        make_head(kind, early_stopping="yes").fit(X, Y, groups=groups)
    # thresholds come from the held-out rows: one fit, not an inner fit and a refit
    fits = []
    original = type(head).fit
    monkeypatch.setattr(type(head), "fit", lambda self, *a, **k: fits.append(1) or original(self, *a, **k))
    tuned = ThresholdedHead(make_head(kind, **brief)).fit(X, Y, groups=groups)
    assert len(fits) == 1 and tuned.thresholds_.shape == (Y.shape[1],)
    fits.clear()
    ThresholdedHead(make_head(kind, early_stopping=False, **brief)).fit(X, Y, groups=groups)
    assert len(fits) == 2


def test_the_exclusive_rule_is_the_arg_max_over_background_and_behaviours():
    """Hand-made probabilities: at the neutral 0.5 the frame is whatever is largest, background
    included; a threshold below 0.5 favours its behaviour, above 0.5 disfavours it."""
    proba = np.array(
        [
            [0.45, 0.25],  # background 0.30: the first behaviour, though below 0.5
            [0.20, 0.25],  # background 0.55
            [0.30, 0.40],  # background 0.30: the second
            [0.35, 0.35],  # a tie between behaviours: the first listed
        ]
    )
    neutral = decide(proba, np.array([0.5, 0.5]), exclusive=True)
    assert neutral.tolist() == [[1, 0], [0, 0], [0, 1], [1, 0]]
    # the same frames by plain arg-max over (background, behaviours)
    background = 1 - proba.sum(axis=1, keepdims=True)
    winner = np.concatenate([background, proba], axis=1).argmax(axis=1)
    assert (neutral.argmax(axis=1) + neutral.any(axis=1)).tolist() == winner.tolist()
    # 0.15 weighs the first behaviour 3.3x: 0.67 beats background 0.55 (0.2 would give 0.50: no)
    assert decide(proba, np.array([0.15, 0.5]), exclusive=True)[1].tolist() == [1, 0]
    assert decide(proba, np.array([0.2, 0.5]), exclusive=True)[1].tolist() == [0, 0]
    # 0.9 weighs the first 0.56x: 0.25 < background 0.30
    assert decide(proba, np.array([0.9, 0.5]), exclusive=True)[0].tolist() == [0, 0]


def test_thresholds_stay_bounded_and_fall_back_when_held_out_rows_cannot_tune():
    from ethoprism.heads.decision import MIN_TUNING_POSITIVES, NEUTRAL_THRESHOLD, THRESHOLD_BOUNDS

    # separable scores put the best cut at an extreme: it is held inside the bounds
    y = np.array([[0], [0], [1], [1], [1], [1], [1], [1]])
    tiny = np.array([[1e-9], [1e-9], [6.6e-9], [7e-9], [8e-9], [9e-9], [1e-8], [2e-8]])
    (low,) = tune_thresholds(y, tiny, exclusive=False)
    assert low == pytest.approx(THRESHOLD_BOUNDS[0])
    (high,) = tune_thresholds(1 - y, 1 - tiny, exclusive=False)
    assert THRESHOLD_BOUNDS[0] <= high <= THRESHOLD_BOUNDS[1]
    # too few held-out positives: the untuned rule
    few = np.zeros((50, 1), np.int8)
    few[: MIN_TUNING_POSITIVES - 1] = 1
    scores = np.linspace(0.01, 0.2, 50)[::-1, None]
    assert tune_thresholds(few, scores, exclusive=False)[0] == NEUTRAL_THRESHOLD
    for exclusive in (False, True):
        (t,) = tune_thresholds(few, scores, exclusive=exclusive)
        assert t == NEUTRAL_THRESHOLD
