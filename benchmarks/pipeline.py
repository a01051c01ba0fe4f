"""Does the backbone wait for the decoder? End-to-end `extract_video` frames/s against the
model alone on the very same clip batches (frames decoded beforehand), and PyAV decoding
against the ffmpeg command line.

    python benchmarks/pipeline.py [--video PATH] [--size 224] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ethoprism.backbones import load_backbone
from ethoprism.clips import plan_clips
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore
from ethoprism.video import VideoReader

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared/data/dlc_openfield_mouse/m3v1mp4.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    backbone = load_backbone("effnet-lite0")
    spec = backbone.default_clip_spec()
    spec = type(spec)(**{**spec.to_dict(), "size": args.size})
    with VideoReader(args.video) as reader:
        start = time.perf_counter()
        frames = np.stack(list(reader.iter_frames(size=spec.size, square=spec.square)))
        decode_s = time.perf_counter() - start
    plan = plan_clips(len(frames), spec)
    backbone.encode(frames[None, : spec.frames].astype(np.float32) / 255)  # warm up
    start = time.perf_counter()
    for first in range(0, plan.n_clips, args.batch_size):
        clips = np.arange(first, min(first + args.batch_size, plan.n_clips))
        batch = frames[plan.frames_of(clips)].astype(np.float32) / 255.0
        backbone.encode(batch).numpy()
    model_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        extract_video(args.video, backbone, EmbeddingStore(folder), spec, batch_size=args.batch_size)
        end_to_end_s = time.perf_counter() - start
    from extract import decode_rates  # benchmarks/extract.py's decode measure (this folder is on sys.path)

    rates = decode_rates(args.video)
    n = len(frames)
    print(f"\n{args.video.name}: {n} frames, effnet-lite0 at {spec.size} px, batch {args.batch_size} clips\n")
    print("| what | seconds | frames/s |\n| --- | --- | --- |")
    print(f"| decode only, scaled to {spec.size} px (PyAV) | {decode_s:.1f} | {n / decode_s:.0f} |")
    print(f"| model only, same batches, frames in memory | {model_s:.1f} | {n / model_s:.1f} |")
    print(
        f"| end to end (`extract_video`: decode thread, model, chunked store) | {end_to_end_s:.1f} | "
        f"{n / end_to_end_s:.1f} |"
    )
    print(f"\nend to end / model only: {model_s / end_to_end_s:.2f} of the model's frames/s")
    if "ffmpeg_cli_rgb_full" in rates:
        print(
            f"full-size RGB decoding: PyAV {rates['pyav_rgb_full']:.0f} frames/s, ffmpeg CLI "
            f"{rates['ffmpeg_cli_rgb_full']:.0f} frames/s = "
            f"{rates['pyav_rgb_full'] / rates['ffmpeg_cli_rgb_full']:.2f}x"
        )


if __name__ == "__main__":
    main()
