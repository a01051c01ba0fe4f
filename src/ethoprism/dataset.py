"""Joining stored embeddings with labels: the table every head trains and is evaluated on."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.labels.model import VideoLabels, merge_behaviors
from ethoprism.provenance import Provenance
from ethoprism.store import StoreEntry


@dataclass
class FrameDataset:
    """All frames of the given videos, in video then frame order."""

    X: np.ndarray  # float32 [N, D]
    Y: np.ndarray  # int8 [N, K]; -1 rows are unlabelled
    groups: np.ndarray  # int [N] video index
    frames: np.ndarray  # int [N] frame index within its video
    times: np.ndarray  # float [N] seconds
    videos: list[str]
    behaviors: list[str]
    exclusive: bool
    provenance: (
        Provenance | None
    )  # of the embeddings (all entries share it: EmbeddingStore.select refuses mixtures)
    fps: list[float]
    splits: dict[str, str] = field(default_factory=dict)  # video -> split named by the label file (FERAL)
    grid_X: np.ndarray | None = None  # float16 [N, g*g*D]: each frame's pooled token grid (--token-grid)
    # per group, the animal it follows (per-animal data: a group is one animal's track in one
    # video, so sequence heads run along it); None: the whole frame
    animals: list[str | None] | None = None
    # per-animal rows: each row against every animal of its video as the possible target of a
    # directed behaviour (float32 [N, animals, len(PAIR_FEATURES)], NaN: itself or absent), the
    # animals of each video in track order, and the labelled target of each row and behaviour
    # (int16 [N, K]: an index into its video's animals; -1 none named)
    pairs: np.ndarray | None = None
    tracked: dict[str, list[str]] = field(default_factory=dict)
    target_of: np.ndarray | None = None

    @property
    def video_groups(self) -> np.ndarray:
        """int [N]: the row's video (its index among the distinct video names). Splits are by
        video: two animals of one video are never on both sides of a fold."""
        names = list(dict.fromkeys(self.videos))
        return np.asarray([names.index(v) for v in self.videos], np.int64)[self.groups]

    @property
    def per_animal(self) -> bool:
        return self.animals is not None and any(a is not None for a in self.animals)

    def subset(self, video_indices) -> FrameDataset:
        return self.rows(np.isin(self.groups, list(video_indices)))

    def rows(self, mask: np.ndarray) -> FrameDataset:
        """The frames where ``mask`` is true (keeps video order)."""
        return replace(
            self,
            X=self.X[mask],
            Y=self.Y[mask],
            groups=self.groups[mask],
            frames=self.frames[mask],
            times=self.times[mask],
            grid_X=None if self.grid_X is None else self.grid_X[mask],
            pairs=None if self.pairs is None else self.pairs[mask],
            target_of=None if self.target_of is None else self.target_of[mask],
        )

    def for_head(self, kind: str) -> FrameDataset:
        """The features head ``kind`` reads: pooled frame vectors, or the token grids of
        spatio-temporal heads (the grids then stand in ``X``)."""
        from ethoprism.heads.io import TOKEN_HEADS

        if kind not in TOKEN_HEADS:
            return self
        if self.grid_X is None and self.per_animal:
            raise ValueError("per-animal rows were built without their token sets (tokens=True)")
        if self.grid_X is None:
            raise EthoprismError(
                f"the '{kind}' head reads token grids, which this store does not hold: "
                "extract again with --token-grid G (e.g. 4)"
            )
        return replace(self, X=self.grid_X)

    @property
    def token_grid(self) -> int | None:
        return None if self.provenance is None else self.provenance.token_grid

    @property
    def animal_tokens(self) -> int | None:
        """Per-animal rows: the tokens of each row's set (:func:`animal_token_set`)."""
        if not self.per_animal or self.grid_X is None:
            return None
        dim = (self.X.shape[1] - len(SOCIAL_FEATURES)) // 3
        return self.grid_X.shape[1] // dim

    @property
    def labelled(self) -> np.ndarray:
        return (self.Y >= 0).all(axis=1)


