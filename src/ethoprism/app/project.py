"""The state behind ``ethoprism app``: a store's videos, the user's labels (autosaved atomically,
the previous version kept), heads trained from the page, their predictions, browser-playable
proxies. Everything the server serves is named by the store, never by a path from the client."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError, os_reason
from ethoprism.provenance import file_sha256
from ethoprism.store import EmbeddingStore, StoreEntry

APP_FOLDER = "_app"
LABELS_FAULT_HOOK = None  # the fault tests kill the process between the steps of a label save
BROWSER_CODECS = {("h264", "yuv420p"), ("h264", "yuvj420p"), ("vp9", "yuv420p"), ("av1", "yuv420p")}


class BadEdit(EthoprismError):
    """A label edit the project refuses (the server answers 4xx with the message; nothing saved)."""

    def __init__(self, problem: str, status: int = 400):
        super().__init__(problem)
        self.status = status


CORE_COLUMNS = ["video", "behavior", "start_frame", "end_frame"]
ANIMAL_COLUMN = "animal"  # a core column too where the store has tracks: whose behaviour it is
HISTORY_KEPT = 20  # earlier versions of a labels file kept beside it, newest last


@dataclass
class Bout:
    video: str
    behavior: str
    start_frame: int
    end_frame: int
    extra: dict = field(default_factory=dict)  # the user's own columns (notes, annotator...), kept
    animal: str | None = None  # per-animal projects (a store with tracks): whose behaviour it is

    def as_dict(self) -> dict:
        return {
            "video": self.video,
            **({ANIMAL_COLUMN: self.animal} if self.animal is not None else {}),
            "behavior": self.behavior,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            **self.extra,
        }


def _plain(value):
    """A cell of a user's extra column as JSON can carry it (NaN and NA are empty)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


