"""A spy head records the rows every fit and every threshold tuning sees: no held-out video's
frame may ever be among them (evaluate's folds, the few-shot protocol, train)."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from ethoprism.dataset import build_dataset, video_frame_info
from ethoprism.heads import decision
from ethoprism.io.labels import read_labels
from ethoprism.store import EmbeddingStore
from ethoprism.workflows import classify

SEEN: list[dict] = []  # one record per ThresholdedHead.fit: the row ids its inner fits and tuning saw


class SpyHead(ClassifierMixin, BaseEstimator):
    """Records the row ids (column 0 of X) it is fitted on and asked about; probabilities from a
    fixed hash of the row, so every metric can be computed."""

    def __init__(self, exclusive: bool = True, random_state: int = 0):
        self.exclusive = exclusive
        self.random_state = random_state

    def fit(self, X, y, groups=None):
        if SEEN and SEEN[-1]["open"]:
            SEEN[-1]["fit"].update(np.asarray(X)[:, 0].astype(int).tolist())
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = y.shape[1]
        return self

    def predict_proba(self, X, groups=None):
        if SEEN and SEEN[-1]["open"]:  # inside a fit: these rows tune the thresholds
            SEEN[-1]["tune"].update(np.asarray(X)[:, 0].astype(int).tolist())
        ids = np.asarray(X)[:, 0].astype(np.int64)
        rng = np.random.default_rng(ids % 9973)
        proba = (
            np.stack([np.random.default_rng(i).random(self.n_outputs_) for i in ids % 9973])
            if len(ids)
            else np.zeros((0, self.n_outputs_))
        )
        del rng
        return proba / (proba.sum(axis=1, keepdims=True) + 1) if self.exclusive else proba


@pytest.fixture
def spied(monkeypatch, synthetic_store):
    SEEN.clear()
    real_fit = decision.ThresholdedHead.fit

    def fit(self, X, y, groups=None):
        SEEN.append({"open": True, "fit": set(), "tune": set()})
        try:
            return real_fit(self, X, y, groups=groups)
        finally:
            SEEN[-1]["open"] = False

    monkeypatch.setattr(decision.ThresholdedHead, "fit", fit)
    monkeypatch.setattr(classify, "head_for", lambda kind, data, **params: SpyHead(exclusive=data.exclusive))
    entries = EmbeddingStore(synthetic_store["store"]).select()
    labels = read_labels(synthetic_store["labels"], video_frame_info(entries))
    data = build_dataset(entries, labels)
    data.X = data.X.copy()
    data.X[:, 0] = np.arange(len(data.X))  # each row carries its id
    return data


def _videos_of(data, ids) -> set[str]:
    return {data.videos[g] for g in np.unique(data.groups[sorted(ids)])} if ids else set()


def test_evaluate_folds_never_fit_or_tune_on_their_test_video(spied, tmp_path):
    data = spied
    report = classify.evaluate(
        data,
        ["linear"],
        tmp_path / "report",
        fewshot={
            "heads": ["linear"],
            "train_videos": [0, 1],
            "test_videos": [2, 3],
            "shots": (5,),
            "seeds": 2,
        },
    )
    folds = report["heads"]["linear"]["metrics"]["folds"]
    assert len(folds) == 4 and len(SEEN) == 4 + 2  # one fit per fold, one per few-shot seed
    for fold, record in zip(folds, SEEN[:4]):
        held_out = set(fold["test_videos"])
        assert record["fit"] and record["tune"]  # the spy did see the training rows
        assert not (_videos_of(data, record["fit"]) & held_out), fold
        assert not (_videos_of(data, record["tune"]) & held_out), fold
        assert _videos_of(data, record["fit"]) == set(data.videos) - held_out
    for record in SEEN[4:]:  # few-shot: only the training videos, and only the sampled frames
        assert _videos_of(data, record["fit"]) <= {data.videos[0], data.videos[1]}
        assert not record["tune"]  # fixed 0.5 thresholds: nothing tuned


def test_train_fits_and_tunes_on_labelled_videos_only(spied, tmp_path, monkeypatch):
    data = spied
    monkeypatch.setattr(classify, "save_head", lambda model, path, *args: path)
    unlabelled = data.groups == 3
    data.Y = data.Y.copy()
    data.Y[unlabelled] = -1  # the fourth video has no labels: never a training row
    classify.train(data, "linear", tmp_path / "head")
    (record,) = SEEN
    assert _videos_of(data, record["fit"]) == set(data.videos[:3])
    assert record["tune"] and not (_videos_of(data, record["tune"]) & {data.videos[3]})