def build_dataset(
    entries: list[StoreEntry],
    labels: list[VideoLabels] | None,
    behaviors: list[str] | None = None,
    require_labels: bool = True,
    grid: bool = False,
) -> FrameDataset:
    """``grid``: also load each frame's pooled token grid (for spatio-temporal heads)."""
    by_name = {label.video: label for label in labels or []}
    unknown = sorted(set(by_name) - {e.video_name for e in entries})
    if unknown and require_labels:
        source = (labels or [None])[0].source if labels else ""
        raise EthoprismError(f"labels name videos that are not in the store: {unknown}", source or None)
    behaviors = behaviors or merge_behaviors(labels or [])
    exclusive = all(label.exclusive for label in labels) if labels else True
    X, Y, groups, frames, times, videos, fps, grids = [], [], [], [], [], [], [], []
    used = [e for e in entries if e.video_name in by_name] if (labels and require_labels) else entries
    if not used:
        raise EthoprismError("no stored video has labels")
    for index, entry in enumerate(used):
        embeddings = entry.embeddings()
        n = len(embeddings)
        if X and embeddings.ndim == 2 and embeddings.shape[1] != X[0].shape[1]:
            raise EthoprismError(
                f"holds {embeddings.shape[1]}-dimensional embeddings where {used[0].video_name} holds "
                f"{X[0].shape[1]}: extract this video again with the others' backbone",
                entry.path,
            )
        if (
            grid
            and grids
            and (tokens := entry.grid_tokens()) is not None
            and tokens[0].size != grids[0].shape[1]
        ):
            raise EthoprismError(
                f"holds token grids of another shape {tokens.shape[1:]} than {used[0].video_name}'s: extract "
                "this video again with the others' --token-grid/--token-dim",
                entry.path,
            )
        if entry.video_name in by_name:
            label = by_name[entry.video_name]
            label.check_against_video(n, entry.fps)
            targets = label.reorder(behaviors).targets if label.behaviors != behaviors else label.targets
        else:
            targets = np.full((n, len(behaviors)), -1, np.int8)
        X.append(embeddings)
        if grid:
            tokens = entry.grid_tokens()
            if tokens is None:
                raise EthoprismError(
                    "this entry holds no token grids: extract again with --token-grid G (e.g. 4)", entry.path
                )
            if grids and tokens[0].size != grids[0].shape[1]:
                raise EthoprismError(
                    f"holds token grids of another shape {tokens.shape[1:]} than {used[0].video_name}'s: "
                    "extract this video again with the others' --token-grid/--token-dim",
                    entry.path,
                )
            grids.append(tokens.reshape(n, -1))
        Y.append(targets)
        groups.append(np.full(n, index))
        frames.append(np.arange(n))
        times.append(entry.timestamps())
        videos.append(entry.video_name)
        fps.append(entry.fps)
    if labels and require_labels:
        present = np.concatenate(Y).max(axis=0) if len(behaviors) else np.array([])
        absent = [b for b, p in zip(behaviors, present) if p < 1]
        if absent:
            raise EthoprismError(
                f"behaviour(s) {absent} are never present in the labelled frames: a head cannot learn "
                "them; label some frames or leave them out",
                labels[0].source or None,
            )
    splits = {name: label.extra["split"] for name, label in by_name.items() if "split" in label.extra}
    return FrameDataset(
        np.concatenate(X).astype(np.float32),
        np.concatenate(Y),
        np.concatenate(groups),
        np.concatenate(frames),
        np.concatenate(times),
        videos,
        list(behaviors),
        exclusive,
        used[0].provenance,
        fps,
        splits,
        np.concatenate(grids) if grid else None,
    )


SOCIAL_FEATURES = [
    "own_speed",
    "other_present",
    "other_dx",
    "other_dy",
    "other_distance",
    "other_speed",
    "toward_other",  # cos of the angle between the animal's motion and the direction to the other
    "other_toward_me",  # the same for the other animal's motion (approach, chase, flight)
]
HEADING_FRAMES = 2  # motion direction from the box centre's displacement over +-2 frames


PAIR_FEATURES = [
    "dx",  # the candidate's centre relative to the animal's
    "dy",
    "distance",
    "nearness_rank",  # 0: the nearest other animal on the frame, 1: the next, ...
    "other_speed",
    "toward_other",  # cos of the angle between the animal's motion and the direction to the candidate
    "other_toward_me",  # the same for the candidate's motion
    "closing_speed",  # how fast the two come together (positive) or part (negative), per frame
]


