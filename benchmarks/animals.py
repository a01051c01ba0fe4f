"""Who does what: per-animal behaviour on the real two-fly SLEAP clip, against the animal-blind
baseline and its ceiling; and what tracks cost.

    python benchmarks/animals.py [--set fly|synthetic|directed] [--modes pooled crop] [--first 900]
                                 [--parts 3] [--frames-per-part 200] [--size 224]
                                 [--heads linear mlp temporal] [--work /tmp/ethoprism-animals]
    python benchmarks/animals.py --cost [--cost-animals 1 2 4] [--cost-seconds 60]

The clip (``../shared/data/sleap_fly_videos/clip.mp4``, 1500 frames at 25 fps, tracks ``female``
and ``male`` on every frame in ``clip.slp``) has no behaviour labels; each fly's behaviours are
derived from its own pose, so that they differ between the two flies:

* ``moving``: the thorax moves more than 1 px per frame (5-frame mean);
* ``wing_extension``: a wing stands more than 35 degrees off the body axis (the male's courtship
  song; the female never does it).

The clip is cut into ``--parts`` videos (where the flies are active: frames 900-1499), each a
video of its own for leave-one-video-out. Reported per head: per-animal mAP over (animal, frame)
rows with each behaviour's chance level, the animal-blind baseline (the same head on whole
frames, its score copied to both flies) and the blind ceiling from the labels, and the
identity-aware F1 (a prediction on the wrong fly is a false positive and a miss), for each way of
making the animals' embeddings (``pooled`` from the frame's token map, ``crop`` encoded on its own).

``--set synthetic``: the synthetic arena with two animals that both do every behaviour, each on
its own schedule (exact per-animal ground truth). ``--set directed``: the same arena with three
animals and a directed behaviour derived from the tracks, ``approach`` (an animal moves at another
and they close in; the target is the one it closes in on fastest): whom each bout is directed at
(learned, beside the nearest-animal rule and chance) and the pair F1 that needs agent and target.
``--cost``: extraction time and disk per hour of video for 1, 2 and 4 animals, without tracks,
pooled and crop.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
FLY = ROOT.parent / "shared" / "data" / "sleap_fly_videos"

WING_ANGLE = 35.0  # degrees off the body axis
MOVING = 1.0  # px per frame, thorax, 5-frame mean


def fly_poses(slp: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """animal -> keypoints [frames, nodes, 2] (NaN where absent), and the node names."""
    import sleap_io

    labels = sleap_io.load_slp(str(slp), open_videos=False)
    names = labels.skeletons[0].node_names
    n_frames = max(f.frame_idx for f in labels.labeled_frames) + 1
    poses: dict[str, np.ndarray] = {}
    for frame in labels.labeled_frames:
        for instance in frame.user_instances or frame.predicted_instances:
            array = poses.setdefault(instance.track.name, np.full((n_frames, len(names), 2), np.nan))
            array[frame.frame_idx] = instance.numpy()
    return poses, names


def fly_behaviours(points: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """One fly's behaviours per frame, from its pose alone."""
    thorax = points[:, names.index("thorax")]
    speed = np.r_[0.0, np.linalg.norm(np.diff(thorax, axis=0), axis=1)]
    moving = np.convolve(np.nan_to_num(speed), np.ones(5) / 5, mode="same") > MOVING
    axis = points[:, names.index("head")] - points[:, names.index("abdomen")]

    def angle(wing: str) -> np.ndarray:
        vector = points[:, names.index(wing)] - thorax
        cosine = (vector * -axis).sum(axis=1) / (
            np.linalg.norm(vector, axis=1) * np.linalg.norm(axis, axis=1)
        )
        return np.degrees(np.arccos(np.clip(cosine, -1, 1)))

    extended = np.maximum(angle("wingL"), angle("wingR")) > WING_ANGLE
    return {"moving": moving, "wing_extension": np.nan_to_num(extended).astype(bool)}


