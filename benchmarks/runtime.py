"""Where extraction time goes with the offline default, and what ONNX Runtime buys.

    python benchmarks/runtime.py [--video PATH] [--size 224] [--batch 4]

On the DeepLabCut open-field video (2,330 frames, 30 fps): end-to-end ``extract_video`` (decode
at the model's size in a prefetch thread, prepare, backbone, store) with PyTorch and with ONNX
Runtime, each into a fresh store, and the parts on their own: decoding + scaling to the model's
size, and the backbone on in-memory batches. Prints a markdown table; frames/s beside real time
(the video's frame rate).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from ethoprism.backbones import load_backbone  # noqa: E402
from ethoprism.clips import ClipSpec  # noqa: E402
from ethoprism.extract import extract_video  # noqa: E402
from ethoprism.store import EmbeddingStore  # noqa: E402
from ethoprism.threads import configure  # noqa: E402
from ethoprism.video import VideoReader  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared/data/dlc_openfield_mouse/m3v1mp4.mp4"


def decode_rate(video: Path, size: int) -> float:
    with VideoReader(video) as reader:
        start = time.perf_counter()
        count = sum(1 for _ in reader.iter_frames(size=size))
    return count / (time.perf_counter() - start)


def model_rate(backbone, size: int, batch_frames: int = 64, repeats: int = 3) -> float:
    frames = torch.rand(batch_frames // 16, 16, size, size, 3)
    backbone.encode(frames)  # warm-up (and the ONNX parity check)
    start = time.perf_counter()
    for _ in range(repeats):
        backbone.encode(frames)
    return batch_frames * repeats / (time.perf_counter() - start)


def end_to_end(backbone, video: Path, size: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        entry, _ = extract_video(
            video, backbone, EmbeddingStore(folder), ClipSpec(frames=16, size=size, overlap=0), batch
        )
        return entry.n_frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    print(configure(None))
    torch.set_grad_enabled(False)
    with VideoReader(args.video) as reader:
        fps, n_frames = reader.metadata.fps, reader.metadata.n_frames
        width, height = reader.metadata.width, reader.metadata.height
    decode = decode_rate(args.video, args.size)
    rows = []
    for runtime in ("torch", "onnx"):
        backbone = load_backbone("effnet-lite0", runtime=runtime)
        model = model_rate(backbone, args.size)
        total = end_to_end(backbone, args.video, args.size, args.batch)
        rows.append((runtime, backbone.weights.extra["runtime"], model, total))
        print(rows[-1], file=sys.stderr, flush=True)
    print(
        f"\nvideo: {args.video.name}, {n_frames} frames, {width}x{height}, {fps:g} fps; "
        f"model input {args.size} px"
    )
    print(f"decode + scale to {args.size} px alone: {decode:.0f} frames/s\n")
    print("| runtime | backbone alone (frames/s) | end to end (frames/s) | x real time |")
    print("| --- | --- | --- | --- |")
    for _, name, model, total in rows:
        print(f"| {name} | {model:.1f} | {total:.1f} | {total / fps:.2f} |")


if __name__ == "__main__":
    main()
