"""Retrieval by example on the B-SOiD clips: mean Hit@1/5/10 against random.

    python benchmarks/bsoid_retrieval.py

Each of the 33 bouts (panels cropped as in labels.csv, cut at approx_panel_end_frame) is written
to a temporary mp4 (never kept), embedded with the offline default backbone, indexed (per-video
normalisation off: every video holds a single behaviour, so centring would erase it), and every
bout is used as a query against the other 32 — exactly `ethoprism evaluate-retrieval`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bsoid import DEFAULT_DATA, centre_square, load_bouts  # noqa: E402

from ethoprism.backbones import load_backbone  # noqa: E402
from ethoprism.clips import ClipSpec  # noqa: E402
from ethoprism.evaluation.retrieval import hit_at_k  # noqa: E402
from ethoprism.extract import extract_video  # noqa: E402
from ethoprism.labels import VideoLabels  # noqa: E402
from ethoprism.retrieval import update_index  # noqa: E402
from ethoprism.store import EmbeddingStore  # noqa: E402
from ethoprism.video import VideoWriter  # noqa: E402


def main():
    bouts = load_bouts(DEFAULT_DATA)
    behaviors = sorted({b["behavior"] for b in bouts})
    backbone = load_backbone("effnet-lite0")
    with tempfile.TemporaryDirectory() as folder:
        store = EmbeddingStore(Path(folder) / "store")
        labels = []
        for bout in bouts:
            path = Path(folder) / f"{bout['behavior']}_{bout['panel']}.mp4"
            with VideoWriter(path, fps=15) as writer:
                for frame in centre_square(bout["frames"]):
                    writer.write(frame)
            entry, _ = extract_video(path, backbone, store, ClipSpec(frames=16, size=224, overlap=0))
            targets = np.zeros((entry.n_frames, len(behaviors)), np.int8)
            targets[:, behaviors.index(bout["behavior"])] = 1
            labels.append(VideoLabels(path.name, behaviors, targets, fps=15.0, exclusive=True))
        index, _ = update_index(store.root, normalize="none")
        result = hit_at_k(index, labels, behaviors, max_queries=3, exclude_margin=10_000, random_draws=200)
    summary = result["summary"]
    print(
        f"\nB-SOiD: {summary['n_queries']} queries (every bout), effnet-lite0, exact index, "
        "query's own video excluded\n"
    )
    print("| K | mean Hit@K | random |\n| --- | --- | --- |")
    for k in (1, 5, 10):
        print(f"| {k} | {summary[f'hit@{k}']:.3f} | {summary[f'random_hit@{k}']:.3f} |")
    per_class = pd.DataFrame(summary["per_class"])[["behavior", "hit@1", "hit@5", "hit@10"]]
    print("\n" + per_class.to_string(index=False))


if __name__ == "__main__":
    main()