def pair_geometry(frames, ids, boxes, n_animals: int, width: int, height: int) -> dict:
    """Every row against every animal on the row's frame, in units of the frame's diagonal:
    ``offsets`` [rows, animals, 2], ``distance`` [rows, animals] (NaN: itself, or absent there),
    ``row_of`` [rows, animals] (that animal's row on the frame, -1 where absent), and per row
    ``speed`` (box centre, per frame) and ``motion`` (displacement over +-HEADING_FRAMES)."""
    frames, ids = np.asarray(frames), np.asarray(ids, np.int64)
    centre = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    centre = centre / float(np.hypot(width, height))
    speed = np.zeros(len(frames), np.float32)
    motion = np.zeros((len(frames), 2))
    for k in range(n_animals):
        mine = np.flatnonzero(ids == k)
        if len(mine) > 1:
            step = np.diff(frames[mine]).clip(min=1)
            moved = np.linalg.norm(np.diff(centre[mine], axis=0), axis=1) / step
            speed[mine[1:]] = moved
            speed[mine[0]] = moved[0]
            ahead = np.minimum(np.arange(len(mine)) + HEADING_FRAMES, len(mine) - 1)
            behind = np.maximum(np.arange(len(mine)) - HEADING_FRAMES, 0)
            motion[mine] = centre[mine[ahead]] - centre[mine[behind]]
    geometry = {"speed": speed, "motion": motion}
    if not len(frames):
        empty = np.zeros((0, n_animals))
        return {**geometry, "offsets": empty[..., None].repeat(2, 2), "distance": empty, "row_of": empty}
    # one vectorised pass over [frames, animals]: no loop over rows
    first = int(frames.min())
    slot = frames - first
    grid = np.full((int(frames.max()) - first + 1, n_animals, 2), np.nan)
    grid[slot, ids] = centre
    row_of = np.full(grid.shape[:2], -1, np.int64)
    row_of[slot, ids] = np.arange(len(frames))
    offsets = grid[slot] - centre[:, None, :]
    distance = np.linalg.norm(offsets, axis=2)
    distance[np.arange(len(frames)), ids] = np.nan  # not itself
    return {**geometry, "offsets": offsets, "distance": distance, "row_of": row_of[slot]}


def _cosine(a, b):
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.where(norms > 1e-9, (a * b).sum(axis=-1) / np.maximum(norms, 1e-12), 0.0)


def social_features(frames, ids, boxes, n_animals: int, width: int, height: int, geometry=None):
    """Per (frame, animal) row, what a social behaviour needs from the tracks, in units of the
    frame's diagonal: the animal's own speed (box centre, per frame), and the nearest other
    animal on that frame: present or not, its relative position, distance and speed, and whether
    each of the two moves toward the other (heading taken as the direction of motion: boxes have
    no body axis). -> (features ``[rows, len(SOCIAL_FEATURES)]``, ``[rows, n_animals - 1]``: the
    rows of the other animals on the same frame, nearest first, -1 where fewer are present).
    ``geometry``: :func:`pair_geometry` of the same rows, where already computed."""
    geometry = geometry or pair_geometry(frames, ids, boxes, n_animals, width, height)
    speed, motion = geometry["speed"], geometry["motion"]
    out = np.zeros((len(speed), len(SOCIAL_FEATURES)), np.float32)
    out[:, 0] = speed
    others = np.full((len(speed), max(n_animals - 1, 1)), -1, np.int64)
    if n_animals < 2 or not len(speed):
        return out, others
    distance, offsets = geometry["distance"], geometry["offsets"]
    present = ~np.isnan(distance).all(axis=1)
    order = np.argsort(np.where(np.isnan(distance), np.inf, distance), axis=1, kind="stable")[
        :, : n_animals - 1
    ]
    others[:] = np.where(
        np.isnan(np.take_along_axis(distance, order, axis=1)),
        -1,
        np.take_along_axis(geometry["row_of"], order, axis=1),
    )
    nearest = order[:, 0]
    partner = others[:, 0]
    rows = np.flatnonzero(present)
    toward = offsets[rows, nearest[rows]]
    out[rows, 1] = 1.0
    out[rows, 2:4] = toward
    out[rows, 4] = distance[rows, nearest[rows]]
    out[rows, 5] = speed[partner[rows]]
    out[rows, 6] = _cosine(motion[rows], toward)
    out[rows, 7] = _cosine(motion[partner[rows]], -toward)
    return out, others


def pair_features(frames, ids, boxes, n_animals: int, width: int, height: int, geometry=None) -> np.ndarray:
    """float32 ``[rows, n_animals, len(PAIR_FEATURES)]``: each row's animal against every animal
    of its video as the possible *target* of a directed behaviour (NaN where that animal is the
    row's own or absent from the frame). ``geometry``: as in :func:`social_features`."""
    geometry = geometry or pair_geometry(frames, ids, boxes, n_animals, width, height)
    distance, offsets, row_of = geometry["distance"], geometry["offsets"], geometry["row_of"]
    out = np.full((*distance.shape, len(PAIR_FEATURES)), np.nan, np.float32)
    present = ~np.isnan(distance)
    if not present.any():
        return out
    rows, candidates = np.nonzero(present)
    theirs = row_of[rows, candidates]
    toward = offsets[rows, candidates]
    rank = np.argsort(np.argsort(np.where(present, distance, np.inf), axis=1, kind="stable"), axis=1)
    motion = geometry["motion"]
    relative = motion[theirs] - motion[rows]
    unit = toward / np.maximum(np.linalg.norm(toward, axis=1, keepdims=True), 1e-12)
    out[rows, candidates] = np.column_stack(
        [
            toward,
            distance[rows, candidates],
            rank[rows, candidates],
            geometry["speed"][theirs],
            _cosine(motion[rows], toward),
            _cosine(motion[theirs], -toward),
            -(relative * unit).sum(axis=1) / (2 * HEADING_FRAMES),
        ]
    )
    return out


