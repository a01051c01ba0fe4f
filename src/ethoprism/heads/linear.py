"""Linear probe: standardised embeddings -> logistic regression (scikit-learn).

Softmax over background + behaviours for exclusive classes, one sigmoid per behaviour for
multi-label. Class imbalance: 'balanced' class weights. The learned parameters are plain arrays
(``mean_``, ``scale_``, ``coef_``, ``intercept_``), so the probe saves without pickle.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression

from ethoprism.heads.base import HeadMixin, as_targets, exclusive_index, labelled_rows


def standardisation(X: np.ndarray, rows: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation (1 where constant), as scikit-learn's
    ``StandardScaler`` computes them, accumulated in float64 over blocks of rows: the scaler's
    incremental algorithm took a second per fit at 54,000 x 1280, a fifth of the app's budget."""
    mean = X.mean(axis=0, dtype=np.float64)
    squares = np.zeros(X.shape[1])
    for start in range(0, len(X), rows):
        centred = X[start : start + rows] - mean.astype(X.dtype)  # centred first: float32 is enough
        squares += np.square(centred, out=centred).sum(axis=0, dtype=np.float64)
    scale = np.sqrt(squares / max(1, len(X)))
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


class LinearProbe(HeadMixin):
    def __init__(
        self,
        exclusive: bool = True,
        C: float = 1.0,
        class_weight: str | None = "balanced",
        max_iter: int = 300,
    ):
        self.exclusive = exclusive
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def fit(self, X, y, groups=None):
        y = as_targets(y)
        keep = labelled_rows(y)
        X = np.asarray(X, np.float32)
        if not keep.all():  # copies of a large X cost as much as a solver iteration
            X, y = X[keep], y[keep]
        self.mean_, self.scale_ = standardisation(X)
        Z = X - self.mean_
        Z /= self.scale_
        self.n_features_in_ = X.shape[1]
        self.n_behaviors_ = y.shape[1]
        self.classes_ = np.arange(
            self.n_behaviors_
        )  # one output column per behaviour, as multi-label sklearn
        if self.exclusive:
            target = exclusive_index(y)
            model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
            model.fit(Z, target)
            coef = np.zeros((self.n_behaviors_ + 1, X.shape[1]), np.float32)
            intercept = np.full(
                self.n_behaviors_ + 1, -1e4, np.float32
            )  # classes never seen get ~0 probability
            if len(model.classes_) == 2:  # binary problems come back as one logit
                coef[model.classes_[1]], intercept[model.classes_[1]] = model.coef_[0], model.intercept_[0]
                intercept[model.classes_[0]] = 0.0
            else:
                coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
            self.coef_, self.intercept_ = coef, intercept
        else:
            coef = np.zeros((self.n_behaviors_, X.shape[1]), np.float32)
            intercept = np.full(self.n_behaviors_, -1e4, np.float32)
            for k in range(self.n_behaviors_):
                column = y[:, k]
                if column.min() == column.max():  # constant: no classifier to learn
                    intercept[k] = 1e4 if column[0] > 0 else -1e4
                    continue
                model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
                model.fit(Z, column)
                coef[k], intercept[k] = model.coef_[0], model.intercept_[0]
            self.coef_, self.intercept_ = coef, intercept
        return self

    def decision_function(self, X) -> np.ndarray:
        X = self._check_dim(X)
        return ((X - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_

    def predict_proba(self, X, groups=None) -> np.ndarray:
        logits = self.decision_function(X)
        if self.exclusive:
            return softmax(logits, axis=1)[:, 1:]
        return expit(logits)

    def _state(self) -> dict:
        return {name: getattr(self, name) for name in ("mean_", "scale_", "coef_", "intercept_")}
