"""One GPU check, ready to run: VideoPrism throughput with the time split by stage, and parity of
the GPU path against CPU fp32.

    python benchmarks/gpu.py                      # on a CUDA machine, about 5-8 minutes on one H100
    python benchmarks/gpu.py --device cpu --quick # dry run of the same code on CPU (CI runs this)

Prints markdown tables (and ``--out`` writes them as JSON):

1. **Stages** for VideoPrism-B and -L (random weights at the real sizes: speed does not depend
   on the values), tiled and centered clips, batch 4/16/32: milliseconds per batch for
   host->device (pinned uint8 frames), forward (bf16 by default), device->host (the pooled rows
   only) and the model-only frames/s. Tiled clips count their new frames (frames - overlap);
   a centered clip stands for one frame.
2. **End to end**: ``extract_video`` on a real video (decode in a background thread, batches
   assembled in another, the model on the device), frames/s, the decode rate alone, and the GPU's
   busy fraction (NVML utilisation when pynvml is present, else forward time / wall time).
3. **Parity** on the tiny official-layout checkpoint the tests build: the device's fp32 and bf16
   tokens against CPU fp32 (max |diff| / max |ref|).

Goal to report against: >= 2,000 frames/s for VideoPrism-B tiled on one H100.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
from conftest import TINY_CONFIGS  # noqa: E402
from ethoprism.backbones import load_backbone  # noqa: E402
from ethoprism.clips import plan_clips  # noqa: E402
from ethoprism.extract import extract_video  # noqa: E402
from ethoprism.store import EmbeddingStore  # noqa: E402
from ethoprism.video import VideoReader, VideoWriter  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared/data/dlc_openfield_mouse/m3v1mp4.mp4"
TINY = {name: TINY_CONFIGS[name] for name in ("videoprism-b", "videoprism-l")}  # the shapes the tests use


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def stage_times(backbone, protocol: str, batch: int, repeats: int) -> dict:
    spec = backbone.default_clip_spec(protocol)
    frames, size, device = spec.frames, spec.size, backbone.device
    clips = torch.randint(0, 256, (batch, frames, size, size, 3), dtype=torch.uint8)
    if device.type == "cuda":
        clips = clips.pin_memory()
    rows = np.arange(frames) if protocol == "tiled" else np.array([frames // 2])
    slots = np.repeat(np.arange(batch), len(rows))
    rows = np.tile(rows, batch)
    with torch.inference_mode():
        backbone.embed_rows(clips, slots, rows)  # warm-up (kernels, compiled attention, caches)
        totals = {"h2d": 0.0, "forward": 0.0, "d2h": 0.0}
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            on_device = clips.to(device, non_blocking=True)
            synchronize(device)
            copied = time.perf_counter()
            tokens, _ = backbone._tokens_and_clip_embedding(backbone._prepare(on_device))
            pooled = tokens[torch.as_tensor(slots, device=device), torch.as_tensor(rows, device=device)]
            pooled = pooled.float().mean(dim=(1, 2))
            synchronize(device)
            forwarded = time.perf_counter()
            pooled.cpu()
            back = time.perf_counter()
            totals["h2d"] += copied - start
            totals["forward"] += forwarded - copied
            totals["d2h"] += back - forwarded
    per_batch = {k: v / repeats for k, v in totals.items()}
    new_frames = batch * (frames - spec.overlap) if protocol == "tiled" else batch
    return {
        **{f"{k}_ms": 1000 * v for k, v in per_batch.items()},
        "frames_per_s": new_frames / sum(per_batch.values()),
        "clip": f"{frames}x{size}px",
    }


class Utilisation:
    """NVML GPU utilisation sampled every 50 ms in a thread (None without pynvml or a GPU)."""

    def __init__(self, device: torch.device):
        self.samples: list[int] = []
        self.device = device
        self.stop = threading.Event()
        self.thread = None

    def __enter__(self):
        if self.device.type == "cuda":
            try:
                torch.cuda.utilization(self.device)
            except Exception:  # no pynvml: fall back to the forward-time fraction
                return self

            def sample():
                while not self.stop.is_set():
                    self.samples.append(torch.cuda.utilization(self.device))
                    time.sleep(0.05)

            self.thread = threading.Thread(target=sample, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread is not None:
            self.thread.join()

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.samples)) / 100 if self.samples else None


def cut_video(video: Path, n_frames: int, folder: Path) -> Path:
    out = folder / f"cut{n_frames}.mp4"
    with VideoWriter(out, fps=30) as writer:
        for index, frame in enumerate(VideoReader(video).iter_frames()):
            if index >= n_frames:
                break
            writer.write(frame)
    return out


def end_to_end(backbone, video: Path, batch: int, model_rate: float) -> dict:
    spec = backbone.default_clip_spec("tiled")
    reader = VideoReader(video)
    start = time.perf_counter()
    for _ in reader.iter_frames(size=spec.size):
        pass
    decode_rate = reader.n_frames / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as folder, Utilisation(backbone.device) as utilisation:
        start = time.perf_counter()
        entry, _ = extract_video(video, backbone, EmbeddingStore(folder), spec, batch_size=batch)
        synchronize(backbone.device)
        seconds = time.perf_counter() - start
    rate = entry.n_frames / seconds
    return {
        "frames": entry.n_frames,
        "clips": plan_clips(entry.n_frames, spec).n_clips,
        "frames_per_s": rate,
        "decode_frames_per_s": decode_rate,
        # without NVML: end-to-end rate over the model-only rate (the share of time spent computing)
        "gpu_busy": utilisation.mean if utilisation.mean is not None else min(1.0, rate / model_rate),
        "busy_source": "nvml" if utilisation.mean is not None else "forward time / wall time",
    }


def parity(device: torch.device) -> list[dict]:
    from transformers import VideoPrismVisionConfig, VideoPrismVisionModel

    from official_layout import randomize_, vision_arrays

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model = randomize_(VideoPrismVisionModel(VideoPrismVisionConfig(**TINY["videoprism-b"])).eval())
        path = Path(folder) / "flax_tiny.npz"
        np.savez(path, **vision_arrays(model))
        video = torch.rand(2, 6, 54, 54, 3)  # interpolated positional tables too
        reference = load_backbone("videoprism-b", str(path), device="cpu", dtype="fp32").encode(video)
        scale = float(reference.abs().max())
        for dtype in ("fp32", "bf16"):
            backbone = load_backbone("videoprism-b", str(path), device=str(device), dtype=dtype)
            got = backbone.encode(video).cpu()
            rows.append(
                {
                    "device": str(device),
                    "dtype": dtype,
                    "max_abs_diff_rel": float((got - reference).abs().max()) / scale,
                    "cosine_min": float(
                        torch.nn.functional.cosine_similarity(
                            got.flatten(0, -2), reference.flatten(0, -2)
                        ).min()
                    ),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="auto", help="auto: bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--quick", action="store_true", help="tiny models, small batches, few repeats")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    batches = (1, 2) if args.quick else (4, 16, 32)
    repeats = 2 if args.quick else 5
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "stages": []}
    best_b = {}
    for name in ("videoprism-b", "videoprism-l"):
        config = TINY[name] if args.quick else {}
        backbone = load_backbone(name, "random", config=config, device=args.device, dtype=args.dtype)
        for protocol in ("tiled", "centered"):
            for batch in batches:
                row = {"backbone": name, "dtype": backbone.dtype_name, "protocol": protocol, "batch": batch}
                row.update(stage_times(backbone, protocol, batch, repeats))
                result["stages"].append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if name == "videoprism-b" and protocol == "tiled":
                    best_b = max(best_b, row, key=lambda r: r.get("frames_per_s", 0))
        if name == "videoprism-b":
            with tempfile.TemporaryDirectory() as folder:
                short = cut_video(args.video, 64 if args.quick else 960, Path(folder))
                result["end_to_end"] = {
                    "backbone": name,
                    "batch": best_b["batch"],
                    **end_to_end(backbone, short, best_b["batch"], best_b["frames_per_s"]),
                }
        del backbone
        if device.type == "cuda":
            torch.cuda.empty_cache()
    result["parity"] = parity(device)

    print(
        f"\ndevice: {result['device']}, torch {torch.__version__}"
        + (" (--quick: tiny models)" if args.quick else "")
    )
    print(
        "\n| backbone | dtype | protocol | batch | clip | host->device ms | forward ms "
        "| device->host ms | frames/s (model) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in result["stages"]:
        print(
            f"| {r['backbone']} | {r['dtype']} | {r['protocol']} | {r['batch']} | {r['clip']} "
            f"| {r['h2d_ms']:.2f} "
            f"| {r['forward_ms']:.1f} | {r['d2h_ms']:.2f} | {r['frames_per_s']:.0f} |"
        )
    e = result["end_to_end"]
    print(
        "\n| end to end (extract_video, tiled) | batch | frames | frames/s "
        "| decode alone, frames/s | device busy |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| {e['backbone']} | {e['batch']} | {e['frames']} | {e['frames_per_s']:.0f} "
        f"| {e['decode_frames_per_s']:.0f} | {e['gpu_busy']:.0%} ({e['busy_source']}) |"
    )
    print(
        "\n| parity vs CPU fp32 (tiny official-layout checkpoint) | dtype "
        "| max abs diff / max abs | min cosine |"
    )
    print("| --- | --- | --- | --- |")
    for p in result["parity"]:
        print(f"| {p['device']} | {p['dtype']} | {p['max_abs_diff_rel']:.2e} | {p['cosine_min']:.5f} |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