def make_fly_parts(work: Path, first: int = 900, parts: int = 3, frames_per_part: int = 200) -> dict:
    """Part videos of the clip, their tracks CSV and per-fly bouts CSV (``animal`` column)."""
    from ethoprism.io.tracks import read_tracks
    from ethoprism.labels.model import bouts_from_mask
    from ethoprism.video import VideoReader, VideoWriter

    work.mkdir(parents=True, exist_ok=True)
    reader = VideoReader(FLY / "clip.mp4")
    meta = reader.metadata
    tracks = read_tracks(
        [FLY / "clip.slp"],
        {"clip.mp4": {"n_frames": meta.n_frames, "width": meta.width, "height": meta.height}},
    )["clip.mp4"]
    poses, names = fly_poses(FLY / "clip.slp")
    behaviours = {animal: fly_behaviours(points, names) for animal, points in poses.items()}
    videos, track_rows, bouts = [], [], []
    frames = reader.iter_frames(start=first)
    for part in range(parts):
        start = first + part * frames_per_part
        name = f"fly_part{part}.mp4"
        path = work / name
        if not path.exists():  # written whole, then renamed: a killed run leaves no half video
            partial = path.with_name(f"partial_{name}")
            with VideoWriter(partial, fps=meta.fps) as writer:
                for _ in range(frames_per_part):
                    writer.write(next(frames))
            partial.rename(path)
        else:
            for _ in range(frames_per_part):
                next(frames)
        videos.append(path)
        inside = (tracks.frame >= start) & (tracks.frame < start + frames_per_part)
        for row in np.flatnonzero(inside):
            track_rows.append(
                (name, int(tracks.frame[row] - start), tracks.animals[tracks.animal[row]], *tracks.boxes[row])
            )
        for animal, masks in behaviours.items():
            for behaviour, mask in masks.items():
                for a, b in bouts_from_mask(mask[start : start + frames_per_part]):
                    bouts.append((name, animal, behaviour, a, b))
    tracks_csv = work / "fly_tracks.csv"
    pd.DataFrame(track_rows, columns=["video", "frame", "animal", "x1", "y1", "x2", "y2"]).to_csv(
        tracks_csv, index=False
    )
    labels_csv = work / "fly_labels.csv"
    pd.DataFrame(bouts, columns=["video", "animal", "behavior", "start_frame", "end_frame"]).to_csv(
        labels_csv, index=False
    )
    return {"videos": videos, "tracks": tracks_csv, "labels": labels_csv}


def make_synthetic(work: Path, n_videos: int = 6, n_frames: int = 450, n_animals: int = 2) -> dict:
    """The synthetic arena with ``n_animals``, every one doing every behaviour on its own schedule;
    its per-animal ground truth and tracks (:mod:`ethoprism.synthetic`)."""
    from ethoprism.synthetic import SyntheticConfig, generate, write_animal_ground_truth

    folder = work / f"synthetic_{n_animals}animals_{n_videos}x{n_frames}"
    config = SyntheticConfig(
        n_videos=n_videos,
        n_frames=n_frames,
        n_animals=n_animals,
        others_behave=True,
        rare_videos=0.0,
        seed=11,
    )
    if not (folder / "manifest.json").exists():
        videos = generate(folder, config)
        if n_animals == 1:
            write_animal_ground_truth(folder, videos, config)
    return {
        "videos": sorted(folder.glob("video_*.mp4")),
        "tracks": folder / "tracks.csv",
        "labels": folder / "animal_labels.csv",
        "fps": config.fps,
    }


APPROACH_COSINE = 0.8  # the animal's motion points at the other within ~37 degrees
APPROACH_CLOSING = 0.5  # px per frame by which the two come together
APPROACH_FRAMES = 5  # the shortest bout


