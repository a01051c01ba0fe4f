"""The state behind ``ethoprism app``: a store's videos, the user's labels (autosaved atomically,
the previous version kept), heads trained from the page, their predictions, browser-playable
proxies. Everything the server serves is named by the store, never by a path from the client."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.store import EmbeddingStore, StoreEntry

APP_FOLDER = "_app"
LABELS_FAULT_HOOK = None  # the fault tests kill the process between the steps of a label save
BROWSER_CODECS = {("h264", "yuv420p"), ("h264", "yuvj420p"), ("vp9", "yuv420p"), ("av1", "yuv420p")}


class BadEdit(EthoprismError):
    """A label edit the project refuses (the server answers 4xx with the message; nothing saved)."""

    def __init__(self, problem: str, status: int = 400):
        super().__init__(problem)
        self.status = status


@dataclass
class Bout:
    video: str
    behavior: str
    start_frame: int
    end_frame: int


class Project:
    def __init__(self, store_dir, labels_path=None, head_path=None, exclusive: bool = True):
        self.store = EmbeddingStore(store_dir)
        self.entries: dict[str, StoreEntry] = {e.video_name: e for e in self.store.select()}
        self.folder = self.store.root / APP_FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.labels_path = Path(labels_path) if labels_path else self.folder / "labels.csv"
        self.exclusive = exclusive
        self.lock = threading.Lock()
        self.behaviors: list[str] = []
        self.bouts: list[Bout] = []
        self._load_labels()
        self.head_path = Path(head_path) if head_path else None
        self.predictions: dict[str, dict] = {}
        self.metrics: dict | None = None
        self.training = threading.Lock()
        self._generation = 0  # bumped by every training; held-out metrics of an older one are dropped
        self.proxies: dict[str, dict] = {}
        self.playing: dict[str, Path] = {}  # the file each video is served from, once known
        if self.head_path is not None:
            self._predict_all()

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
            }
            for name, e in sorted(self.entries.items())
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
        """Labels from ``labels_path``: our bouts CSV row by row (after the reader's checks), any
        other format (BORIS, DeepEthogram, ...) imported as bouts — and then saved to
        ``STORE/_app/labels.csv``, never over the user's file in another format."""
        if not self.labels_path.is_file():
            return
        from ethoprism.io.labels import detect_format, read_labels
        from ethoprism.io.tables import read_table
        from ethoprism.labels.model import bouts_from_mask

        info = {
            n: {"n_frames": e.n_frames, "fps": e.fps, "timestamps": None} for n, e in self.entries.items()
        }
        labels = read_labels(self.labels_path, info)  # validates whatever the format
        if detect_format(self.labels_path) == "bouts":
            table = read_table(self.labels_path)
            bouts = [
                Bout(Path(str(r.video)).name, str(r.behavior), int(r.start_frame), int(r.end_frame))
                for r in table.itertuples()
            ]
        else:
            bouts = [
                Bout(label.video, behavior, start, end)
                for label in labels
                for k, behavior in enumerate(label.behaviors)
                for start, end in bouts_from_mask(label.targets[:, k] == 1)
            ]
            self.imported_from, self.labels_path = self.labels_path, self.folder / "labels.csv"
        behaviors = sorted({b.behavior for b in bouts} | {b for label in labels for b in label.behaviors})
        meta = self.labels_path.with_suffix(".behaviors.json")
        if meta.is_file():
            # the CSV is the commit point: a save killed after the list was written leaves the old
            # bouts with the new list, and the union keeps every name a bout uses
            listed = [b for b in json.loads(meta.read_text()) if isinstance(b, str)]
            behaviors = listed + [b for b in behaviors if b not in listed]
        self.behaviors, self.bouts = behaviors, bouts

    def labels(self) -> dict:
        return {
            "behaviors": self.behaviors,
            "bouts": [b.__dict__ for b in self.bouts],
            "exclusive": self.exclusive,
        }

    def set_labels(self, behaviors: list, bouts: list) -> dict:
        """Replace the labels after checking every bout; on any problem nothing is saved."""
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
            entry = self.entry(video)
            if behavior not in behaviors:
                raise BadEdit(f"bout {number}: unknown behaviour '{behavior}' (add it first)")
            if not 0 <= start <= end < entry.n_frames:
                raise BadEdit(
                    f"bout {number}: frames {start}-{end} are outside '{video}' (0-{entry.n_frames - 1})"
                )
            checked.append(Bout(video, behavior, start, end))
        if self.exclusive:
            by_video: dict[str, list[Bout]] = {}
            for bout in checked:
                by_video.setdefault(bout.video, []).append(bout)
            for video, items in by_video.items():
                items.sort(key=lambda b: b.start_frame)
                for a, b in zip(items, items[1:]):
                    if b.start_frame <= a.end_frame:
                        raise BadEdit(
                            f"bouts overlap in '{video}' ({a.behavior} {a.start_frame}-{a.end_frame} and "
                            f"{b.behavior} {b.start_frame}-{b.end_frame}) but behaviours are exclusive",
                            409,
                        )
        with self.lock:
            self.behaviors, self.bouts = list(behaviors), checked
            self._save()
        return self.labels()

    def _save(self) -> None:
        """bouts CSV + behaviour list, each through a temporary and a rename; the previous labels
        stay as ``<name>.prev.csv``."""
        table = pd.DataFrame(
            [b.__dict__ for b in self.bouts], columns=["video", "behavior", "start_frame", "end_frame"]
        )
        self.labels_path.parent.mkdir(parents=True, exist_ok=True)
        if self.labels_path.is_file():
            previous = self.labels_path.with_name(self.labels_path.stem + ".prev.csv")
            temporary = previous.with_name(previous.name + f".tmp-{os.getpid()}")
            temporary.write_bytes(self.labels_path.read_bytes())
            os.replace(temporary, previous)
        _fault("previous kept")
        meta = self.labels_path.with_suffix(".behaviors.json")
        temporary = meta.with_name(meta.name + f".tmp-{os.getpid()}")
        temporary.write_text(json.dumps(self.behaviors))
        os.replace(temporary, meta)
        _fault("behaviours written")
        temporary = self.labels_path.with_name(self.labels_path.name + f".tmp-{os.getpid()}")
        table.to_csv(temporary, index=False)
        _fault("labels written")
        os.replace(temporary, self.labels_path)

    def label_arrays(self) -> list:
        """The labels as :class:`~ethoprism.labels.model.VideoLabels` (labelled videos only; a
        labelled video's frames outside its bouts are background)."""
        from ethoprism.labels.model import VideoLabels

        result = []
        for video in sorted({b.video for b in self.bouts}):
            targets = np.zeros((self.entries[video].n_frames, len(self.behaviors)), np.int8)
            for bout in self.bouts:
                if bout.video == video:
                    targets[bout.start_frame : bout.end_frame + 1, self.behaviors.index(bout.behavior)] = 1
            result.append(
                VideoLabels(video, list(self.behaviors), targets, self.entries[video].fps, self.exclusive)
            )
        return result

    # -- heads --------------------------------------------------------------------------------
    def train(self, kind: str, wait_for_metrics: bool = False) -> dict:
        """Train ``kind`` on the current labels and predict every video. With two or more labelled
        videos, leave-one-video-out metrics follow in a background thread (one fit per video: they
        must not hold back the predictions); ``metrics`` says ``pending`` until then."""
        from ethoprism.dataset import build_dataset
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
            data = build_dataset(list(self.entries.values()), labels, behaviors)
            path = train(data, kind, self.folder / "heads" / kind)
            self.head_path = path
            self._generation += 1
            generation = self._generation
            self.metrics = {"pending": True, "videos": len(labels)} if len(labels) >= 2 else None
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

        videos = len(np.unique(data.groups[data.labelled]))
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
        for index, video in enumerate(data.videos):
            rows = data.groups == index
            self.predictions[video] = {"behaviors": data.behaviors, "proba": proba[rows], "pred": pred[rows]}

    def prediction(self, video: str) -> dict:
        from ethoprism.labels.model import bouts_from_mask

        self.entry(video)
        if video not in self.predictions:
            return {"behaviors": [], "proba": [], "bouts": []}
        found = self.predictions[video]
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

    def suggest(self, n: int = 10, segment_s: float = 1.0) -> list[dict]:
        from ethoprism.active_learning import suggest_segments

        if self.head_path is None:
            raise BadEdit("train a head first: suggestions come from its uncertainty", 409)
        data = self.model_data
        labelled = np.zeros(len(data.X), bool)
        for bout in self.bouts:
            index = data.videos.index(bout.video)
            rows = np.flatnonzero(data.groups == index)
            labelled[rows[bout.start_frame : bout.end_frame + 1]] = True
        segment = max(1, round(segment_s * float(np.median(data.fps))))
        picks = suggest_segments(data.X, self.model_proba, labelled, data.groups, data.exclusive, n, segment)
        return [
            {
                "rank": int(p.rank),
                "video": data.videos[int(p.video_index)],
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


def _fault(step: str) -> None:
    if LABELS_FAULT_HOOK is not None:
        LABELS_FAULT_HOOK(step)


def _only(label, behaviors):
    from ethoprism.labels.model import VideoLabels

    columns = [label.behaviors.index(b) for b in behaviors]
    return VideoLabels(label.video, list(behaviors), label.targets[:, columns], label.fps, label.exclusive)
