"""A deterministic synthetic dataset with exact ground truth: videos of animals in an arena
doing behaviours, with per-frame labels and boxes.

It exists so that every task can be tested end to end with known answers; it does not replace
the real videos. The subject (animal 0) does exclusive behaviours; frames where it does none are
background ("rest"):

* ``walk`` — moves along its heading, elongated body, alternating legs;
* ``groom`` — stays, compact body, forepaws at the head, head bobbing;
* ``rear`` — stays, seen larger and lighter (closer to the camera), head up;
* ``jump`` — a **fast** behaviour of 3–5 frames: a leap with a detached shadow;
* ``shake`` — a **rare** behaviour (about once per long video): body jitter with droplets.

Lighting changes per video (gain), drifts slowly, and can switch suddenly (lights dimmed), which
is what the paper found retrieval to be sensitive to. Other animals (``n_animals > 1``) walk and
rest (or, with ``others_behave``, do every behaviour, each on its own schedule); their boxes
carry their identity. With several animals the set also holds per-animal ground truth:
``tracks.csv`` (a boxes CSV ``ethoprism extract --tracks`` reads; animals ``animal0``,
``animal1``, ...) and ``animal_labels.csv`` (bouts with an ``animal`` column).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.labels.model import VideoLabels
from ethoprism.video import VideoWriter

BEHAVIORS = ["walk", "groom", "rear", "jump", "shake"]
BOUT_FRAMES = {
    "rest": (20, 50),
    "walk": (15, 40),
    "groom": (20, 45),
    "rear": (10, 25),
    "jump": (3, 5),
    "shake": (10, 14),
}
TRANSITIONS = {
    "rest": [0.0, 0.4, 0.3, 0.2, 0.1],
    "walk": [0.55, 0.0, 0.15, 0.15, 0.15],
    "groom": [0.6, 0.2, 0.0, 0.15, 0.05],
    "rear": [0.5, 0.3, 0.1, 0.0, 0.1],
    "jump": [0.4, 0.5, 0.05, 0.05, 0.0],
    "shake": [0.7, 0.3, 0.0, 0.0, 0.0],
}
STATES = ["rest", "walk", "groom", "rear", "jump"]


@dataclass
class SyntheticConfig:
    n_videos: int = 6
    n_frames: int = 450
    size: int = 128
    fps: float = 30.0
    n_animals: int = 1
    seed: int = 0
    lighting_change: bool = True
    rare_videos: float = 0.5  # fraction of videos with one planted rare 'shake' bout
    noise: float = 4.0
    name_prefix: str = "video"  # files are <prefix>_<NN>.mp4
    others_behave: bool = False  # animals other than the subject do every behaviour, not only walk


@dataclass
class SyntheticVideo:
    path: Path
    labels: VideoLabels
    boxes: np.ndarray  # float32 [n_frames, n_animals, 4] x0, y0, x1, y1 (pixels)
    lighting: np.ndarray  # float32 [n_frames] global gain
    extra: dict = field(default_factory=dict)
    animal_labels: list[VideoLabels] = field(default_factory=list)  # per animal, subject first


def animal_name(index: int) -> str:
    return f"animal{index}"


def _behaviour_sequence(rng: np.random.Generator, n_frames: int, plant_rare: bool) -> list[str]:
    sequence: list[str] = []
    state = "rest"
    while len(sequence) < n_frames:
        low, high = BOUT_FRAMES[state]
        sequence.extend([state] * int(rng.integers(low, high + 1)))
        state = STATES[int(rng.choice(len(STATES), p=TRANSITIONS[state]))]
    sequence = sequence[:n_frames]
    if plant_rare:
        length = int(rng.integers(*BOUT_FRAMES["shake"]))
        start = int(rng.integers(n_frames // 4, max(n_frames // 4 + 1, n_frames - length - 5)))
        sequence[start : start + length] = ["shake"] * length
    return sequence


def _floor(size: int, rng: np.random.Generator) -> np.ndarray:
    floor = np.full((size, size, 3), (196, 188, 170), np.float32)
    floor += rng.normal(0, 3, (size, size, 1))
    step = size // 8
    floor[::step, :] -= 18
    floor[:, ::step] -= 18
    wall = max(3, size // 32)
    floor[:wall], floor[-wall:], floor[:, :wall], floor[:, -wall:] = 90, 90, 90, 90
    return floor


def _ellipse_mask(yy, xx, cy, cx, ry, rx, angle):
    cos, sin = np.cos(angle), np.sin(angle)
    dy, dx = yy - cy, xx - cx
    u = dx * cos + dy * sin
    v = -dx * sin + dy * cos
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


class _Animal:
    def __init__(self, rng, size, colour):
        self.rng = rng
        self.size = size
        margin = size * 0.25
        self.y, self.x = rng.uniform(margin, size - margin, 2)
        self.heading = rng.uniform(0, 2 * np.pi)
        self.colour = np.asarray(colour, np.float32)

    def step(self, behaviour: str, t: int):
        speed = {"walk": self.size * 0.012, "jump": self.size * 0.045}.get(behaviour, 0.0)
        if behaviour == "walk":
            self.heading += self.rng.normal(0, 0.08)
        self.x += np.cos(self.heading) * speed
        self.y += np.sin(self.heading) * speed
        low, high = self.size * 0.15, self.size * 0.85
        if not (low < self.x < high and low < self.y < high):
            self.heading += np.pi  # turn back from the wall
            self.x, self.y = np.clip(self.x, low, high), np.clip(self.y, low, high)

    def draw(self, image, yy, xx, behaviour: str, t: int):
        """Draw and return the box (x0, y0, x1, y1)."""
        s = self.size
        length, width, shade = s * 0.09, s * 0.05, 1.0
        cy, cx, angle = self.y, self.x, self.heading
        extras = []
        if behaviour == "walk":
            length, width = s * 0.11, s * 0.04
            side = 1 if (t // 3) % 2 else -1
            for sign in (1, -1):
                extras.append((sign * length * 0.6, side * sign * width * 1.3, s * 0.012))
        elif behaviour == "groom":
            length, width = s * 0.075, s * 0.055
            bob = np.sin(t * 1.3) * s * 0.012
            for sign in (1, -1):
                extras.append((length * 0.9 + bob, sign * width * 0.5, s * 0.016))
        elif behaviour == "rear":
            length, width, shade = s * 0.085, s * 0.07, 1.6
        elif behaviour == "jump":
            length, width = s * 0.12, s * 0.06
            shadow = _ellipse_mask(yy, xx, cy + s * 0.06, cx + s * 0.05, width, length, angle)
            image[shadow] *= 0.6
        elif behaviour == "shake":
            # wet-dog shake: fluffed-up, twisting body throwing a ring of bright droplets
            angle = angle + np.sin(t * 2.5) * 0.6
            length, width = s * 0.085, s * 0.075
            cx, cy = cx + np.sin(t * 3.1) * s * 0.01, cy
            for _ in range(12):
                phi = self.rng.uniform(0, 2 * np.pi)
                r = self.rng.uniform(1.4, 2.2) * length
                extras.append((r * np.cos(phi), r * np.sin(phi), s * 0.018, (90, 150, 235)))
        colour = np.clip(self.colour * shade, 0, 255)
        body = _ellipse_mask(yy, xx, cy, cx, width, length, angle)
        image[body] = colour
        head_y, head_x = cy + np.sin(angle) * length * 1.05, cx + np.cos(angle) * length * 1.05
        head = _ellipse_mask(yy, xx, head_y, head_x, width * 0.7, width * 0.8, angle)
        image[head] = np.clip(colour * 0.85, 0, 255)
        tail_t = np.linspace(1.0, 2.0, 12)
        for tt in tail_t:
            ty = int(round(cy - np.sin(angle) * length * tt))
            tx = int(round(cx - np.cos(angle) * length * tt))
            if 0 <= ty < image.shape[0] and 0 <= tx < image.shape[1]:
                image[ty, tx] = (150, 110, 110)
        cos, sin = np.cos(angle), np.sin(angle)
        for extra in extras:
            along, across, radius = extra[:3]
            ecol = extra[3] if len(extra) > 3 else colour * 0.7
            ey, ex = cy + sin * along + cos * across, cx + cos * along - sin * across
            image[(yy - ey) ** 2 + (xx - ex) ** 2 <= radius**2] = ecol
        mask = body | head
        ys, xs = np.nonzero(mask)
        return (
            np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
            if len(xs)
            else np.zeros(4, np.float32)
        )


def generate(out_dir: str | Path, config: SyntheticConfig | None = None) -> list[SyntheticVideo]:
    """Write ``video_XX.mp4`` files plus ``labels.csv`` (bouts), ``boxes.json`` (COCO) and
    ``manifest.json`` into ``out_dir``; returns the in-memory ground truth too."""
    config = config or SyntheticConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    master = np.random.default_rng(config.seed)
    n_rare = int(round(config.rare_videos * config.n_videos))
    rare_flags = np.zeros(config.n_videos, bool)
    rare_flags[master.permutation(config.n_videos)[:n_rare]] = True
    videos = []
    yy, xx = np.mgrid[0 : config.size, 0 : config.size].astype(np.float32)
    for index in range(config.n_videos):
        rng = np.random.default_rng([config.seed, index])
        sequence = _behaviour_sequence(rng, config.n_frames, bool(rare_flags[index]))
        others = [_behaviour_sequence(rng, config.n_frames, False) for _ in range(config.n_animals - 1)]
        if not config.others_behave:
            others = [["walk" if b == "walk" else "rest" for b in seq] for seq in others]
        floor = _floor(config.size, rng)
        animals = [_Animal(rng, config.size, (70, 52, 40))] + [
            _Animal(rng, config.size, (40 + 30 * k, 40 + 20 * k, 60)) for k in range(1, config.n_animals)
        ]
        gain = rng.uniform(0.75, 1.2) * (
            1 + 0.08 * np.sin(np.arange(config.n_frames) / config.n_frames * 2 * np.pi * rng.uniform(0.5, 2))
        )
        if config.lighting_change and rng.random() < 0.5:
            switch = int(rng.integers(config.n_frames // 3, 2 * config.n_frames // 3))
            gain[switch:] *= rng.uniform(0.55, 0.75)
        boxes = np.zeros((config.n_frames, config.n_animals, 4), np.float32)
        path = out_dir / f"{config.name_prefix}_{index:02d}.mp4"
        with VideoWriter(path, fps=config.fps) as writer:
            for t in range(config.n_frames):
                image = floor.copy()
                for k, animal in enumerate(animals):
                    behaviour = sequence[t] if k == 0 else others[k - 1][t]
                    animal.step(behaviour, t)
                    boxes[t, k] = animal.draw(image, yy, xx, behaviour, t)
                image = image * gain[t] + rng.normal(0, config.noise, image.shape)
                writer.write(np.clip(image, 0, 255).astype(np.uint8))
        per_animal = [
            VideoLabels(
                path.name,
                list(BEHAVIORS),
                _targets(seq),
                fps=config.fps,
                exclusive=True,
                source=str(path),
                subject=animal_name(k),
            )
            for k, seq in enumerate([sequence, *others])
        ]
        labels = VideoLabels(
            path.name, list(BEHAVIORS), _targets(sequence), fps=config.fps, exclusive=True, source=str(path)
        )
        videos.append(
            SyntheticVideo(
                path,
                labels,
                boxes,
                gain.astype(np.float32),
                animal_labels=per_animal,
            )
        )
    _write_ground_truth(out_dir, videos, config)
    return videos


def _targets(sequence: list[str]) -> np.ndarray:
    targets = np.zeros((len(sequence), len(BEHAVIORS)), np.int8)
    for t, behaviour in enumerate(sequence):
        if behaviour in BEHAVIORS:
            targets[t, BEHAVIORS.index(behaviour)] = 1
    return targets


def _write_ground_truth(out_dir: Path, videos: list[SyntheticVideo], config: SyntheticConfig) -> None:
    from ethoprism.io.bouts_csv import write_bouts_csv
    from ethoprism.labels.model import bouts_from_mask

    rows = []
    for video in videos:
        for k, behaviour in enumerate(BEHAVIORS):
            for start, end in bouts_from_mask(video.labels.targets[:, k] > 0):
                rows.append(
                    {"video": video.path.name, "behavior": behaviour, "start_frame": start, "end_frame": end}
                )
    write_bouts_csv(
        pd.DataFrame(rows, columns=["video", "behavior", "start_frame", "end_frame"]), out_dir / "labels.csv"
    )
    if config.n_animals > 1:
        write_animal_ground_truth(out_dir, videos, config)
    images, annotations = [], []
    for v, video in enumerate(videos):
        for t in range(video.boxes.shape[0]):
            image_id = v * 1_000_000 + t
            images.append(
                {
                    "id": image_id,
                    "file_name": video.path.name,
                    "frame": t,
                    "width": config.size,
                    "height": config.size,
                }
            )
            for k, (x0, y0, x1, y1) in enumerate(video.boxes[t]):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": 1,
                        "track_id": k,
                        "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                        "area": float((x1 - x0) * (y1 - y0)),
                        "iscrowd": 0,
                    }
                )
    (out_dir / "boxes.json").write_text(
        json.dumps(
            {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "animal"}]}
        )
    )
    manifest = {
        "config": asdict(config),
        "behaviors": BEHAVIORS,
        "background": "rest",
        "videos": [
            {
                "file": v.path.name,
                "n_frames": int(v.labels.n_frames),
                "fps": config.fps,
                "has_rare_behavior": bool(v.labels.targets[:, BEHAVIORS.index("shake")].any()),
            }
            for v in videos
        ],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))


def write_animal_ground_truth(out_dir: Path, videos: list[SyntheticVideo], config: SyntheticConfig) -> None:
    """``tracks.csv`` (every animal's box on every frame) and ``animal_labels.csv`` (written with
    the set when it has several animals; for one, call it to get its tracks too)."""
    from ethoprism.io.bouts_csv import write_bouts_csv
    from ethoprism.labels.model import bouts_from_mask

    bouts, tracks = [], []
    for video in videos:
        for k, labels in enumerate(video.animal_labels):
            for b, behaviour in enumerate(BEHAVIORS):
                for start, end in bouts_from_mask(labels.targets[:, b] > 0):
                    bouts.append((video.path.name, animal_name(k), behaviour, start, end))
            corners = video.boxes[:, k].clip(0, config.size)
            tracks.append(
                pd.DataFrame(
                    {
                        "video": video.path.name,
                        "frame": np.arange(len(corners)),
                        "animal": animal_name(k),
                        **{c: corners[:, i] for i, c in enumerate(["x1", "y1", "x2", "y2"])},
                    }
                )
            )
    write_bouts_csv(
        pd.DataFrame(bouts, columns=["video", "animal", "behavior", "start_frame", "end_frame"]),
        out_dir / "animal_labels.csv",
    )
    pd.concat(tracks, ignore_index=True).sort_values(["video", "frame", "animal"]).to_csv(
        out_dir / "tracks.csv", index=False, float_format="%.1f"
    )
