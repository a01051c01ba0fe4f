"""Ray scale-out: the same videos extracted by 1 and by 2 local Ray workers (and by one plain
process), the speed-up, and whether the stores are identical.

    python benchmarks/ray_extract.py [--videos 4] [--frames 600] [--cpus 2]

The videos are made here (the DeepLabCut open-field video's frames, different stretches per
video), embedded with the offline default backbone at its default size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

from ethoprism.backbones import load_backbone
from ethoprism.store import EmbeddingStore
from ethoprism.video import VideoReader, VideoWriter
from ethoprism.workflows.extract import clip_spec, extract_videos, extract_videos_ray

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "dlc_openfield_mouse" / "m3v1mp4.mp4"


def make_videos(folder: Path, count: int, n_frames: int) -> list[Path]:
    with VideoReader(SOURCE) as reader:
        frames = [f[::2, ::2].copy() for f in reader.iter_frames()]
    paths = []
    for v in range(count):
        path = folder / f"video_{v}.mp4"
        with VideoWriter(path, fps=30) as writer:
            for i in range(n_frames):
                writer.write(frames[(v * 397 + i) % len(frames)])
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        videos = make_videos(folder, args.videos, args.frames)
        total = args.videos * args.frames
        model = load_backbone("effnet-lite0")
        start = time.perf_counter()
        single = extract_videos(videos, model, EmbeddingStore(folder / "single"), clip_spec(model))
        rows.append(("one process (torch on all cores)", time.perf_counter() - start))
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        stores = {}
        for workers in (1, 2):
            store = EmbeddingStore(folder / f"ray_{workers}")
            start = time.perf_counter()
            stores[workers] = extract_videos_ray(videos, store, "effnet-lite0", workers=workers)
            rows.append(
                (
                    f"Ray, {workers} worker{'s' if workers > 1 else ''} (1 CPU each)",
                    time.perf_counter() - start,
                )
            )
        ray.shutdown()
        identical = all(
            np.array_equal(a.entry.embeddings(), b.entry.embeddings()) for a, b in zip(stores[1], stores[2])
        )
        close = max(
            float(np.abs(a.entry.embeddings() - b.entry.embeddings()).max())
            for a, b in zip(single, stores[2])
        )
    print(f"\n{args.videos} videos x {args.frames} frames, effnet-lite0 224 px, {args.cpus}-CPU local Ray\n")
    print("| run | seconds | frames/s |\n| --- | --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {total / seconds:.1f} |")
    print(
        f"\nspeed-up 2 vs 1 Ray workers: {rows[1][1] / rows[2][1]:.2f}x; 1- and 2-worker stores identical: "
        f"{identical}; max |Ray - single process| = {close:.2e}"
    )


if __name__ == "__main__":
    main()
