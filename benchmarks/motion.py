"""Does the motion option (``effnet-lite0-motion``) see movement the offline default misses, at
what speed, and without losing what the default sees?

    python benchmarks/motion.py [--work /tmp/ethoprism-bench] [--out docs/motion.json]

1. **Speed**: frames/s of ``extract_video`` (decode to store, tiled, 224 px, CPU) for both
   backbones on a 480-frame cut of the DeepLabCut open-field video, alternating, best of 2.
2. **Fly** (real video, behaviours from its pose; see ``behaviour_sets.py``): AP per behaviour,
   5-fold by interleaved blocks, linear and temporal heads. ``walk``/``male walk`` are movement;
   ``apart`` is seen in one frame.
3. **Synthetic** (6 videos x 450 frames, leave-one-video-out): AP of ``walk``, ``jump`` and
   ``shake`` (movement) and ``groom``, ``rear`` (posture).
4. **B-SOiD clips** (real mice, 11 behaviours, leave-one-bout-out): frame mAP and the AP of the
   movement behaviours (locomote, orient, rear), each head.
5. **Few-shot** (``--sets fewshot``; the synthetic set with the paper's protocol as ``ethoprism
   fewshot`` runs it: videos 0-3 train, 4-5 test, 10/50/100 frames per class, 3 seeds): mAP.

Every AP sits beside its chance level (the behaviour's prevalence).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
import behaviour_sets as sets  # noqa: E402

from ethoprism.backbones import load_backbone  # noqa: E402
from ethoprism.evaluation.classification import few_shot  # noqa: E402
from ethoprism.extract import extract_video  # noqa: E402
from ethoprism.heads.io import make_head  # noqa: E402
from ethoprism.store import EmbeddingStore  # noqa: E402
from ethoprism.synthetic import SyntheticConfig, generate  # noqa: E402
from ethoprism.video import VideoReader, VideoWriter  # noqa: E402

BACKBONES = ("effnet-lite0", "effnet-lite0-motion")
FEW_SHOTS = (10, 50, 100)
OPENFIELD = sets.SHARED / "dlc_openfield_mouse/m3v1mp4.mp4"


def speed(work: Path) -> dict:
    cut = work / "openfield480.mp4"
    if not cut.exists():
        with VideoWriter(cut, fps=30) as writer:
            for index, frame in enumerate(VideoReader(OPENFIELD).iter_frames()):
                if index >= 480:
                    break
                writer.write(frame)
    models = {name: load_backbone(name, device="cpu") for name in BACKBONES}
    best = {name: 0.0 for name in BACKBONES}
    for _ in range(2):
        for name, model in models.items():
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                entry, _ = extract_video(cut, model, EmbeddingStore(folder), model.default_clip_spec())
                best[name] = max(best[name], entry.n_frames / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ethoprism-bench")
    parser.add_argument("--heads", nargs="+", default=["linear", "temporal"])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    parser.add_argument(
        "--sets",
        nargs="+",
        default=["fly", "synthetic", "bsoid", "fewshot"],
        choices=["fly", "synthetic", "bsoid", "fewshot"],
    )
    parser.add_argument(
        "--speed",
        type=float,
        nargs=2,
        default=None,
        metavar=("DEFAULT", "MOTION"),
        help="frames/s measured before (skips the speed runs)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    args.work.mkdir(parents=True, exist_ok=True)
    measured = dict(zip(BACKBONES, args.speed)) if args.speed else speed(args.work)
    # --out gathers results across runs (a set at a time, if need be)
    report = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    report["speed_frames_per_s"] = measured
    print(measured, file=sys.stderr, flush=True)

    if {"synthetic", "fewshot"} & set(args.sets):
        config = SyntheticConfig(n_videos=6, n_frames=450, size=128, seed=0)
        videos = generate(args.work / "synthetic", config)
    for name in args.backbones:
        datasets = {}
        if "fly" in args.sets:
            entries, _, _ = sets.extract([sets.FLY_VIDEO], name, args.work / f"fly-{name}")
            datasets["fly"] = sets.fly_dataset(entries)
        if {"synthetic", "fewshot"} & set(args.sets):
            entries, _, _ = sets.extract(
                [v.path for v in videos], name, args.work / f"synthetic-{name}", size=128
            )
            synthetic = sets.synthetic_dataset(entries, videos)
            if "synthetic" in args.sets:
                datasets["synthetic"] = synthetic
        for kind in args.heads if "fewshot" in args.sets else []:
            head = make_head(kind, exclusive=synthetic.exclusive)
            result = few_shot(head, synthetic.for_head(kind), [0, 1, 2, 3], [4, 5], FEW_SHOTS, seeds=3)
            report.setdefault("fewshot", {})[f"{name}|{kind}"] = {
                k: (v["map_mean"], v["map_std"], v["chance_map_mean"]) for k, v in result["shots"].items()
            }
            print("fewshot", name, kind, report["fewshot"][f"{name}|{kind}"], file=sys.stderr, flush=True)
        for kind in args.heads:
            for set_name, data in datasets.items():
                report.setdefault(set_name, {})[f"{name}|{kind}"] = sets.evaluate_head(kind, data)
                print(
                    set_name,
                    name,
                    kind,
                    report[set_name][f"{name}|{kind}"]["map"],
                    file=sys.stderr,
                    flush=True,
                )
                if args.out:  # partial results survive an interrupted run
                    args.out.write_text(json.dumps(report, indent=2, default=float))

    if "bsoid" in args.sets:
        import bsoid

        bouts = bsoid.load_bouts(bsoid.DEFAULT_DATA)
        behaviors = sorted({b["behavior"] for b in bouts})
        report.setdefault("bsoid", {})
        for name in args.backbones:
            features = bsoid.embed_backbone(bouts, load_backbone(name, device="cpu"))
            for kind in args.heads:
                report["bsoid"][f"{name}|{kind}"] = bsoid.leave_one_bout_out(features, bouts, behaviors, kind)
                print("bsoid", name, kind, report["bsoid"][f"{name}|{kind}"]["frame_map"], file=sys.stderr)
                if args.out:
                    args.out.write_text(json.dumps(report, indent=2, default=float))
        frames = {b: sum(len(x["frames"]) for x in bouts if x["behavior"] == b) for b in behaviors}
        total = sum(frames.values())
        report["bsoid_chance_map"] = float(np.mean([frames[b] / total for b in behaviors]))
        report["bsoid_behaviors"] = behaviors

    speeds = report["speed_frames_per_s"]
    print("\n| backbone | frames/s (CPU, decode to store) | vs default |\n| --- | --- | --- |")
    for name in BACKBONES:
        print(f"| {name} | {speeds[name]:.1f} | {speeds[name] / speeds['effnet-lite0']:.2f} |")
    for dataset, behaviors in (
        ("fly", sets.FLY_BEHAVIORS),
        ("synthetic", ["walk", "jump", "shake", "groom", "rear"]),
    ):
        if dataset not in report:
            continue
        print(f"\n{dataset}: AP per behaviour (chance in brackets)\n")
        print("| backbone | head | mAP | " + " | ".join(behaviors) + " |")
        print("| --- | --- | --- | " + " | ".join("---" for _ in behaviors) + " |")
        for key, result in report[dataset].items():
            name, kind = key.split("|")
            cells = [f"{result['per_class'][b][0]:.2f} ({result['per_class'][b][1]:.2f})" for b in behaviors]
            print(
                f"| {name} | {kind} | {result['map']:.3f} ({result['chance_map']:.3f}) | "
                + " | ".join(cells)
                + " |"
            )
    if "fewshot" in report:
        print("\nfew-shot, synthetic (videos 0-3 train, 4-5 test, 3 seeds): mAP mean +- std\n")
        print("| head | features | " + " | ".join(f"{k} shots" for k in FEW_SHOTS) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in FEW_SHOTS) + " |")
        for key, result in sorted(report["fewshot"].items(), key=lambda kv: kv[0].split("|")[::-1]):
            name, kind = key.split("|")
            cells = [f"{result[str(k)][0]:.3f} +- {result[str(k)][1]:.3f}" for k in FEW_SHOTS]
            print(f"| {kind} | {name} | " + " | ".join(cells) + " |")
        chance = next(iter(report["fewshot"].values()))[str(FEW_SHOTS[0])][2]
        print(f"| chance | | {chance:.3f} |")
    if "bsoid" in report:
        moving = ["locomote", "orient_L", "orient_R", "rear_plus", "rear_minus"]
        print(
            "\n| B-SOiD clips | head | bout accuracy | frame macro accuracy | frame mAP | "
            + " | ".join(moving)
            + " |\n| --- | --- | --- | --- | --- | "
            + " | ".join("---" for _ in moving)
            + " |"
        )
        for key, result in report["bsoid"].items():
            name, kind = key.split("|")
            cells = [
                f"{result['per_class_ap'][b][0]:.2f} ({result['per_class_ap'][b][1]:.2f})" for b in moving
            ]
            print(
                f"| {name} | {kind} | {result['bout_accuracy']:.2f} | {result['frame_macro_accuracy']:.2f} "
                f"| {result['frame_map']:.3f} | " + " | ".join(cells) + " |"
            )
        chance = report["bsoid_chance_map"]
        n = len(report["bsoid_behaviors"])
        print(f"| chance | | {1 / n:.2f} | {1 / n:.2f} | {chance:.3f} |")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
