"""Localisation AP with the offline default backbone: the SLEAP fly video (user-labelled pose on
all 1500 frames -> boxes) and the synthetic arena.

    python benchmarks/localization.py [--size 448] [--token-step 2]

Train on the first 70 % of frames, evaluate on the rest (pycocotools: mAP 0.5:0.95, AP@50, AP@75).
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
from ethoprism.localization import workflow  # noqa: E402
from ethoprism.localization.evaluate import coco_ap  # noqa: E402
from ethoprism.store import EmbeddingStore  # noqa: E402
from ethoprism.synthetic import SyntheticConfig, generate  # noqa: E402

FLY = Path(__file__).resolve().parents[2] / "shared/data/sleap_fly_videos"


def run(name, video, boxes_path, size, token_step, folder, pose_video=None):
    backbone = load_backbone("effnet-lite0")
    store = Path(folder) / name
    start = time.perf_counter()
    entry, _ = extract_video(video, backbone, EmbeddingStore(store), ClipSpec(frames=16, size=size, overlap=0),
                             token_step=token_step)
    extract_s = time.perf_counter() - start
    n = entry.n_frames
    split = int(n * 0.7)
    start = time.perf_counter()
    head = workflow.train(store, boxes_path, Path(folder) / f"{name}_head", frames=(0, split - 1), video=pose_video)
    train_s = time.perf_counter() - start
    predicted = workflow.predict(store, head, frames=(split, n - 1))
    truth = workflow.read_boxes(boxes_path, pose_video)
    truth = truth[(truth.frame >= split) & (truth.frame % token_step == 0)]
    metrics = coco_ap(truth, predicted, workflow.video_sizes(store))
    grid = entry.tokens()[0].shape[1:3]
    return {"data": name, "frames": n, "train_frames": f"0-{split - 1}", "test_frames": f"{split}-{n - 1}",
            "input": f"{size} px, {grid[0]}x{grid[1]} tokens", "extract_s": extract_s, "train_s": train_s, **metrics}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--token-step", type=int, default=2)
    parser.add_argument("--only", choices=["synthetic", "fly"], default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if args.only != "fly":
            (synthetic,) = generate(Path(folder) / "synthetic", SyntheticConfig(n_videos=1, n_frames=1500, size=256,
                                                                                n_animals=2, seed=21))
            rows.append(run("synthetic (2 animals, 256 px)", synthetic.path, Path(folder) / "synthetic" / "boxes.json",
                            512, args.token_step, folder))
            print(rows[-1], file=sys.stderr, flush=True)
        if args.only != "synthetic":
            rows.append(run("SLEAP fly clip.mp4 (2 flies, 1024 px)", FLY / "clip.mp4", FLY / "clip.slp", args.size,
                            args.token_step, folder, pose_video="clip.mp4"))
            print(rows[-1], file=sys.stderr, flush=True)
    print("\n| data | input | train frames | test frames | mAP | AP@50 | AP@75 | extract s | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['data']} | {r['input']} | {r['train_frames']} | {r['test_frames']} | {r['map']:.3f} | "
              f"{r['ap50']:.3f} | {r['ap75']:.3f} | {r['extract_s']:.0f} | {r['train_s']:.0f} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