def approach_bouts(tracks: pd.DataFrame, step: int = 2) -> pd.DataFrame:
    """Directed ground truth from the tracks alone: an animal *approaches* another while its motion
    (box centre over +-``step`` frames) points at it and the two close in; the target is the one it
    closes in on fastest. -> bouts ``video, animal, target, behavior, start_frame, end_frame``."""
    from ethoprism.labels.model import bouts_from_mask

    rows = []
    for video, table in tracks.groupby("video"):
        names = sorted(table.animal.unique())
        n_frames = int(table.frame.max()) + 1
        centre = np.full((n_frames, len(names), 2), np.nan)
        k = table.animal.map(names.index).to_numpy()
        centre[table.frame.to_numpy(), k] = np.column_stack(
            [(table.x1 + table.x2) / 2, (table.y1 + table.y2) / 2]
        )
        ahead = np.roll(centre, -step, axis=0)
        behind = np.roll(centre, step, axis=0)
        ahead[-step:], behind[:step] = np.nan, np.nan
        motion = ahead - behind
        for a, agent in enumerate(names):
            closing = np.full((n_frames, len(names)), -np.inf)
            for b in range(len(names)):
                if b == a:
                    continue
                toward = centre[:, b] - centre[:, a]
                before = np.linalg.norm(behind[:, b] - behind[:, a], axis=1)
                after = np.linalg.norm(ahead[:, b] - ahead[:, a], axis=1)
                rate = (before - after) / (2 * step)
                norms = np.linalg.norm(motion[:, a], axis=1) * np.linalg.norm(toward, axis=1)
                cosine = (motion[:, a] * toward).sum(axis=1) / np.maximum(norms, 1e-9)
                ok = (cosine > APPROACH_COSINE) & (rate > APPROACH_CLOSING)
                closing[:, b] = np.where(ok, rate, -np.inf)
            target = np.where(np.isfinite(closing).any(axis=1), closing.argmax(axis=1), -1)
            for b in range(len(names)):
                for start, end in bouts_from_mask(target == b):
                    if end - start + 1 >= APPROACH_FRAMES:
                        rows.append((video, agent, names[b], "approach", start, end))
    return pd.DataFrame(rows, columns=["video", "animal", "target", "behavior", "start_frame", "end_frame"])


def make_directed(work: Path, n_videos: int, n_frames: int, n_animals: int = 3) -> dict:
    """The synthetic arena with three animals, their own behaviours and, from the tracks, who
    approaches whom (:func:`approach_bouts`) as a directed behaviour with its target."""
    parts = make_synthetic(work, n_videos, n_frames, n_animals)
    labels = pd.read_csv(parts["labels"]).assign(target="")
    directed = approach_bouts(pd.read_csv(parts["tracks"]))
    path = parts["labels"].with_name("directed_labels.csv")
    pd.concat([labels, directed], ignore_index=True).to_csv(path, index=False)
    return {**parts, "labels": path}


def extract(parts: dict, store: Path, size: int, mode: str | None) -> float:
    """Extraction time in seconds; ``mode``: None (no tracks), pooled or crop."""
    from ethoprism.backbones import load_backbone
    from ethoprism.store import EmbeddingStore
    from ethoprism.workflows.extract import clip_spec, extract_videos

    backbone = load_backbone("effnet-lite0")
    spec = clip_spec(backbone, size=size)
    started = time.perf_counter()
    results = extract_videos(
        parts["videos"],
        backbone,
        EmbeddingStore(store),
        spec,
        tracks=[parts["tracks"]] if mode else None,
        animal_mode=mode or "pooled",
    )
    assert not any(r.error for r in results), [r.error for r in results]
    return time.perf_counter() - started


def store_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*.h5"))


def score(store: Path, labels: Path, heads: list[str], report: Path) -> list[dict]:
    """Leave-one-video-out per-animal metrics of each head beside the animal-blind baseline."""
    from ethoprism.workflows import classify

    data = classify.load_labelled(store, labels)
    result = classify.evaluate(data, heads, report)
    rows = []
    for kind, head in result["heads"].items():
        m, blind = head["metrics"], head["animal_blind"]
        rows.append(
            {
                "head": kind,
                "per-animal mAP": round(m["map"], 3),
                "chance": round(m["chance_map"], 3),
                "animal-blind mAP": round(blind["map"], 3),
                "blind ceiling": round(blind["ceiling_map"], 3),
                "per-animal F1": round(m["macro_f1"], 3),
                "blind F1": round(blind["macro_f1"], 3),
                **{f"AP {b}": round(v["ap"], 3) for b, v in m["per_class"].items()},
                **{f"chance {b}": round(v["chance_ap"], 3) for b, v in m["per_class"].items()},
                **{f"ceiling {b}": round(v, 3) for b, v in blind["ceiling_per_class_ap"].items()},
                **_target_columns(head.get("targets"), m["per_class"]),
            }
        )
    return rows


