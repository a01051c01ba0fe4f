"""Label-free motifs: how they match known behaviours, how stable they are, what hours cost.

    python benchmarks/discover.py [--sets synthetic bsoid fly scale] [--seeds 5] [--hours 1 24]
                                  [--work /tmp/ethoprism-discover]

Labelled sets (embeddings from the offline default, EfficientNet-Lite0; the labels are never
shown to discovery, only to the scoring afterwards):

* **synthetic**: ethoprism's generator, 4 videos x 1200 frames at 30 fps, 96 px (known behaviours).
* **bsoid**: the B-SOiD example clips (``../shared/data/bsoid_mouse_behavior_clips``): 33 panels,
  each cropped to its box, cut at its end frame and written as a video of its own, labelled over
  its whole length with the behaviour B-SOiD (itself a discovery tool) gave it; 11 behaviours.
* **fly**: the SLEAP two-fly clip (1500 frames, 25 fps) with behaviours derived from its pose
  (``behaviour_sets.fly_labels``: walk, male walk, apart); each frame's combination is its class.

For each: ``ethoprism discover`` with as many motifs as the set has classes, then
``evaluate-motifs`` (every metric beside shuffled motifs and frame-wise k-means), and the
stability across ``--seeds`` seeds (mean pairwise AMI of their motifs on every frame).

**scale**: synthetic embeddings of 1 h and 24 h at 30 fps (1280-dimensional, 8 planted states
with bouts of about a second, made block by block so no copy of them is ever whole), fitted on the
default sample and assigned in blocks, each size in a process of its own: wall time and peak
memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
SHARED = ROOT.parent / "shared" / "data"
BSOID = SHARED / "bsoid_mouse_behavior_clips"


def extract_all(videos, store: Path, size: int, frames: int = 16) -> None:
    from ethoprism.backbones import load_backbone
    from ethoprism.clips import ClipSpec
    from ethoprism.extract import extract_video
    from ethoprism.store import EmbeddingStore

    backbone = load_backbone("effnet-lite0")
    target = EmbeddingStore(store)
    for video in videos:
        extract_video(video, backbone, target, ClipSpec(frames=frames, size=size, overlap=0))


def synthetic_set(work: Path) -> tuple[Path, Path]:
    from ethoprism.synthetic import SyntheticConfig, generate

    folder = work / "synthetic"
    if not (folder / "store").exists():
        videos = generate(folder / "data", SyntheticConfig(n_videos=4, n_frames=1200, size=96, seed=5))
        extract_all([v.path for v in videos], folder / "store", 96)
    return folder / "store", folder / "data" / "labels.csv"


def bsoid_set(work: Path) -> tuple[Path, Path]:
    from ethoprism.video import VideoReader, VideoWriter

    folder = work / "bsoid"
    labels_path = folder / "labels.csv"
    if not (folder / "store").exists():
        table = pd.read_csv(BSOID / "labels.csv")
        rows, videos = [], []
        for row in table.itertuples():
            reader = VideoReader(BSOID / row.file)
            end = min(max(int(row.approx_panel_end_frame), 8), reader.n_frames - 1)
            frames = reader.read_frames(np.arange(end + 1))
            reader.close()
            panel = frames[:, row.y0 : row.y1, row.x0 : row.x1]
            side = min(panel.shape[1:3])
            top, left = (panel.shape[1] - side) // 2, (panel.shape[2] - side) // 2
            path = folder / "videos" / f"{row.behavior}_{row.panel}.mp4"
            with VideoWriter(path, fps=float(row.fps)) as writer:
                for frame in panel[:, top : top + side, left : left + side]:
                    writer.write(np.ascontiguousarray(frame))
            videos.append(path)
            rows.append({"video": path.name, "behavior": row.behavior, "start_frame": 0, "end_frame": end})
        pd.DataFrame(rows).to_csv(labels_path, index=False)
        extract_all(videos, folder / "store", 224, frames=8)
    return folder / "store", labels_path


def fly_set(work: Path) -> tuple[Path, Path]:
    from behaviour_sets import FLY_BEHAVIORS, FLY_VIDEO, fly_labels

    from ethoprism.discovery.hmm import runs

    folder = work / "fly"
    labels_path = folder / "labels.csv"
    if not (folder / "store").exists():
        folder.mkdir(parents=True, exist_ok=True)
        extract_all([FLY_VIDEO], folder / "store", 224)
    labels = fly_labels()
    names = np.array(["+".join(b for b, on in zip(FLY_BEHAVIORS, row) if on) or "none" for row in labels])
    codes = np.unique(names, return_inverse=True)[1]
    starts, ends = runs(codes)
    pd.DataFrame(
        {"video": FLY_VIDEO.name, "behavior": names[starts], "start_frame": starts, "end_frame": ends - 1}
    ).to_csv(labels_path, index=False)
    return folder / "store", labels_path


def labelled_row(name: str, store: Path, labels: Path, work: Path, seeds: int) -> dict:
    from sklearn.metrics import adjusted_mutual_info_score

    from ethoprism.discovery.model import fit_model
    from ethoprism.workflows.discover import (
        MEAN_S,
        MIN_S,
        WINDOW_S,
        _frames,
        discover,
        evaluate_motifs,
        select_sequences,
    )

    classes = pd.read_csv(labels)["behavior"].nunique()
    classes += name == "synthetic"  # its frames outside every bout are a class of their own
    out = work / name / "motifs"
    start = time.perf_counter()
    summary = discover(store, out, classes, seed=0, movies=False)
    seconds = time.perf_counter() - start
    result = evaluate_motifs(store, out, [str(labels)], seed_check=False)
    sequences = select_sequences(store)
    fps = float(np.median([s.entry.fps for s in sequences]))
    settings = dict(
        window=_frames(WINDOW_S, fps, 3) | 1,
        min_frames=_frames(MIN_S, fps),
        mean_frames=float(_frames(MEAN_S, fps, 2)),
    )
    truth, scored = scored_frames(sequences, labels)
    assignments, ami_seeds = [], []
    for seed in range(seeds):
        model = fit_model(sequences, classes, seed=seed, **settings)
        assignments.append(np.concatenate([model.assign(s)[0] for s in sequences]))
        ami_seeds.append(adjusted_mutual_info_score(truth, assignments[-1][scored]))
    pairs = [adjusted_mutual_info_score(a, b) for a, b in itertools.combinations(assignments, 2)]
    scores = {row["method"].split(" (")[0]: row for row in result["scores"]}
    return {
        "set": name,
        "frames": summary["frames"],
        "classes": len(result["behaviours"]),
        "motifs": summary["motifs"],
        "fit_s": round(seconds, 1),
        "mean_bout_s": summary["mean_bout_s"],  # learned by the seed-0 model
        "ami": scores["motifs"]["ami"],
        "ami_kmeans": scores["frame-wise k-means"]["ami"],
        "ami_shuffled": scores["shuffled motifs"]["ami"],
        "nmi": scores["motifs"]["nmi"],
        "v_measure": scores["motifs"]["v_measure"],
        "purity": scores["motifs"]["purity"],
        "purity_kmeans": scores["frame-wise k-means"]["purity"],
        "purity_shuffled": scores["shuffled motifs"]["purity"],
        "hungarian": scores["motifs"]["hungarian_accuracy"],
        "hungarian_kmeans": scores["frame-wise k-means"]["hungarian_accuracy"],
        # one seed's comparison moves by +-0.05 on B-SOiD with the embeddings' rounding: the
        # mean and spread over the seeds (each method with its own seed) are the measurement
        "ami_seeds_mean": float(np.mean(ami_seeds)),
        "ami_seeds_std": float(np.std(ami_seeds)),
        "ami_kmeans_sd": scores["frame-wise k-means"]["ami_sd"],  # evaluate-motifs' 5 seeds
        # is the motifs' mean AMI above k-means'? Welch's one-sided t-test, 5 seeds against 5
        "p_above_kmeans": above_kmeans(ami_seeds, scores["frame-wise k-means"]),
        # stability needs two seeds; with one it is not measured
        "seed_ami_mean": float(np.mean(pairs)) if pairs else float("nan"),
        "seed_ami_min": float(np.min(pairs)) if pairs else float("nan"),
    }


def above_kmeans(ami_seeds: list[float], kmeans: dict) -> float:
    from scipy.stats import ttest_ind_from_stats

    from ethoprism.discovery.scoring import KMEANS_SEEDS

    n = len(ami_seeds)
    if n < 2:
        return float("nan")
    result = ttest_ind_from_stats(
        float(np.mean(ami_seeds)),
        float(np.std(ami_seeds, ddof=1)),
        n,
        kmeans["ami"],
        kmeans["ami_sd"] * np.sqrt(KMEANS_SEEDS / (KMEANS_SEEDS - 1)),  # ami_sd is the population sd
        KMEANS_SEEDS,
        equal_var=False,
        alternative="greater",
    )
    return float(result.pvalue)


def scored_frames(sequences, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(behaviour of each scored frame, which of the sequences' concatenated frames are scored),
    as ``evaluate-motifs`` scores them."""
    from ethoprism.dataset import video_frame_info
    from ethoprism.io import read_labels
    from ethoprism.workflows.discover import frame_behaviours

    entries = list({id(s.entry): s.entry for s in sequences}.values())
    labels = {label.video: label for label in read_labels([str(labels_path)], video_frame_info(entries))}
    truth, scored = [], []
    for sequence in sequences:
        names, keep = frame_behaviours(labels[sequence.video], sequence.frame_numbers())
        truth.append(names[keep])
        scored.append(keep)
    return np.concatenate(truth), np.concatenate(scored)