class Project:
    def __init__(
        self,
        store_dir,
        labels_path=None,
        head_path=None,
        exclusive: bool | None = None,
        subject=None,
        motifs_dir=None,
    ):
        """``exclusive``: may bouts overlap? None takes it from the labels file (overlapping
        behaviours make it multi-label), as ``train --exclusive auto`` does. ``subject``: the animal
        to import from a file that names several (BORIS Subjects)."""
        self.subject = subject
        self.store = EmbeddingStore(store_dir)
        self.entries: dict[str, StoreEntry] = {e.video_name: e for e in self.store.select()}
        # per animal (as train does): a store with tracks, unless one subject of a file is picked
        self.per_animal = subject is None and any(e.animals for e in self.entries.values())
        self.folder = self.store.root / APP_FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.labels_path = Path(labels_path) if labels_path else self.folder / "labels.csv"
        self.imported_from: Path | None = None
        self.exclusive = exclusive
        self.lock = threading.Lock()
        self.behaviors: list[str] = []
        self.bouts: list[Bout] = []
        self.extra_columns: list[str] = []
        self.version = 0  # bumped by every save; an edit based on an older version is refused
        self.notes: list[str] = []  # what the app tells the user at start (which file it edits)
        self._load_labels()
        if self.exclusive is None:
            self.exclusive = True
        self.head_path = Path(head_path) if head_path else None
        self.predictions: dict[str, dict] = {}
        self.metrics: dict | None = None
        self.training = threading.Lock()
        self._generation = 0  # bumped by every training; held-out metrics of an older one are dropped
        self.proxies: dict[str, dict] = {}
        self.playing: dict[str, Path] = {}  # the file each video is served from, once known
        self._similar_lock = threading.Lock()
        if self.head_path is not None:
            self._predict_all()
        self.motifs = self._load_motifs(motifs_dir) if motifs_dir else None

    # -- motifs (ethoprism discover) ----------------------------------------------------------
    def _load_motifs(self, motifs_dir) -> dict:
        """The motif bouts of every video of this store, from a folder ``ethoprism discover``
        wrote: shown as a band under the ethogram; naming a motif turns its bouts into labels."""
        from ethoprism.discovery.hmm import runs
        from ethoprism.outputs.motifs import hex_colour
        from ethoprism.workflows.discover import read_motif_tables

        table = read_motif_tables(motifs_dir)
        per_animal = "animal" in table.columns
        if per_animal and not self.per_animal:
            raise EthoprismError(
                "these motifs are per animal, but the app labels whole frames here (--subject, or a "
                "store without tracks): discover with --whole-frame",
                motifs_dir,
            )
        n_motifs = int(table["motif"].max()) + 1
        bouts: dict[str, list] = {}
        keys = ["video", "animal"] if per_animal else ["video"]
        for key, rows in table.groupby(keys, sort=False):
            video = key[0] if isinstance(key, tuple) else key
            if video not in self.entries:
                self.notes.append(f"{motifs_dir}: motifs of '{video}' (not in the store) are not shown")
                continue
            rows = rows.sort_values("frame")
            motif, frames = rows["motif"].to_numpy(), rows["frame"].to_numpy()
            # per animal: [motif, first, last, animal]; a bout never spans frames the animal is absent on
            whose = [str(key[1])] if per_animal else []
            for part in np.split(np.arange(len(frames)), np.flatnonzero(np.diff(frames) != 1) + 1):
                starts, ends = runs(motif[part])
                bouts.setdefault(video, []).extend(
                    [int(motif[part][a]), int(frames[part][a]), int(frames[part][b - 1]), *whose]
                    for a, b in zip(starts, ends)
                )
        colours = [hex_colour(k, n_motifs) for k in range(n_motifs)]
        return {"n_motifs": n_motifs, "colours": colours, "bouts": bouts}

    # -- videos -----------------------------------------------------------------------------
    def entry(self, video: str) -> StoreEntry:
        if video not in self.entries:
            raise BadEdit(f"unknown video '{video}'", 404)
        return self.entries[video]

    def videos(self) -> list[dict]:
        return [
            {
                "name": name,
                "n_frames": e.n_frames,
                "fps": e.fps,
                "width": e.size[0],
                "height": e.size[1],
                "duration_s": e.n_frames / e.fps,
                "animals": e.animals if self.per_animal else [],
            }
            for name, e in sorted(self.entries.items())
        ]

    def animal_boxes(self, video: str, frame: int) -> list[dict]:
        """The tracked animals on ``frame`` and their boxes (pixels of the video): the page picks
        the animal under the pointer from them."""
        entry = self.entry(video)
        if not self.per_animal:
            return []
        ids, boxes = entry.animals_on(frame)
        return [
            {"animal": entry.animals[int(i)], **dict(zip(("x0", "y0", "x1", "y1"), map(float, box)))}
            for i, box in zip(ids, boxes)
        ]

    def playable(self, video: str) -> Path | None:
        """The file the browser plays: the video itself when browsers decode it, else its H.264
        proxy once made (None while it is being made: :meth:`proxy_status`)."""
        from ethoprism.video import VideoReader

        entry = self.entry(video)
        known = self.playing.get(video)
        if known is not None and known.is_file():  # a seek is many range requests: probe once
            return known
        source = Path(entry.video_path)
        if not source.is_file():
            raise BadEdit(f"the video file of '{video}' is gone from {source}", 404)
        meta = VideoReader(source).metadata
        if (
            source.suffix.lower() in (".mp4", ".webm", ".m4v")
            and (meta.codec, meta.pix_fmt) in BROWSER_CODECS
        ):
            if meta.width % 2 == 0 and meta.height % 2 == 0:
                self.playing[video] = source
                return source
        proxy = self.folder / "proxies" / f"{entry.video_sha256[:16]}.mp4"
        if proxy.is_file():
            self.playing[video] = proxy
            return proxy
        with self.lock:
            status = self.proxies.get(video)
            if status is None:
                self.proxies[video] = {"done": 0, "total": entry.n_frames, "error": None}
                threading.Thread(target=self._make_proxy, args=(video, source, proxy), daemon=True).start()
        return None

    def proxy_status(self, video: str) -> dict:
        self.entry(video)
        return self.proxies.get(video, {"done": 0, "total": 0, "error": None})

    def _make_proxy(self, video: str, source: Path, proxy: Path) -> None:
        from ethoprism.video import VideoReader, VideoWriter

        proxy.parent.mkdir(parents=True, exist_ok=True)
        temporary = proxy.with_name(f"{proxy.stem}.tmp-{os.getpid()}.mp4")
        status = self.proxies[video]
        try:
            reader = VideoReader(source)
            with VideoWriter(temporary, fps=reader.metadata.fps) as writer:
                for index, frame in enumerate(reader.iter_frames()):
                    height, width = frame.shape[:2]
                    writer.write(frame[: height - height % 2, : width - width % 2])
                    status["done"] = index + 1
            os.replace(temporary, proxy)
        except Exception as exc:  # reported to the page, which shows it
            status["error"] = str(exc)
            temporary.unlink(missing_ok=True)

    def thumbnail(self, video: str, frame: int, width: int = 160) -> bytes:
        import io

        from PIL import Image

        from ethoprism.video import VideoReader

        entry = self.entry(video)
        if not 0 <= frame < entry.n_frames:
            raise BadEdit(f"frame {frame} is outside '{video}' (0-{entry.n_frames - 1})")
        image = Image.fromarray(VideoReader(entry.video_path).read_frames([frame])[0])
        image.thumbnail((width, width))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
        return buffer.getvalue()

    # -- labels -----------------------------------------------------------------------------
    def _load_labels(self) -> None:
        """Labels from ``labels_path``. Our bouts CSV is edited in place. Any other format
        (BORIS, DeepEthogram, SimBA...) is imported once into ``STORE/_app/labels-from-<name>``,
        which the app edits from then on: a later launch with the same file loads those edits,
        never the original again, and the user's file is never written."""
        from ethoprism.io.labels import detect_format

        path = self.labels_path
        if not path.is_file():
            self.notes.append(f"labels: new file {path} (created at the first edit)")
            return
        if detect_format(path) == "bouts":
            self._load_bouts(path)
            self.notes.append(f"labels: {path} (edited in place; earlier versions in {_history(path)})")
            return
        working = self.folder / f"labels-from-{path.stem}-{_short_hash(str(path.resolve()))}.csv"
        source = working.with_suffix(".source.json")
        digest = file_sha256(path)
        if working.is_file():
            self._load_bouts(working)
            self.imported_from, self.labels_path = path, working
            self.notes.append(
                f"labels: {working} (your edits of {path}, imported at an earlier launch; {path} is never "
                "written)"
            )
            recorded = json.loads(source.read_text()) if source.is_file() else {}
            if recorded.get("sha256") not in (None, digest):
                self.notes.append(
                    f"warning: {path} has changed since it was imported; the app keeps your edits in "
                    f"{working}. To import the new version instead, move {working} away"
                )
            return
        self._import(path)
        self.imported_from, self.labels_path = path, working
        self._save()  # the import is the first version of the working file
        _write_atomically(source, json.dumps({"source": str(path.resolve()), "sha256": digest}).encode())
        self.notes.append(f"labels: imported from {path}; edits are saved to {working}")

    def _video_info(self) -> dict:
        return {
            n: {"n_frames": e.n_frames, "fps": e.fps, "timestamps": None} for n, e in self.entries.items()
        }

    def _read(self, path: Path, fmt: str = "auto") -> list:
        from ethoprism.io.labels import read_labels

        try:
            labels = read_labels(
                path,
                self._video_info(),
                fmt,
                exclusive=self.exclusive,
                subject=self.subject,
                animals=self.per_animal,
            )
        except EthoprismError as exc:
            if "but classes are exclusive" not in exc.problem:
                raise
            raise EthoprismError(
                f"{exc.problem}: start the app with --multi-label to edit overlapping behaviours "
                "(or without --exclusive, to take the mode from the file)",
                exc.path,
            ) from None
        if labels and self.exclusive is None:
            self.exclusive = labels[0].exclusive
        return labels

    def _load_bouts(self, path: Path) -> None:
        from ethoprism.io.tables import read_table

        try:  # every bout deleted: our own file holds the header alone
            table = pd.read_csv(path) if path.stat().st_size else None
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError):
            table = None
        if table is not None and len(table) == 0 and set(CORE_COLUMNS) <= set(table.columns):
            labels = []
        else:
            labels = self._read(path, "bouts")  # validates: bouts inside their videos, names, animals
            table = read_table(path)
        core = self._core_columns()
        self.extra_columns = [str(c) for c in table.columns if c not in core]
        self.bouts = [
            Bout(
                Path(str(row["video"])).name,
                str(row["behavior"]),
                int(row["start_frame"]),
                int(row["end_frame"]),
                {c: _plain(row[c]) for c in self.extra_columns},
                str(row[ANIMAL_COLUMN]).strip() if self.per_animal else None,
            )
            for row in table.to_dict("records")
        ]
        self.behaviors = self._behaviors(path, {b.behavior for b in self.bouts}, labels)

    def _import(self, path: Path) -> None:
        from ethoprism.labels.model import bouts_from_mask

        labels = self._read(path)
        self.bouts = [
            Bout(label.video, behavior, start, end, animal=label.subject if self.per_animal else None)
            for label in labels
            for k, behavior in enumerate(label.behaviors)
            for start, end in bouts_from_mask(label.targets[:, k] == 1)
        ]
        self.behaviors = sorted(
            {b.behavior for b in self.bouts} | {b for label in labels for b in label.behaviors}
        )

    @staticmethod
    def _behaviors(path: Path, used: set, labels: list) -> list[str]:
        behaviors = sorted(used | {b for label in labels for b in label.behaviors})
        meta = path.with_suffix(".behaviors.json")
        if meta.is_file():
            # the CSV is the commit point: a save killed after the list was written leaves the old
            # bouts with the new list, and the union keeps every name a bout uses
            listed = [b for b in json.loads(meta.read_text()) if isinstance(b, str)]
            behaviors = listed + [b for b in behaviors if b not in listed]
        return behaviors

    def labels(self) -> dict:
        return {
            "behaviors": self.behaviors,
            "bouts": [b.as_dict() for b in self.bouts],
            "exclusive": self.exclusive,
            "version": self.version,
            "file": str(self.labels_path),
            "imported_from": None if self.imported_from is None else str(self.imported_from),
        }

    def _core_columns(self) -> list[str]:
        return ["video", ANIMAL_COLUMN, *CORE_COLUMNS[1:]] if self.per_animal else CORE_COLUMNS

    def bouts_table(self, bouts: list[Bout] | None = None) -> pd.DataFrame:
        bouts = self.bouts if bouts is None else bouts
        extra = list(self.extra_columns)
        for bout in bouts:
            extra.extend(k for k in bout.extra if k not in extra)
        return pd.DataFrame([b.as_dict() for b in bouts], columns=self._core_columns() + extra)

    def set_labels(self, behaviors: list, bouts: list, base_version=None) -> dict:
        """Replace the labels after checking every bout; on any problem nothing is saved. With
        ``base_version`` (the page always sends it) an edit made on older labels is refused (409):
        the page queues its edits, so this only happens when two pages edit one file."""
        if base_version is not None and (not isinstance(base_version, int) or isinstance(base_version, bool)):
            raise BadEdit("base_version must be a whole number")
        if not isinstance(behaviors, list) or not all(isinstance(b, str) and b.strip() for b in behaviors):
            raise BadEdit("behaviors must be a list of non-empty names")
        if len(set(behaviors)) != len(behaviors):
            raise BadEdit("behaviour names must be unique")
        if not isinstance(bouts, list):
            raise BadEdit("bouts must be a list")
        checked = []
        for number, bout in enumerate(bouts):
            if not isinstance(bout, dict):
                raise BadEdit(f"bout {number} is not an object")
            try:
                video, behavior = str(bout["video"]), str(bout["behavior"])
                start, end = bout["start_frame"], bout["end_frame"]
            except KeyError as exc:
                raise BadEdit(f"bout {number} lacks {exc.args[0]}") from None
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
                raise BadEdit(f"bout {number}: frames must be whole numbers")
            extra = {k: v for k, v in bout.items() if k not in self._core_columns()}
            for key, value in extra.items():
                if not (0 < len(key) <= 100) or not (
                    value is None or isinstance(value, (str, int, float, bool))
                ):
                    raise BadEdit(f"bout {number}: column '{key[:100]}' must hold text or a number")
            entry = self.entry(video)
            animal = None
            if self.per_animal:
                animal = bout.get(ANIMAL_COLUMN)
                if animal not in entry.animals:
                    raise BadEdit(
                        f"bout {number}: say whose behaviour it is: 'animal' must be one of "
                        f"{', '.join(entry.animals)} in '{video}', not {animal!r}"
                    )
            if behavior not in behaviors:
                raise BadEdit(f"bout {number}: unknown behaviour '{behavior}' (add it first)")
            if not 0 <= start <= end < entry.n_frames:
                raise BadEdit(
                    f"bout {number}: frames {start}-{end} are outside '{video}' (0-{entry.n_frames - 1})"
                )
            checked.append(Bout(video, behavior, start, end, extra, animal))
        if self.exclusive:  # one behaviour at a time per animal: two animals may overlap
            by_video: dict[tuple, list[Bout]] = {}
            for bout in checked:
                by_video.setdefault((bout.video, bout.animal), []).append(bout)
            for (video, animal), items in by_video.items():
                items.sort(key=lambda b: b.start_frame)
                whose = f" for {animal}" if animal is not None else ""
                for a, b in zip(items, items[1:]):
                    if b.start_frame <= a.end_frame:
                        raise BadEdit(
                            f"bouts overlap in '{video}'{whose} "
                            f"({a.behavior} {a.start_frame}-{a.end_frame} and "
                            f"{b.behavior} {b.start_frame}-{b.end_frame}) but behaviours are exclusive "
                            "(start the app with --multi-label to allow it)",
                            409,
                        )
        with self.lock:
            if base_version is not None and base_version != self.version:
                raise BadEdit(
                    f"the labels changed since this edit was made (version {self.version}, the edit was "
                    f"based on {base_version}): reload the page",
                    409,
                )
            try:  # disk first: memory only ever holds what is saved
                self._save(list(behaviors), checked)
            except OSError as exc:
                raise BadEdit(
                    f"labels not saved: {exc.filename or self.labels_path}: {os_reason(exc)}", 503
                ) from None
            self.behaviors, self.bouts = list(behaviors), checked
            self.version += 1
            return self.labels()

    def _save(self, behaviors: list[str] | None = None, bouts: list[Bout] | None = None) -> None:
        """Behaviour list, then the bouts CSV through a temporary and a rename (the commit point).
        The version it replaces is first copied into the numbered history beside it; the oldest
        history files go only after the new version is committed."""
        behaviors = self.behaviors if behaviors is None else behaviors
        table = self.bouts_table(bouts)
        path = self.labels_path
        path.parent.mkdir(parents=True, exist_ok=True)
        history = _history(path)
        if path.is_file():
            history.mkdir(exist_ok=True)
            numbers = _history_numbers(history)
            _write_atomically(
                history / f"{path.stem}.{(numbers[-1] if numbers else 0) + 1:06d}{path.suffix}",
                path.read_bytes(),
            )
        _fault("previous kept")
        _write_atomically(path.with_suffix(".behaviors.json"), json.dumps(behaviors).encode())
        _fault("behaviours written")
        temporary = path.with_name(path.name + f".tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            table.to_csv(temporary, index=False)
            _fault("labels written")
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        if history.is_dir():
            numbers = _history_numbers(history)
            for number in numbers[:-HISTORY_KEPT]:
                for old in history.glob(f"*.{number:06d}{path.suffix}"):
                    old.unlink(missing_ok=True)

    def label_arrays(self) -> list:
        """The labels as :class:`~ethoprism.labels.model.VideoLabels` (labelled videos only; a
        labelled video's frames outside its bouts are background)."""
        from ethoprism.labels.model import VideoLabels

        result = []
        for video, animal in sorted({(b.video, b.animal or "") for b in self.bouts}):
            targets = np.zeros((self.entries[video].n_frames, len(self.behaviors)), np.int8)
            for bout in self.bouts:
                if bout.video == video and (bout.animal or "") == animal:
                    targets[bout.start_frame : bout.end_frame + 1, self.behaviors.index(bout.behavior)] = 1
            result.append(
                VideoLabels(
                    video,
                    list(self.behaviors),
                    targets,
                    self.entries[video].fps,
                    self.exclusive,
                    subject=animal or None,
                )
            )
        return result

    # -- heads --------------------------------------------------------------------------------
    def train(self, kind: str, wait_for_metrics: bool = False) -> dict:
        """Train ``kind`` on the current labels and predict every video. With two or more labelled
        videos, leave-one-video-out metrics follow in a background thread (one fit per video: they
        must not hold back the predictions); ``metrics`` says ``pending`` until then."""
        from ethoprism.dataset import build_animal_dataset, build_dataset
        from ethoprism.workflows.classify import train

        if not self.training.acquire(blocking=False):
            raise BadEdit("a head is being trained already; wait for it", status=409)
        try:
            labels = self.label_arrays()
            if not labels:
                raise BadEdit("label some bouts first")
            present = {b.behavior for b in self.bouts}
            behaviors = [b for b in self.behaviors if b in present]
            labels = [_only(label, behaviors) for label in labels]
            build = build_animal_dataset if self.per_animal else build_dataset
            data = build(list(self.entries.values()), labels, behaviors)
            path = train(data, kind, self.folder / "heads" / kind)
            self.head_path = path
            self._generation += 1
            generation = self._generation
            videos = len({label.video for label in labels})  # folds are by video, never by animal
            self.metrics = {"pending": True, "videos": videos} if videos >= 2 else None
            self._predict_all()
        finally:
            self.training.release()
        if self.metrics is not None:
            job = threading.Thread(target=self._held_out_metrics, args=(kind, data, generation), daemon=True)
            job.start()
            if wait_for_metrics:
                job.join()
        return {"head": str(path), "metrics": self.metrics, "behaviors": behaviors}

    def _held_out_metrics(self, kind: str, data, generation: int) -> None:
        from ethoprism.evaluation.classification import cross_validate
        from ethoprism.workflows.classify import head_for

        videos = len(np.unique(data.video_groups[data.labelled]))
        try:
            result = cross_validate(head_for(kind, data), data.for_head(kind))["metrics"]
            metrics = {"map": result["map"], "chance_map": result["chance_map"], "videos": videos}
        except Exception as exc:  # shown on the page; the trained head and predictions stand
            metrics = {"error": str(exc), "videos": videos}
        if generation == self._generation:
            self.metrics = metrics

    def _predict_all(self) -> None:
        from ethoprism.evaluation.classification import predict_dataset
        from ethoprism.workflows.classify import head_dataset

        model, meta, data, _ = head_dataset(self.store.root, self.head_path)
        proba, pred = predict_dataset(model, data)
        self.model, self.model_data, self.model_proba = model, data, proba
        self.predictions = {}
        for index, video in enumerate(data.videos):  # per animal: a group per (video, animal)
            rows = data.groups == index
            found = self.predictions.setdefault(video, {"behaviors": data.behaviors, "animals": {}})
            animal = data.animals[index] if data.per_animal else None
            if animal is None:
                found.update(proba=proba[rows], pred=pred[rows])
            else:
                found["animals"][animal] = {
                    "frames": data.frames[rows],
                    "proba": proba[rows],
                    "pred": pred[rows],
                }

    def prediction(self, video: str) -> dict:
        from ethoprism.labels.model import bouts_from_mask

        self.entry(video)
        if video not in self.predictions:
            return {"behaviors": [], "proba": [], "bouts": []}
        found = self.predictions[video]
        if not found["animals"]:
            bouts = [
                {"behavior": b, "start_frame": s, "end_frame": e}
                for k, b in enumerate(found["behaviors"])
                for s, e in bouts_from_mask(found["pred"][:, k] > 0)
            ]
            return {
                "behaviors": found["behaviors"],
                "proba": np.round(found["proba"], 3).tolist(),
                "bouts": bouts,
                "metrics": self.metrics,
            }
        # per animal: each animal's probabilities on every frame of the video (null where it is
        # absent) and its bouts, which never span a frame it is absent on
        n_frames = self.entry(video).n_frames
        animals, bouts = {}, []
        for animal, mine in found["animals"].items():
            dense = [None] * n_frames
            for f, row in zip(mine["frames"].tolist(), np.round(mine["proba"], 3).tolist()):
                dense[f] = row
            animals[animal] = dense
            on = np.zeros((n_frames, len(found["behaviors"])), bool)
            on[mine["frames"]] = mine["pred"] > 0
            bouts += [
                {"animal": animal, "behavior": b, "start_frame": s, "end_frame": e}
                for k, b in enumerate(found["behaviors"])
                for s, e in bouts_from_mask(on[:, k])
            ]
        return {
            "behaviors": found["behaviors"],
            "animals": animals,
            "proba": [],
            "bouts": bouts,
            "metrics": self.metrics,
        }

    def suggest(self, n: int = 10, segment_s: float = 1.0) -> list[dict]:
        from ethoprism.active_learning import suggest_segments

        if self.head_path is None:
            raise BadEdit("train a head first: suggestions come from its uncertainty", 409)
        data = self.model_data
        labelled = np.zeros(len(data.X), bool)
        owners = zip(data.videos, data.animals if data.per_animal else [None] * len(data.videos))
        group_of = {owner: index for index, owner in enumerate(owners)}
        rows_of: dict[int, np.ndarray] = {}  # each group's rows, found once, not once per bout
        for bout in self.bouts:
            index = group_of.get((bout.video, bout.animal))
            if index is None:
                continue
            if index not in rows_of:
                rows_of[index] = np.flatnonzero(data.groups == index)
            rows = rows_of[index]
            inside = (data.frames[rows] >= bout.start_frame) & (data.frames[rows] <= bout.end_frame)
            labelled[rows[inside]] = True
        segment = max(1, round(segment_s * float(np.median(data.fps))))
        picks = suggest_segments(data.X, self.model_proba, labelled, data.groups, data.exclusive, n, segment)
        return [
            {
                "rank": int(p.rank),
                "video": data.videos[int(p.video_index)],
                **({"animal": data.animals[int(p.video_index)]} if data.per_animal else {}),
                "start_frame": int(data.frames[p.row_start]),
                "end_frame": int(data.frames[p.row_end - 1]),
                "uncertainty": float(p.uncertainty),
            }
            for p in picks.itertuples()
        ]

    def similar(self, video: str, start: int, end: int, k: int = 10) -> list[dict]:
        from ethoprism.retrieval import update_index
        from ethoprism.retrieval.query import Segment, example_vector, search_segments

        entry = self.entry(video)
        if not 0 <= start <= end < entry.n_frames:
            raise BadEdit(f"frames {start}-{end} are outside '{video}' (0-{entry.n_frames - 1})")
        index, _ = update_index(self.store.root)
        segment = Segment(index.video_index(video), start, end)
        hits = search_segments(index, example_vector(index, [segment]), k, [segment])
        return [
            {
                "video": r.video,
                "start_frame": int(r.start_frame),
                "end_frame": int(r.end_frame),
                "score": float(r.score),
            }
            for r in hits.itertuples()
        ]


def _history(path: Path) -> Path:
    return path.with_name(path.stem + ".history")


def _history_numbers(history: Path) -> list[int]:
    numbers = []
    for item in history.iterdir():
        number = item.stem.rpartition(".")[2]
        if number.isdigit() and ".tmp-" not in item.name:
            numbers.append(int(number))
    return sorted(numbers)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + f".tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _fault(step: str) -> None:
    if LABELS_FAULT_HOOK is not None:
        LABELS_FAULT_HOOK(step)


def _only(label, behaviors):
    from ethoprism.labels.model import VideoLabels

    columns = [label.behaviors.index(b) for b in behaviors]
    return VideoLabels(
        label.video,
        list(behaviors),
        label.targets[:, columns],
        label.fps,
        label.exclusive,
        subject=label.subject,
    )