def build_animal_dataset(
    entries: list[StoreEntry],
    labels: list[VideoLabels] | None,
    behaviors: list[str] | None = None,
    require_labels: bool = True,
    tokens: bool | int = False,
) -> FrameDataset:
    """One row per (animal, frame) it is present on: the animal's embedding, the whole frame's,
    the nearest other animal's (zeros when alone: social context for every head) and the social
    features of :func:`social_features`. A group is one animal's track in
    one video (sequence heads run along it); labels are per (video, animal) (``subject``).
    ``tokens``: also each row as a set of tokens for the attention heads (``grid_X``): the
    animal's, the frame's, every other animal's on that frame (nearest first, zeros where fewer
    are present) and the social features (zero-padded to the embedding width); an int: that many
    tokens per row (a trained head's: nearer others kept, missing ones zeros)."""
    labels = labels or []
    with_tracks = {e.video_name: e for e in entries if e.provenance.tracks}
    for label in labels:
        where = label.source or None
        if label.video not in with_tracks:
            raise EthoprismError(
                f"labels name animals for video '{label.video}', which was extracted without tracks: "
                "extract it again with --tracks FILE",
                where,
            )
        animals = with_tracks[label.video].animals
        if label.subject is None:
            raise EthoprismError(
                f"labels of video '{label.video}' name no animal, but the store tracks {', '.join(animals)}: "
                "add an 'animal' column (bouts CSV) or Subjects (BORIS) saying whose behaviour each bout is",
                where,
            )
        if label.subject not in animals:
            raise EthoprismError(
                f"labels name animal '{label.subject}' in '{label.video}', which no track has "
                f"(tracked: {', '.join(animals)})",
                where,
            )
    by_key = {(label.video, label.subject): label for label in labels}
    behaviors = behaviors or merge_behaviors(labels)
    exclusive = all(label.exclusive for label in labels) if labels else True
    X, Y, groups, frames, times, videos, animals, fps = [], [], [], [], [], [], [], []
    token_rows, pair_rows, target_rows, tracked = [], [], [], {}
    most_animals = max(len(e.animals) for e in with_tracks.values()) if with_tracks else 1
    most_others = max([len(e.animals) - 1 for e in with_tracks.values()] + [1])
    if tokens is not True and tokens:
        most_others = int(tokens) - 3
    for entry in entries:
        if entry.video_name not in with_tracks:
            continue
        rows = entry.animal_rows()
        if rows is None:
            raise EthoprismError(
                "entry lacks its per-animal rows: extract it again with --tracks", entry.path
            )
        row_frames, ids = rows
        frame_vectors, animal_vectors = entry.embeddings(), entry.animal_embeddings()
        # the boxes read and the geometry computed once for both views of it
        track = (row_frames, ids, entry.animal_boxes(), len(entry.animals), *entry.size)
        geometry = pair_geometry(*track)
        social, nearest_first = social_features(*track, geometry=geometry)
        pairs = pair_features(*track, geometry=geometry)
        tracked[entry.video_name] = list(entry.animals)
        partner = nearest_first[:, 0]
        others = np.where((partner >= 0)[:, None], animal_vectors[partner.clip(min=0)], 0.0).astype(
            np.float32
        )
        stamps = entry.timestamps()
        for k, animal in enumerate(entry.animals):
            label = by_key.get((entry.video_name, animal))
            if label is None and labels and require_labels:
                continue
            mine = np.flatnonzero(ids == k)
            if not len(mine):
                continue
            at = row_frames[mine]
            if label is not None:
                label.check_against_video(entry.n_frames, entry.fps)
                targets = label.reorder(behaviors).targets if label.behaviors != behaviors else label.targets
                Y.append(targets[at])
                target_rows.append(labelled_targets(label, entry.animals, behaviors)[at])
            else:
                Y.append(np.full((len(mine), len(behaviors)), -1, np.int8))
                target_rows.append(np.full((len(mine), len(behaviors)), -1, np.int16))
            padded = np.full((len(mine), most_animals, len(PAIR_FEATURES)), np.nan, np.float32)
            padded[:, : len(entry.animals)] = pairs[mine]
            pair_rows.append(padded)
            X.append(
                np.concatenate([animal_vectors[mine], frame_vectors[at], others[mine], social[mine]], axis=1)
            )
            if tokens:
                token_rows.append(
                    animal_token_set(
                        animal_vectors,
                        frame_vectors[at],
                        nearest_first[mine],
                        social[mine],
                        mine,
                        most_others,
                    )
                )
            groups.append(np.full(len(mine), len(videos)))
            frames.append(at)
            times.append(stamps[at])
            videos.append(entry.video_name)
            animals.append(animal)
            fps.append(entry.fps)
    if not videos:
        raise EthoprismError("no stored video with tracks has labelled animals")
    Y = np.concatenate(Y)
    if labels and require_labels:
        absent = [b for b, present in zip(behaviors, Y.max(axis=0)) if present < 1]
        if absent:
            raise EthoprismError(
                f"behaviour(s) {absent} are never present in the labelled frames: a head cannot learn "
                "them; label some frames or leave them out",
                labels[0].source or None,
            )
    return FrameDataset(
        np.concatenate(X).astype(np.float32),
        Y,
        np.concatenate(groups),
        np.concatenate(frames),
        np.concatenate(times),
        videos,
        list(behaviors),
        exclusive,
        entries[0].provenance,
        fps,
        {},
        np.concatenate(token_rows) if tokens else None,
        animals,
        np.concatenate(pair_rows),
        tracked,
        np.concatenate(target_rows),
    )


