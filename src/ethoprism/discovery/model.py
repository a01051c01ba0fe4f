"""The motif model: features (:mod:`.features`) + sticky HMM (:mod:`.hmm`), fitted on a sample of
the sequences and applied to all of them in blocks, saved as JSON + safetensors (no pickle) so
new videos get motifs without refitting, and re-applying it to a video gives the same motifs.

``--motifs auto`` fits each candidate number of motifs with several seeds on the sample and keeps
the largest number whose motifs agree across seeds (mean pairwise adjusted mutual information of
the seeds' assignments, :data:`STABLE_AMI`); where none does, the most stable one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score

from ethoprism.discovery.features import BLOCK_FRAMES, FeatureMap
from ethoprism.discovery.hmm import MotifHMM
from ethoprism.discovery.sequences import MotifSequence
from ethoprism.errors import EthoprismError

FORMAT = "ethoprism-motifs-v2"  # full covariances, learned mean bout
# v1 models kept their stickiness fixed at ``mean_frames``: they load and assign as they did
FORMATS = (FORMAT, "ethoprism-motifs-v1")
STABLE_AMI = 0.8
AUTO_CANDIDATES = (4, 6, 8, 10, 12, 16, 20)
SEGMENT_FRAMES = 3000


def sample_segments(sequences: list[MotifSequence], budget: int) -> list[tuple[int, int, int]]:
    """Contiguous segments (sequence, start, stop) totalling about ``budget`` rows, spread evenly
    over every sequence in proportion to its length (deterministic: the same store gives the same
    sample). Contiguous, because the HMM learns from sequences, not from loose frames."""
    total = sum(len(s) for s in sequences)
    if total <= budget:
        return [(i, 0, len(s)) for i, s in enumerate(sequences) if len(s)]
    segments = []
    for index, sequence in enumerate(sequences):
        share = max(1, round(budget * len(sequence) / total))
        pieces = max(1, share // SEGMENT_FRAMES)
        length = min(len(sequence), max(1, share // pieces))
        for start in np.linspace(0, len(sequence) - length, pieces).round().astype(int):
            segments.append((index, int(start), int(start) + length))
    return segments


@dataclass
class MotifModel:
    n_motifs: int
    window: int
    min_frames: int
    mean_frames: float
    seed: int = 0
    fit_frames: int = 200_000
    n_init: int = 4  # EM restarts; the most likely is kept
    source: dict = field(default_factory=dict)  # what the embeddings are (backbone, weights, ...)

    def fit(self, sequences: list[MotifSequence]) -> MotifModel:
        segments = sample_segments(sequences, self.fit_frames)
        self.features_ = FeatureMap(self.window, seed=self.seed).fit(sequences, segments)
        X = np.concatenate([self.features_.transform(sequences[i], a, b) for i, a, b in segments])
        lengths = [b - a for _, a, b in segments]
        self.hmm_ = MotifHMM(
            self.n_motifs, self.mean_frames, self.min_frames, self.seed, n_init=self.n_init
        ).fit(X, lengths)
        self.fitted_on_ = int(len(X))
        return self

    def assign(self, sequence: MotifSequence) -> tuple[np.ndarray, np.ndarray]:
        """(motif per row, its posterior probability) for every row of ``sequence``."""
        self.check_source(sequence)
        blocks = (self.features_.transform(sequence, a, b) for a, b in sequence.blocks(BLOCK_FRAMES))
        return self.hmm_.decode_blocks(blocks)

    def check_source(self, sequence: MotifSequence) -> None:
        provenance = sequence.entry.provenance
        mine = self.source
        theirs = source_of(provenance, sequence.animal is not None)
        for key in ("backbone", "weights", "dtype"):
            if mine.get(key) != theirs[key]:
                raise EthoprismError(
                    f"the motif model was fitted on {key} {mine.get(key)!r}, this entry is {theirs[key]!r}: "
                    "fit a model on this store, or pass --backbone/--weights",
                    sequence.entry.path,
                )
        if mine.get("per_animal") != theirs["per_animal"]:
            kind = "per-animal" if mine.get("per_animal") else "whole-frame"
            raise EthoprismError(f"the motif model was fitted on {kind} embeddings", sequence.entry.path)

    # saving -------------------------------------------------------------------------------------
    def save(self, path) -> None:
        import torch

        from ethoprism.io.model_files import save_model

        arrays = {name: torch.from_numpy(value) for name, value in self.features_.arrays().items()}
        arrays["hmm_means"] = torch.from_numpy(self.hmm_.means_)
        arrays["hmm_covariances"] = torch.from_numpy(self.hmm_.covariances_)
        meta = {
            "format": FORMAT,
            "n_motifs": self.n_motifs,
            "window": self.window,
            "min_frames": self.min_frames,
            "mean_frames": self.mean_frames,
            "seed": self.seed,
            "fit_frames": self.fit_frames,
            "n_init": self.n_init,
            "fitted_on": self.fitted_on_,
            "features": self.features_.settings(),
            "hmm": self.hmm_.settings(),
            "bout_frames": self.hmm_.bout_frames_,
            "embedding_dim": int(self.features_.embedding_dim_),
            "source": self.source,
            "merge_tree": self.hmm_.linkage_.tolist(),
        }
        save_model(path, arrays, meta)

    @classmethod
    def load(cls, path) -> MotifModel:
        from ethoprism.io.model_files import load_model, model_paths

        tensors, meta = load_model(path, FORMATS, "motif model")
        try:
            model = cls(
                int(meta["n_motifs"]),
                int(meta["window"]),
                int(meta["min_frames"]),
                float(meta["mean_frames"]),
                int(meta["seed"]),
                int(meta["fit_frames"]),
                int(meta["n_init"]),
                dict(meta["source"]),
            )
            arrays = {k: v.numpy() for k, v in tensors.items()}
            model.features_ = FeatureMap.from_arrays(
                meta["features"], {k: v for k, v in arrays.items() if not k.startswith("hmm_")}
            )
            bout_frames = float(meta["bout_frames"] if meta["format"] == FORMAT else meta["mean_frames"])
            if not np.isfinite(bout_frames) or bout_frames < 1:
                raise ValueError(f"a mean bout of {bout_frames} frames")
            model.hmm_ = MotifHMM.from_arrays(
                meta["hmm"], arrays["hmm_means"], arrays["hmm_covariances"], bout_frames
            )
            model.fitted_on_ = int(meta["fitted_on"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EthoprismError(
                f"damaged motif model ({exc.__class__.__name__}: {exc})", model_paths(path)[0]
            ) from exc
        if model.hmm_.means_.shape != (model.n_motifs, model.features_.feature_components_.shape[0]):
            raise EthoprismError("damaged motif model (its arrays disagree in shape)", model_paths(path)[0])
        return model


def source_of(provenance, per_animal: bool) -> dict:
    return {
        "backbone": provenance.backbone,
        "weights": provenance.weights.describe(),
        "dtype": provenance.dtype,
        "clip_spec": provenance.clip_spec.key,
        "per_animal": per_animal,
    }


def fit_model(sequences: list[MotifSequence], n_motifs: int, **settings) -> MotifModel:
    source = source_of(sequences[0].entry.provenance, sequences[0].animal is not None)
    return MotifModel(n_motifs, source=source, **settings).fit(sequences)


def stability(sequences: list[MotifSequence], n_motifs: int, seeds, budget: int, **settings) -> float:
    """Mean pairwise AMI between the motifs of models fitted with ``seeds`` on one sample."""
    segments = sample_segments(sequences, budget)
    assignments = []
    for seed in seeds:
        # one EM start per seed: the final fit's restarts only make it steadier than measured here
        model = fit_model(sequences, n_motifs, seed=seed, fit_frames=budget, n_init=1, **settings)
        assignments.append(
            np.concatenate(
                [model.hmm_.decode(model.features_.transform(sequences[i], a, b))[0] for i, a, b in segments]
            )
        )
    pairs = list(itertools.combinations(assignments, 2))
    return float(np.mean([adjusted_mutual_info_score(a, b) for a, b in pairs])) if pairs else 1.0


def choose_n_motifs(
    sequences: list[MotifSequence],
    candidates=AUTO_CANDIDATES,
    seeds=(0, 1, 2),
    budget: int = 40_000,
    progress=None,
    **settings,
) -> tuple[int, list[dict]]:
    """-> (number of motifs, the table of candidates tried with their stability)."""
    total = sum(len(s) for s in sequences)
    tried = []
    usable = [k for k in candidates if k * settings.get("min_frames", 1) * 4 <= min(total, budget)]
    for n_motifs in usable or [min(candidates)]:
        value = stability(sequences, n_motifs, seeds, budget, **settings)
        tried.append({"motifs": n_motifs, "stability_ami": round(value, 4)})
        if progress:
            progress(n_motifs, value)
    stable = [row for row in tried if row["stability_ami"] >= STABLE_AMI]
    chosen = (
        max(stable, key=lambda r: r["motifs"]) if stable else max(tried, key=lambda r: r["stability_ami"])
    )
    for row in tried:
        row["chosen"] = row is chosen
    return chosen["motifs"], tried