def _target_columns(targets: dict | None, per_class: dict) -> dict:
    """Directed behaviours: whom at (learned, the nearest-animal rule, chance) and the pair F1."""
    if not targets:
        return {}
    out = {"pair F1 (agent + target)": round(targets["pair_f1"], 3)}
    for behavior, v in targets["per_behavior"].items():
        if "bouts" in v:
            out[f"{behavior}: bouts (with a choice)"] = f"{v['bouts']} ({v['bouts_with_a_choice']})"
            out[f"{behavior}: target accuracy"] = round(v["target_accuracy"], 3)
            out[f"{behavior}: nearest-animal rule"] = round(v["nearest_accuracy"], 3)
            out[f"{behavior}: target chance"] = round(v["chance"], 3)
            out[f"{behavior}: F1 / pair F1"] = f"{per_class[behavior]['f1']:.3f} / {v['pair_f1']:.3f}"
    return out


def cost_table(work: Path, size: int, animals: list[int], seconds: int) -> pd.DataFrame:
    """Extraction time and disk per hour of video with 1, 2, 4 ... animals: no tracks, pooled, crop
    (one synthetic video of ``seconds`` at 30 fps per animal count)."""
    rows = []
    for n in animals:
        parts = make_synthetic(work, n_videos=1, n_frames=seconds * 30, n_animals=n)
        per_hour = 3600 / seconds
        for mode in (None, "pooled", "crop"):
            store = work / f"cost_{n}_{mode or 'plain'}_{size}"
            if store.exists():
                shutil.rmtree(store)
            elapsed = extract(parts, store, size, mode)
            rows.append(
                {
                    "animals": n,
                    "mode": mode or "no tracks",
                    "s per hour of video": round(elapsed * per_hour),
                    "x real time": round(seconds / elapsed, 2),
                    "GB per hour": round(store_bytes(store) * per_hour / 1e9, 2),
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    plain = table[table["mode"] == "no tracks"].set_index("animals")["s per hour of video"]
    table["vs no tracks"] = [
        f"{100 * (t / plain[a] - 1):+.0f} %" for a, t in zip(table["animals"], table["s per hour of video"])
    ]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["fly", "synthetic", "directed"], default="fly")
    parser.add_argument("--modes", nargs="+", default=["pooled", "crop"], choices=["pooled", "crop"])
    parser.add_argument("--first", type=int, default=900)
    parser.add_argument("--parts", type=int, default=3)
    parser.add_argument("--frames-per-part", type=int, default=200)
    parser.add_argument("--videos", type=int, default=6, help="synthetic set: videos")
    parser.add_argument("--frames", type=int, default=450, help="synthetic set: frames per video")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--heads", nargs="+", default=["linear", "mlp", "temporal"])
    parser.add_argument("--cost", action="store_true", help="only the cost table (1, 2, 4 animals)")
    parser.add_argument("--cost-animals", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--cost-seconds", type=int, default=60)
    parser.add_argument("--work", type=Path, default=Path("/tmp/ethoprism-animals"))
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.cost:
        table = cost_table(args.work, args.size, args.cost_animals, args.cost_seconds)
        print(table.to_string(index=False))
        if args.out:
            args.out.write_text(table.to_json(orient="records", indent=2))
        return
    if args.set == "fly":
        parts = make_fly_parts(args.work, args.first, args.parts, args.frames_per_part)
    elif args.set == "directed":
        parts = make_directed(args.work, args.videos, args.frames)
    else:
        parts = make_synthetic(args.work, args.videos, args.frames)
    name = args.set if args.set == "fly" else f"{args.set}{args.videos}x{args.frames}"
    times = {"no tracks": extract(parts, args.work / f"{name}_plain{args.size}", args.size, None)}
    rows = []
    for mode in args.modes:
        store = args.work / f"{name}_{mode}{args.size}"
        times[mode] = extract(parts, store, args.size, mode)
        for row in score(store, parts["labels"], args.heads, args.work / f"report_{name}_{mode}"):
            rows.append({"mode": mode, **row})
    print(
        "extraction: "
        + ", ".join(
            f"{mode} {t:.1f} s ({100 * (t / times['no tracks'] - 1):+.0f} %)"
            if mode != "no tracks"
            else f"{mode} {t:.1f} s"
            for mode, t in times.items()
        )
    )
    print("(a second run finds the stores and times cache hits: remove --work's stores to time again)")
    table = pd.DataFrame(rows)
    print(table.T.to_string(header=False))
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "extract_s": times}, indent=2))


if __name__ == "__main__":
    main()
