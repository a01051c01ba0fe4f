"""Hours, not minutes: clip planning at 10 min / 1 h / 24 h, peak memory of `ethoprism extract`
on a short and a long recording, and a kill at ~80 % followed by a resume.

    python benchmarks/long_video.py [--minutes 10 60] [--fps 30] [--token-step N] [--skip-extract]

The long recordings are made here, not committed: the DeepLabCut open-field video from
../shared/data looped to the wanted length (real-looking frames, real H.264), written to a
temporary folder. Extraction runs as the CLI does, in a subprocess, with the offline default
backbone at its default size; peak RSS is that subprocess's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from ethoprism.clips import ClipSpec, plan_clips
from ethoprism.video import VideoReader, VideoWriter

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "dlc_openfield_mouse" / "m3v1mp4.mp4"


def plan_rows(fps: int) -> list[dict]:
    rows = []
    for label, minutes in (("10 min", 10), ("1 h", 60), ("24 h", 24 * 60)):
        n_frames = int(minutes * 60 * fps)
        for protocol in ("tiled", "centered"):
            spec = ClipSpec(frames=16, overlap=4 if protocol == "tiled" else 0, protocol=protocol)
            tracemalloc.start()
            start = time.perf_counter()
            plan_clips(n_frames, spec)
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rows.append(
                {
                    "length": label,
                    "frames": n_frames,
                    "protocol": protocol,
                    "plan_s": seconds,
                    "plan_peak_mb": peak / 2**20,
                }
            )
    return rows


def make_long_video(path: Path, n_frames: int, fps: int) -> Path:
    """The open-field video's frames looped to ``n_frames``, at half size, H.264."""
    with VideoReader(SOURCE) as reader:
        frames = [f[::2, ::2].copy() for f in reader.iter_frames()]
    with VideoWriter(path, fps=fps) as writer:
        for i in range(n_frames):
            writer.write(frames[i % len(frames)])
    return path


def extract_cmd(video: Path, store: Path, token_step: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "ethoprism.cli", "extract", str(video), "--store", str(store)]
    return cmd + (["--token-step", str(token_step)] if token_step else [])


def committed_fraction(store: Path) -> float:
    manifests = list(store.glob("*/*.parts/manifest.json"))
    if not manifests:
        return 1.0 if list(store.glob("*/*.h5")) else 0.0
    total = len(json.loads(manifests[0].read_text())["chunks"])
    return len(list(manifests[0].parent.glob("chunk_*.h5"))) / total


def measured_extract(
    video: Path, store: Path, token_step: int | None, every_s: float = 5.0
) -> tuple[float, float, list[dict]]:
    """-> (seconds, peak RSS in MB, resident-memory curve) of one `ethoprism extract` process.

    The curve samples the process's VmRSS every ``every_s`` seconds with the share of chunks
    committed at that moment, so growth with the recording's length would show as a rising line
    rather than hide in one peak number."""
    start = time.perf_counter()
    proc = subprocess.Popen(extract_cmd(video, store, token_step), stdout=subprocess.DEVNULL)
    curve = []
    while True:
        # wait4 (not poll, which would reap the child first) gives this child's own peak RSS
        pid, status_code, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = status_code
            break
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:  # between exiting and being reaped
            time.sleep(0.1)
            continue
        rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0)
        curve.append(
            {"t_s": time.perf_counter() - start, "rss_mb": rss_kb / 1024, "done": committed_fraction(store)}
        )
        time.sleep(every_s)
    if status_code != 0:
        raise RuntimeError(f"ethoprism extract {video} failed ({status_code})")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, curve


def curve_table(curve: list[dict], bins: int = 10) -> str:
    """The largest sampled RSS in each tenth of the extraction: flat if memory does not grow."""
    rows = ["| chunks committed | samples | max RSS MB |", "| --- | --- | --- |"]
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [c["rss_mb"] for c in curve if low <= c["done"] < high or (b == bins - 1 and c["done"] == 1)]
        if inside:
            rows.append(f"| {low:.0%}–{high:.0%} | {len(inside)} | {max(inside):.0f} |")
    return "\n".join(rows)


def kill_at(video: Path, store: Path, token_step: int | None, fraction: float) -> float:
    """Start an extraction and SIGKILL it once ``fraction`` of its chunks are committed; -> the
    fraction it had reached."""
    proc = subprocess.Popen(
        extract_cmd(video, store, token_step), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    reached = 0.0
    while proc.poll() is None:
        if list(store.glob("*/*.parts/manifest.json")):
            reached = committed_fraction(store)
            if reached >= fraction:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return reached
        time.sleep(0.2)
    raise RuntimeError("the extraction finished before it could be killed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--token-step", type=int, default=None)
    parser.add_argument("--kill-at", type=float, default=0.8)
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--skip-resume", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = {"plan": plan_rows(args.fps), "extract": [], "resume": None}
    print("| length | frames | protocol | plan s | plan peak MB |\n| --- | --- | --- | --- | --- |")
    for r in results["plan"]:
        print(
            f"| {r['length']} | {r['frames']:,} | {r['protocol']} | {r['plan_s']:.2f} | "
            f"{r['plan_peak_mb']:.0f} |"
        )
    if not args.skip_extract:
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            longest = None
            for minutes in args.minutes:
                n_frames = int(minutes * 60 * args.fps)
                video = make_long_video(folder / f"long_{minutes:g}min.mp4", n_frames, args.fps)
                seconds, rss, curve = measured_extract(video, folder / f"store_{minutes:g}", args.token_step)
                results["extract"].append(
                    {
                        "minutes": minutes,
                        "frames": n_frames,
                        "seconds": seconds,
                        "rss_mb": rss,
                        "frames_per_s": n_frames / seconds,
                        "rss_curve": curve,
                    }
                )
                summary = {k: v for k, v in results["extract"][-1].items() if k != "rss_curve"}
                print(summary, file=sys.stderr, flush=True)
                longest = (video, seconds)
            video, full_seconds = longest
            if not args.skip_resume:
                store = folder / "store_resume"
                reached = kill_at(video, store, args.token_step, args.kill_at)
                start = time.perf_counter()
                subprocess.run(
                    extract_cmd(video, store, args.token_step),
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                resume_seconds = time.perf_counter() - start
                results["resume"] = {
                    "killed_at": reached,
                    "resume_s": resume_seconds,
                    "full_s": full_seconds,
                    "ratio": resume_seconds / full_seconds,
                }
        tokens = f", token maps every {args.token_step} frames" if args.token_step else ""
        print(f"\nextraction, effnet-lite0 at 224 px{tokens}, {args.fps} fps video\n")
        print("| length | frames | seconds | frames/s | peak RSS MB |\n| --- | --- | --- | --- | --- |")
        for r in results["extract"]:
            print(
                f"| {r['minutes']:g} min | {r['frames']:,} | {r['seconds']:.0f} | {r['frames_per_s']:.1f} | "
                f"{r['rss_mb']:.0f} |"
            )
        first, last = results["extract"][0], results["extract"][-1]
        print(
            f"\npeak RSS {last['minutes']:g} min / {first['minutes']:g} min: "
            f"{last['rss_mb'] / first['rss_mb']:.3f}"
        )
        print(f"\nresident memory of the {last['minutes']:g} min run by share of chunks committed")
        print(curve_table(last["rss_curve"]))
        r = results["resume"]
        if r:
            print(
                f"killed at {r['killed_at']:.0%} of the chunks; resume {r['resume_s']:.0f} s vs full run "
                f"{r['full_s']:.0f} s = {r['ratio']:.0%}"
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
