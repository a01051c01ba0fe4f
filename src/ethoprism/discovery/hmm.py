"""Motifs as the states of a sticky Gaussian HMM, with a minimum duration.

Why an HMM (hmmlearn) rather than clustering frames: frame-wise clusters flicker between
neighbouring states every few frames, and a lab cannot count bouts of flicker. The transitions
stay *sticky*: every motif shares one probability of staying, ``1 - 1/mean bout``, which EM
learns from the data, starting from ``mean_frames`` (a second). Learning a full transition matrix
lets EM trade stickiness for likelihood motif by motif, and the motifs flicker again; one shared
number cannot be traded that way, and it follows the recording: 0.5 s on the synthetic set, 4 s on
the fly clip, 10 s on the single-behaviour B-SOiD clips (docs/discovery.md), where a fixed second
split a clip's one behaviour into several motifs. It never goes below ``min_frames``.

Emissions are Gaussians with full covariances on a dozen feature dimensions (cheap at that size,
and closer to the labels than diagonal ones on all three labelled sets, docs/discovery.md);
hmmlearn initialises them by k-means, seeded. A sticky HMM still allows a one-frame state where
the evidence is strong, so bouts shorter than ``min_frames`` are then given to the neighbour whose
posterior over them is higher: no motif lasts less than ``min_frames`` (except a whole sequence
that short).

A merge tree over the motifs (Ward linkage of their means, scipy) lets a user coarsen K motifs
into fewer without refitting.
"""

from __future__ import annotations

import logging

import numpy as np
from hmmlearn.hmm import GaussianHMM
from scipy.cluster.hierarchy import fcluster, linkage

from ethoprism.errors import EthoprismError

DECODE_BLOCK = 65536
# EM's "not converging" notes (a likelihood that dips by 1e-3 at the end) are not the user's business
logging.getLogger("hmmlearn.base").setLevel(logging.ERROR)


MAX_MEAN_FRAMES = 1e6  # a stay probability of 1 would make a chain that never leaves its first motif


def sticky_transitions(n_motifs: int, mean_frames: float) -> np.ndarray:
    stay = 1.0 - 1.0 / max(mean_frames, 2.0)
    transitions = np.full((n_motifs, n_motifs), (1.0 - stay) / max(n_motifs - 1, 1))
    np.fill_diagonal(transitions, stay if n_motifs > 1 else 1.0)
    return transitions


class _SharedStayGaussianHMM(GaussianHMM):
    """hmmlearn's Gaussian HMM whose M-step keeps the transitions sticky: one probability of
    staying, shared by every motif, from the expected transition counts (the maximum-likelihood
    estimate under that constraint), the rest spread evenly over the other motifs. The mean bout
    it implies is kept in ``mean_frames_`` (with one motif there is no transition to learn)."""

    def start(self, mean_frames: float, shortest_mean_frames: float) -> None:
        self.mean_frames_, self.shortest_mean_frames = float(mean_frames), float(shortest_mean_frames)
        self.startprob_ = np.full(self.n_components, 1.0 / self.n_components)
        self.transmat_ = sticky_transitions(self.n_components, self.mean_frames_)

    def _do_mstep(self, stats):
        super()._do_mstep(stats)
        if "t" in self.params and self.n_components > 1:
            counts = stats["trans"]
            stay = float(np.trace(counts) / max(float(counts.sum()), 1e-12))
            mean = 1.0 / max(1.0 - stay, 1.0 / MAX_MEAN_FRAMES)
            self.mean_frames_ = max(mean, self.shortest_mean_frames)
        self.transmat_ = sticky_transitions(self.n_components, self.mean_frames_)


