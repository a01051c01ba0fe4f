"""Extraction benchmark: decode speed vs the ffmpeg CLI, and backbone throughput vs this machine's
matmul peak.

    python benchmarks/extract.py [--video PATH] [--frames 48] [--out docs/benchmarks-extract.json]

Prints a markdown table. VideoPrism-B runs at full size (288 px, 16 frames) with random weights
(speed does not depend on the values). "achieved GFLOP/s" counts the forward pass's floating
point operations (torch's FlopCounterMode, 2 per multiply-add) per second of wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ethoprism.backbones import load_backbone  # noqa: E402
from ethoprism.clips import ClipSpec  # noqa: E402
from ethoprism.extract import extract_video  # noqa: E402
from ethoprism.store import EmbeddingStore  # noqa: E402
from ethoprism.video import VideoReader  # noqa: E402

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared/data/dlc_openfield_mouse/m3v1mp4.mp4"


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def ffmpeg_exe() -> str | None:
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        return None


def decode_rates(video: Path) -> dict:
    reader = VideoReader(video)
    n = reader.n_frames
    start = time.perf_counter()
    for _ in reader.iter_frames():
        pass
    ours_full = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in reader.iter_frames(size=224):
        pass
    ours_224 = n / (time.perf_counter() - start)
    result = {"frames": n, "pyav_rgb_full": ours_full, "pyav_rgb_224": ours_224}
    exe = ffmpeg_exe()
    if exe:
        start = time.perf_counter()
        subprocess.run(
            [
                exe,
                "-v",
                "error",
                "-threads",
                "0",
                "-i",
                str(video),
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-y",
                os.devnull,
            ],
            check=True,
        )
        result["ffmpeg_cli_rgb_full"] = n / (time.perf_counter() - start)
        result["ffmpeg_exe"] = exe
    return result


def clip_flops(backbone, spec: ClipSpec) -> float:
    frames = torch.rand(1, spec.frames, spec.size, spec.size, 3)
    with FlopCounterMode(display=False) as counter:
        backbone.encode(frames)
    return float(counter.get_total_flops())


def time_extraction(backbone, spec: ClipSpec, video: Path, batch_size: int) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        entry, _ = extract_video(video, backbone, EmbeddingStore(folder), spec, batch_size=batch_size)
        seconds = time.perf_counter() - start
    from ethoprism.clips import plan_clips

    return seconds, entry.n_frames, plan_clips(entry.n_frames, spec).n_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument(
        "--frames", type=int, default=48, help="cut the video to this many frames for the model runs"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    decode = decode_rates(args.video)

    # a short cut of the video so the slow models finish in minutes
    from ethoprism.video import VideoWriter

    short = Path(tempfile.mkdtemp()) / "cut.mp4"
    with VideoWriter(short, fps=30) as writer:
        for index, frame in enumerate(VideoReader(args.video).iter_frames()):
            if index >= args.frames:
                break
            writer.write(frame)

    rows = []
    configs = [
        ("effnet-lite0", None, False),
        ("videoprism-b", "random", False),
        ("videoprism-b", "random", True),
    ]
    for name, weights, compiled in configs:
        for dtype in ("fp32", "bf16"):
            backbone = load_backbone(
                name,
                weights,
                config={} if weights == "random" else None,
                device="cpu",
                dtype=dtype,
                compile=compiled,
            )
            for protocol in ("tiled", "centered"):
                spec = backbone.default_clip_spec(protocol)
                flops = clip_flops(backbone, spec)  # also warms up (and compiles) the model
                if name == "videoprism-b" and protocol == "centered":
                    # one clip per frame: time a few clips only
                    clip_count = 2
                    frames = torch.rand(1, spec.frames, spec.size, spec.size, 3)
                    start = time.perf_counter()
                    for _ in range(clip_count):
                        backbone.encode(frames)
                    per_clip = (time.perf_counter() - start) / clip_count
                    fps, flops_per_second = 1 / per_clip, flops / per_clip
                    how = f"{clip_count} clips timed"
                else:
                    seconds, n, n_clips = time_extraction(
                        backbone, spec, short, batch_size=2 if name != "effnet-lite0" else 4
                    )
                    fps, flops_per_second = n / seconds, flops * n_clips / seconds
                    how = f"{n} frames, {n_clips} clips, decode to store"
                rows.append(
                    {
                        "backbone": name,
                        "dtype": dtype,
                        "compiled": compiled,
                        "protocol": protocol,
                        "frames_per_s": fps,
                        "gflops_per_clip": flops / 1e9,
                        "gflops_per_s": flops_per_second / 1e9,
                        "fraction_of_peak": flops_per_second / 1e9 / peaks[dtype],
                        "note": how,
                        "spec": spec.to_dict(),
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)

    print(f"\nmachine: {os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"matmul peak (2048^3): fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s\n")
    print("| decoder | frames/s |\n| --- | --- |")
    print(f"| PyAV, RGB at full size ({decode['frames']} frames) | {decode['pyav_rgb_full']:.0f} |")
    print(f"| PyAV, RGB scaled to 224 px | {decode['pyav_rgb_224']:.0f} |")
    if "ffmpeg_cli_rgb_full" in decode:
        print(f"| ffmpeg CLI, RGB at full size to /dev/null | {decode['ffmpeg_cli_rgb_full']:.0f} |")
    print(
        "\n| backbone | dtype | torch.compile | protocol | frames/s | GFLOP/clip | achieved GFLOP/s "
        "| % of matmul peak | how |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['backbone']} | {r['dtype']} | {'yes' if r['compiled'] else 'no'} | {r['protocol']} | "
            f"{r['frames_per_s']:.2f} | {r['gflops_per_clip']:.1f} | {r['gflops_per_s']:.1f} | "
            f"{100 * r['fraction_of_peak']:.0f} % | {r['note']} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"peaks": peaks, "decode": decode, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