def labelled_targets(label: VideoLabels, animals: list[str], behaviors: list[str]) -> np.ndarray:
    """int16 [n_frames, K]: whom the labelled animal directs each behaviour at on each frame (an
    index into the video's ``animals``), -1 where no target is named."""
    out = np.full((label.n_frames, len(behaviors)), -1, np.int16)
    for behavior, start, end, target in label.extra.get("directed", []):
        if target not in animals:
            raise EthoprismError(
                f"a '{behavior}' bout of {label.subject} (frames {start}-{end}) is directed at '{target}', "
                f"which no track of '{label.video}' has (tracked: {', '.join(animals)})",
                label.source or None,
            )
        if behavior in behaviors:
            out[start : end + 1, behaviors.index(behavior)] = animals.index(target)
    return out


def animal_token_set(animal_vectors, frame_vectors, nearest_first, social, mine, most_others: int):
    """float16 ``[rows, (3 + most_others) * D]``: per row the tokens [animal, frame, others nearest
    first (zeros where absent), social features zero-padded to ``D``]."""
    dim = animal_vectors.shape[1]
    cells = np.zeros((len(mine), 3 + most_others, dim), np.float16)
    cells[:, 0] = animal_vectors[mine]
    cells[:, 1] = frame_vectors
    for slot in range(min(nearest_first.shape[1], most_others)):
        present = nearest_first[:, slot] >= 0
        cells[present, 2 + slot] = animal_vectors[nearest_first[present, slot]]
    width = min(dim, social.shape[1])
    cells[:, -1, :width] = social[:, :width]
    return cells.reshape(len(mine), -1)


def animal_blind(data: FrameDataset) -> tuple[FrameDataset, np.ndarray]:
    """The baseline that cannot tell animals apart, from per-animal ``data``: one row per (video,
    frame) with the whole frame's embedding only, labelled with what *any* animal does there.
    -> (that dataset, for each per-animal row the index of its frame's row)."""
    dim = (data.X.shape[1] - len(SOCIAL_FEATURES)) // 3  # own, frame, nearest other animal
    names = list(dict.fromkeys(data.videos))
    video = np.asarray([names.index(v) for v in data.videos])[data.groups]
    keys = video * (int(data.frames.max()) + 1) + data.frames
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    Y = np.full((len(unique), data.Y.shape[1]), -1, np.int8)
    np.maximum.at(Y, inverse, data.Y)
    frame_data = FrameDataset(
        data.X[first, dim : 2 * dim],
        Y,
        video[first],
        data.frames[first],
        data.times[first],
        names,
        data.behaviors,
        data.exclusive and not ((Y > 0).sum(axis=1) > 1).any(),
        data.provenance,
        [data.fps[data.videos.index(n)] for n in names],
    )
    return frame_data, inverse


def video_frame_info(entries: list[StoreEntry]) -> dict[str, dict]:
    return {
        e.video_name: {
            "n_frames": e.n_frames,
            "fps": e.fps,
            "timestamps": e.timestamps(),
            "path": e.video_path,
        }
        for e in entries
    }