def runs(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of equal values in ``states``."""
    if len(states) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero(np.diff(states)) + 1
    return np.concatenate([[0], change]), np.concatenate([change, [len(states)]])


def enforce_min_duration(states: np.ndarray, posteriors: np.ndarray, min_frames: int) -> np.ndarray:
    """Give every run shorter than ``min_frames`` to the neighbouring motif with the higher summed
    posterior over it. Runs of one parity (every other run) are merged in one pass, so a run's
    neighbours never change under it; passes repeat until no short run is left (each merge
    removes a run, so it ends)."""
    states = states.copy()
    if min_frames <= 1 or len(states) <= min_frames:
        return states
    parity = 0
    idle_passes = 0
    while idle_passes < 2:
        starts, ends = runs(states)
        if len(starts) == 1:
            break
        short = np.flatnonzero((ends - starts < min_frames) & (np.arange(len(starts)) % 2 == parity))
        idle_passes = 0 if len(short) else idle_passes + 1
        for index in short:
            a, b = starts[index], ends[index]
            options = []
            if index > 0:
                options.append(states[a - 1])
            if index < len(starts) - 1:
                options.append(states[b])
            states[a:b] = max(options, key=lambda motif: posteriors[a:b, motif].sum())
        parity = 1 - parity
    return states


def _positive_definite(covariances: np.ndarray) -> bool:
    matrices = np.asarray(covariances, np.float64)
    if matrices.ndim == 2:
        return bool(np.isfinite(matrices).all() and (matrices > 0).all())
    if not np.isfinite(matrices).all():
        return False
    return bool((np.linalg.eigvalsh((matrices + matrices.transpose(0, 2, 1)) / 2) > 0).all())


class MotifHMM:
    """scikit-learn style: ``fit(X, lengths)`` returns self; ``decode(X)`` -> (motif, probability)."""

    def __init__(
        self,
        n_motifs: int,
        mean_frames: float = 30.0,
        min_frames: int = 5,
        seed: int = 0,
        n_iter=40,
        n_init=4,
    ):
        self.n_motifs, self.mean_frames, self.min_frames = n_motifs, mean_frames, min_frames
        self.seed, self.n_iter, self.n_init = seed, n_iter, n_init

    def _model(self, random_state=None, covariance: str = "full") -> _SharedStayGaussianHMM:
        return _SharedStayGaussianHMM(
            n_components=self.n_motifs,
            covariance_type=covariance,
            n_iter=self.n_iter,
            tol=1e-2,
            random_state=self.seed if random_state is None else random_state,
            init_params="mc",
            params="mct",
            min_covar=1e-3,
            implementation="scaling",
        )

    def fit(self, X: np.ndarray, lengths: list[int]) -> MotifHMM:
        """EM from ``n_init`` k-means starts (seeded from ``seed``), keeping the most likely: one
        EM run lands in whichever local optimum its start is near, and the best of several is
        what makes two seeds agree."""
        X = np.asarray(X, np.float64)
        best, best_score = None, -np.inf
        # a motif that EM empties has a singular full covariance: that start is dropped, and if
        # every start fails that way the diagonal model (always valid) stands in
        for covariance in ("full", "diag"):
            for start in np.random.default_rng(self.seed).integers(0, 2**31 - 1, self.n_init):
                model = self._model(int(start), covariance)
                model.start(self.mean_frames, max(2, self.min_frames))
                try:
                    model.fit(X, lengths)
                    score = model.score(X, lengths)
                except ValueError:
                    continue
                if not _positive_definite(model.covars_):  # fit may end on one it never checks
                    continue
                if np.isfinite(score) and score > best_score:
                    best, best_score = model, score
            if best is not None:
                break
        if best is None:
            raise EthoprismError(
                f"no {self.n_motifs}-motif model could be fitted to these features: try fewer --motifs"
            )
        self._set(best.means_, best.covars_, best.mean_frames_)
        self.converged_ = bool(best.monitor_.converged)
        self.iterations_ = int(best.monitor_.iter)
        self.log_likelihood_ = float(best_score)
        return self

    def _set(self, means: np.ndarray, covariances: np.ndarray, bout_frames: float) -> None:
        self.means_ = np.asarray(means, np.float64)
        covariances = np.asarray(covariances, np.float64)
        if covariances.ndim == 2:  # the diagonal model's variances
            covariances = np.stack([np.diag(c) for c in covariances])
        self.covariances_ = (covariances + covariances.transpose(0, 2, 1)) / 2
        self.startprob_ = np.full(self.n_motifs, 1.0 / self.n_motifs)
        # the learned mean bout (frames); ``mean_frames`` is only where EM started
        self.bout_frames_ = float(bout_frames)
        self.transmat_ = sticky_transitions(self.n_motifs, self.bout_frames_)
        self.linkage_ = linkage(self.means_, "ward") if self.n_motifs > 1 else np.zeros((0, 4))

    @classmethod
    def from_arrays(
        cls, settings: dict, means: np.ndarray, covariances: np.ndarray, bout_frames: float
    ) -> MotifHMM:
        hmm = cls(**settings)
        hmm._set(means, covariances, bout_frames)
        return hmm

    def settings(self) -> dict:
        return {
            "n_motifs": self.n_motifs,
            "mean_frames": self.mean_frames,
            "min_frames": self.min_frames,
            "seed": self.seed,
            "n_iter": self.n_iter,
            "n_init": self.n_init,
        }

    def _decoder(self, start: np.ndarray) -> GaussianHMM:
        model = self._model()
        model.n_features = self.means_.shape[1]
        model.startprob_, model.transmat_ = start, self.transmat_
        model.means_, model.covars_ = self.means_, self.covariances_
        return model

    def decode_blocks(self, blocks):
        """``blocks``: feature arrays of one sequence in order. Viterbi per block, each block
        starting from where the last one ended (memory is one block whatever the length). ->
        (motif per row, posterior of that motif), minimum duration applied."""
        states, posteriors, start = [], [], self.startprob_
        for X in blocks:
            model = self._decoder(start)
            X = np.asarray(X, np.float64)
            _, path = model.decode(X, algorithm="viterbi")
            states.append(path)
            posteriors.append(model.predict_proba(X).astype(np.float32))
            start = self.transmat_[path[-1]]
        if not states:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        state, posterior = np.concatenate(states), np.concatenate(posteriors)
        state = enforce_min_duration(state, posterior, self.min_frames)
        return state.astype(np.int64), posterior[np.arange(len(state)), state]

    def decode(self, X: np.ndarray):
        return self.decode_blocks(X[i : i + DECODE_BLOCK] for i in range(0, len(X), DECODE_BLOCK))

    def coarsen(self, n_groups: int) -> np.ndarray:
        """motif -> group (0-based) when the merge tree is cut into ``n_groups`` groups."""
        if n_groups >= self.n_motifs or self.n_motifs < 2:
            return np.arange(self.n_motifs)
        labels = fcluster(self.linkage_, n_groups, criterion="maxclust") - 1
        # groups numbered by their first motif, so coarsening keeps the order users know
        order = {g: i for i, g in enumerate(dict.fromkeys(labels))}
        return np.asarray([order[g] for g in labels])
