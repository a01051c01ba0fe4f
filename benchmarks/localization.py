"""Localisation AP with the offline default backbone: the SLEAP fly video (user-labelled pose on
all 1500 frames -> boxes) and the synthetic arena.

    python benchmarks/localization.py [--size 448] [--token-step 2] [--only fly] [--split first70|blocks]
                                      [--store DIR]

--split first70 (default): train on the first 70 % of frames, evaluate on the rest.
--split blocks: leave-one-block-out over 5 contiguous blocks; the out-of-fold predictions of all
blocks are scored together. pycocotools: mAP 0.5:0.95, AP@50, AP@75. --store keeps the extracted
token maps (a second run with the same size reuses them).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ethoprism.backbones import load_backbone  # noqa: E402
from ethoprism.clips import ClipSpec  # noqa: E402
from ethoprism.extract import extract_video  # noqa: E402
from ethoprism.io.boxes import read_boxes  # noqa: E402
from ethoprism.localization.evaluate import coco_ap  # noqa: E402
from ethoprism.store import EmbeddingStore  # noqa: E402
from ethoprism.synthetic import SyntheticConfig, generate  # noqa: E402
from ethoprism.workflows import localize  # noqa: E402

FLY = Path(__file__).resolve().parents[2] / "shared/data/sleap_fly_videos"


def run(name, video, boxes_path, size, token_step, folder, pose_video=None, split="first70", store=None):
    import numpy as np
    import pandas as pd

    backbone = load_backbone("effnet-lite0")
    store = Path(store or Path(folder) / name)
    start = time.perf_counter()
    entry, cached = extract_video(
        video,
        backbone,
        EmbeddingStore(store),
        ClipSpec(frames=16, size=size, overlap=0),
        token_step=token_step,
    )
    extract_s = float("nan") if cached else time.perf_counter() - start
    n = entry.n_frames
    if split == "first70":
        cut = int(n * 0.7)
        folds = [([(0, cut - 1)], (cut, n - 1))]
        train_text, test_text = f"0-{cut - 1}", f"{cut}-{n - 1}"
    else:
        blocks = np.array_split(np.arange(n), 5)
        folds = [
            (
                [(int(b[0]), int(b[-1])) for j, b in enumerate(blocks) if j != i],
                (int(blocks[i][0]), int(blocks[i][-1])),
            )
            for i in range(len(blocks))
        ]
        train_text, test_text = "the other 4 blocks", "each of 5 blocks of 300"
    truth = read_boxes(boxes_path, pose_video).boxes
    predicted, scored, train_s = [], [], 0.0
    for train_frames, test_span in folds:
        start = time.perf_counter()
        head = localize.train(
            store, boxes_path, Path(folder) / f"{name}_head", frames=train_frames, video=pose_video
        )
        train_s += time.perf_counter() - start
        predicted.append(localize.predict(store, head, frames=test_span))
        scored.append(
            truth[
                (truth.frame >= test_span[0])
                & (truth.frame <= test_span[1])
                & (truth.frame % token_step == 0)
            ]
        )
    metrics = coco_ap(pd.concat(scored), pd.concat(predicted), localize.video_sizes(store))
    grid = entry.tokens()[0].shape[1:3]
    return {
        "data": name,
        "frames": n,
        "train_frames": train_text,
        "test_frames": test_text,
        "input": f"{size} px, {grid[0]}x{grid[1]} tokens",
        "extract_s": extract_s,
        "train_s": train_s,
        **metrics,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--token-step", type=int, default=2)
    parser.add_argument("--only", choices=["synthetic", "fly"], default=None)
    parser.add_argument("--split", choices=["first70", "blocks"], default="first70")
    parser.add_argument("--store", type=Path, default=None, help="keep the fly's token maps here")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if args.only != "fly":
            (synthetic,) = generate(
                Path(folder) / "synthetic",
                SyntheticConfig(n_videos=1, n_frames=1500, size=256, n_animals=2, seed=21),
            )
            rows.append(
                run(
                    "synthetic (2 animals, 256 px)",
                    synthetic.path,
                    Path(folder) / "synthetic" / "boxes.json",
                    512,
                    args.token_step,
                    folder,
                    split=args.split,
                )
            )
            print(rows[-1], file=sys.stderr, flush=True)
        if args.only != "synthetic":
            rows.append(
                run(
                    "SLEAP fly clip.mp4 (2 flies, 1024 px)",
                    FLY / "clip.mp4",
                    FLY / "clip.slp",
                    args.size,
                    args.token_step,
                    folder,
                    pose_video="clip.mp4",
                    split=args.split,
                    store=args.store,
                )
            )
            print(rows[-1], file=sys.stderr, flush=True)
    print("\n| data | input | train frames | test frames | mAP | AP@50 | AP@75 | extract s | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['data']} | {r['input']} | {r['train_frames']} | {r['test_frames']} | {r['map']:.3f} | "
            f"{r['ap50']:.3f} | {r['ap75']:.3f} | {r['extract_s']:.0f} | {r['train_s']:.0f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
