"""Who does what: per-animal behaviour on the real two-fly SLEAP clip, against the animal-blind
baseline and its ceiling; and what tracks cost.

    python benchmarks/animals.py [--first 900] [--parts 3] [--frames-per-part 200] [--size 224]
                                 [--heads linear mlp temporal] [--work /tmp/ethoprism-animals]

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
identity-aware F1 (a prediction on the wrong fly is a false positive and a miss). Cost: extraction
time with and without tracks.
"""

from __future__ import annotations

import argparse
import json
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


def extract(parts: dict, store: Path, size: int, tracks: bool) -> float:
    from ethoprism.backbones import load_backbone
    from ethoprism.store import EmbeddingStore
    from ethoprism.workflows.extract import clip_spec, extract_videos

    backbone = load_backbone("effnet-lite0")
    spec = clip_spec(backbone, size=size)
    started = time.perf_counter()
    results = extract_videos(
        parts["videos"], backbone, EmbeddingStore(store), spec, tracks=[parts["tracks"]] if tracks else None
    )
    assert not any(r.error for r in results), [r.error for r in results]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=900)
    parser.add_argument("--parts", type=int, default=3)
    parser.add_argument("--frames-per-part", type=int, default=200)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--heads", nargs="+", default=["linear", "mlp", "temporal"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ethoprism-animals"))
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    from ethoprism.workflows import classify

    parts = make_fly_parts(args.work, args.first, args.parts, args.frames_per_part)
    n_frames = args.parts * args.frames_per_part
    plain = extract(parts, args.work / f"plain{args.size}", args.size, tracks=False)
    tracked = extract(parts, args.work / f"tracked{args.size}", args.size, tracks=True)
    print(
        f"extraction of {n_frames} frames at {args.size} px: {plain:.1f} s without tracks, "
        f"{tracked:.1f} s with 2 animals pooled ({100 * (tracked / plain - 1):+.0f} %)"
    )
    data = classify.load_labelled(args.work / f"tracked{args.size}", parts["labels"])
    report = classify.evaluate(data, args.heads, args.work / "report")
    rows = []
    for kind, result in report["heads"].items():
        m, blind = result["metrics"], result["animal_blind"]
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
            }
        )
    table = pd.DataFrame(rows)
    print(table.T.to_string(header=False))
    if args.out:
        args.out.write_text(
            json.dumps({"rows": rows, "extract_s": {"plain": plain, "tracks": tracked}}, indent=2)
        )


if __name__ == "__main__":
    main()