class PlantedSequence:
    """A long recording's embeddings made on demand, 4096 frames at a time from their own seed, so
    that any read of a frame gives the same row and memory holds one block."""

    CHUNK = 4096

    def __init__(self, n_frames: int, dim: int = 1280, states: int = 8, seed: int = 0):
        self.n_frames, self.dim = n_frames, dim
        rng = np.random.default_rng(seed)
        self.centres = rng.normal(size=(states, dim)).astype(np.float32)
        lengths = rng.geometric(1 / 30, n_frames // 10 + 10)
        self.truth = np.repeat(rng.integers(0, states, len(lengths)), lengths)[:n_frames]
        self.animal = None

    def __len__(self) -> int:
        return self.n_frames

    def _chunk(self, index: int) -> np.ndarray:
        rng = np.random.default_rng(index + 1)
        rows = slice(index * self.CHUNK, min(self.n_frames, (index + 1) * self.CHUNK))
        states = self.truth[rows]
        return self.centres[states] + 2.0 * rng.standard_normal((len(states), self.dim), np.float32)

    def read(self, start: int, stop: int) -> np.ndarray:
        first, last = start // self.CHUNK, (stop - 1) // self.CHUNK
        rows = np.concatenate([self._chunk(i) for i in range(first, last + 1)])
        return rows[start - first * self.CHUNK : stop - first * self.CHUNK]

    def blocks(self, block: int):
        for start in range(0, self.n_frames, block):
            yield start, min(self.n_frames, start + block)


def scale_child(hours: float) -> None:
    """Run in a process of its own: fit on the default sample, assign every frame in blocks."""
    from sklearn.metrics import adjusted_mutual_info_score

    from ethoprism.discovery.features import BLOCK_FRAMES, FeatureMap
    from ethoprism.discovery.hmm import MotifHMM
    from ethoprism.discovery.model import MotifModel, sample_segments

    sequence = PlantedSequence(int(hours * 3600 * 30))
    start = time.perf_counter()
    model = MotifModel(8, window=9, min_frames=6, mean_frames=30.0)
    segments = sample_segments([sequence], model.fit_frames)
    features = FeatureMap(model.window).fit([sequence], segments)
    X = np.concatenate([features.transform(sequence, a, b) for _, a, b in segments])
    hmm = MotifHMM(8, 30.0, 6, 0, n_init=model.n_init).fit(X, [b - a for _, a, b in segments])
    fitted = time.perf_counter() - start
    motifs, _ = hmm.decode_blocks(
        features.transform(sequence, a, b) for a, b in sequence.blocks(BLOCK_FRAMES)
    )
    total = time.perf_counter() - start
    every = max(1, len(motifs) // 500_000)
    print(
        json.dumps(
            {
                "hours": hours,
                "frames": len(sequence),
                "fit_s": round(fitted, 1),
                "total_s": round(total, 1),
                "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                "ami_planted": round(adjusted_mutual_info_score(sequence.truth[::every], motifs[::every]), 3),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["synthetic", "bsoid", "fly", "scale"])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per set (stability needs 2 or more)")
    parser.add_argument("--hours", nargs="+", type=float, default=[1.0, 24.0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ethoprism-discover"))
    parser.add_argument("--scale-child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child is not None:
        scale_child(args.scale_child)
        return
    makers = {"synthetic": synthetic_set, "bsoid": bsoid_set, "fly": fly_set}
    rows = []
    for name in args.sets:
        if name in makers:
            store, labels = makers[name](args.work)
            rows.append(labelled_row(name, store, labels, args.work, args.seeds))
            print(json.dumps(rows[-1]), flush=True)
    if rows:
        table = pd.DataFrame(rows)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if "scale" in args.sets:
        scale = []
        for hours in args.hours:
            done = subprocess.run(
                [sys.executable, __file__, "--scale-child", str(hours)],
                capture_output=True,
                text=True,
                check=True,
            )
            scale.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(scale[-1]), flush=True)
        print(pd.DataFrame(scale).to_string(index=False))


if __name__ == "__main__":
    main()
