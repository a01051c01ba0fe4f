"""A FAISS nearest-neighbour index over the per-frame embeddings of a store.

Vectors are L2-normalised, so inner product is cosine similarity. ``normalize="video"``
subtracts each video's mean embedding first, which removes what is constant within a recording
(lighting, camera, arena) and is ethoprism's default guard against the lighting sensitivity the
paper reports. The index lives in ``STORE/_index/<backbone>__<spec>__<weights>/``
(``index-<v>.faiss``, ``videos-<v>.json`` and ``current.json`` naming the committed version) and
is incremental: videos already indexed (by content hash) are skipped, new ones are appended.
Index type: exact (``flat``) below ``EXACT_LIMIT`` vectors, else IVF with 8-bit scalar
quantisation and float16 centroids (``ivf``), or ``hnsw``; chosen when the index is created,
overridable. Two faster-looking alternatives were measured at 24 h and lost (docs/benchmarks.md):
4-bit PQ fast-scan with SQ8 re-ranking (recall@10 at most 0.47) and an HNSW coarse quantiser
(inner product is not a metric an HNSW graph navigates well: recall 0.79 at nprobe 64, build
755 s).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.store import EmbeddingStore, StoreEntry

EXACT_LIMIT = 200_000
CURRENT = "current.json"
INDEX_FAULT_HOOK = None  # tests: called between the steps of a commit
INDEX_TYPES = ("auto", "flat", "ivf", "hnsw")


def normalise_rows(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    faiss.normalize_L2(x)
    return x


def prepare(embeddings: np.ndarray, normalize: str) -> np.ndarray:
    """The vectors as indexed: optionally centred per video, then unit length."""
    x = np.asarray(embeddings, np.float32)
    if normalize == "video":
        x = x - x.mean(axis=0, keepdims=True)
    elif normalize != "none":
        raise ValueError(f"normalize must be 'video' or 'none', not {normalize!r}")
    return normalise_rows(x)


def build_faiss(kind: str, dim: int, n_expected: int, training: np.ndarray | None):
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
        return index
    nlist = int(2 ** np.clip(np.round(np.log2(4 * np.sqrt(max(n_expected, 1)))), 4, 16))
    if training is None or len(training) < nlist:
        raise EthoprismError(f"an IVF index needs at least {nlist} vectors to train; use --index-type flat")
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.train(training)
    _half_precision_quantizer(index)
    index.nprobe = min(IVF_NPROBE, nlist)
    return index


def _half_precision_quantizer(index) -> None:
    """The trained centroids kept in float16 for search: a single query reads every centroid
    (8,192 x 768 floats at 24 h, 25 MB), which bounds its latency; half of that gives the same
    recall and 0.35 ms less per query (docs/benchmarks.md)."""
    centroids = index.quantizer.reconstruct_n(0, index.nlist)
    half = faiss.IndexScalarQuantizer(index.d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    half.train(centroids)
    half.add(centroids)
    half.this.disown()  # the IVF index owns and frees it
    index.quantizer = half
    index.own_fields = True
    index.referenced_objects = []  # the float32 centroids may go


# inverted lists probed per query: at 24 h (2.6 M vectors, 8,192 lists) 40 answers a single query in
# 1.9 ms at recall@10 0.953; 64 reaches 0.968 in 2.6 ms (docs/benchmarks.md)
IVF_NPROBE = 40


def add_vectors(index, vectors: np.ndarray, block: int = 65536) -> None:
    """``index.add``; an IVF index with float16 centroids gets each vector's inverted list from a
    BLAS search over the centroids in float32 (its own quantiser, made for one query at a time, is
    6x slower at assigning many vectors)."""
    half = isinstance(index, faiss.IndexIVF) and isinstance(
        faiss.downcast_index(index.quantizer), faiss.IndexScalarQuantizer
    )
    if not half:
        index.add(vectors)
        return
    centroids = faiss.IndexFlatIP(index.d)
    centroids.add(index.quantizer.reconstruct_n(0, index.nlist))
    for start in range(0, len(vectors), block):
        chunk = np.ascontiguousarray(vectors[start : start + block], np.float32)
        lists = np.ascontiguousarray(centroids.search(chunk, 1)[1].ravel(), np.int64)
        # both arrays are named: a pointer to a temporary would be freed before FAISS reads it
        index.add_core(len(chunk), faiss.swig_ptr(chunk), None, faiss.swig_ptr(lists))


def search_faiss(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``index.search``, with an IVF index split over the threads the way the queries allow:
    FAISS parallelises over queries by default, so a single query ran on one core; with fewer
    queries than threads each query's inverted lists are shared out instead (a single query at
    24 h: 2.6 -> 1.5 ms on 2 cores, docs/benchmarks.md)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.parallel_mode = 1 if len(queries) < faiss.omp_get_max_threads() else 0
    return index.search(queries, k)


@dataclass
class IndexedVideo:
    name: str
    sha256: str
    start: int  # first vector id
    n_frames: int
    fps: float
    path: str
    timestamps_path: str  # store entry file (timestamps, embeddings), relative to the store


class FrameIndex:
    """Map between FAISS ids and (video, frame); search returns frame hits."""

    def __init__(self, folder: Path, index, videos: list[IndexedVideo], meta: dict):
        self.folder, self.index, self.videos, self.meta = folder, index, videos, meta
        self._starts = np.array([v.start for v in videos], np.int64)

    @property
    def normalize(self) -> str:
        return self.meta["normalize"]

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FAISS ids -> (video index, frame)."""
        video = np.searchsorted(self._starts, ids, side="right") - 1
        return video, ids - self._starts[video]

    def video_index(self, name: str) -> int:
        for i, video in enumerate(self.videos):
            if video.name == name or Path(video.path).name == name or Path(video.name).stem == name:
                return i
        raise EthoprismError(f"video '{name}' is not in the index (indexed: {[v.name for v in self.videos]})")

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = normalise_rows(np.atleast_2d(queries))
        return search_faiss(self.index, queries, int(min(k, self.ntotal)))

    def entry_file(self, video: int) -> Path:
        """The store entry of indexed video ``video`` (paths are kept relative to the store, so a
        moved store or another working directory still searches)."""
        return self.folder.parent.parent / self.videos[video].timestamps_path

    def save(self) -> None:
        """Commit atomically: the vectors and the video map are written under a new version
        number, then ``current.json`` — naming that version, with its vector count — replaces the
        old one in one rename. A kill at any point leaves the previous version in force."""
        tag = _temporary_tag()
        try:
            self._write_version(tag)
        except (OSError, RuntimeError) as exc:  # faiss reports file errors as RuntimeError
            for temporary in self.folder.glob(f"*.tmp-{tag}"):
                temporary.unlink(missing_ok=True)
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).rsplit(": ", 1)[-1]
            )
            raise EthoprismError(f"cannot write the index ({reason})", self.folder) from None

    def _write_version(self, pid: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        version = int(self.meta.get("version", 0)) + 1
        faiss.write_index(self.index, str(self.folder / f"index-{version}.faiss.tmp-{pid}"))
        os.replace(self.folder / f"index-{version}.faiss.tmp-{pid}", self.folder / f"index-{version}.faiss")
        meta = {**self.meta, "version": version, "videos": [v.__dict__ for v in self.videos]}
        (self.folder / f"videos-{version}.json.tmp-{pid}").write_text(json.dumps(meta, indent=2))
        os.replace(self.folder / f"videos-{version}.json.tmp-{pid}", self.folder / f"videos-{version}.json")
        if INDEX_FAULT_HOOK is not None:
            INDEX_FAULT_HOOK("version-written")
        current = {"version": version, "ntotal": self.ntotal, "videos": len(self.videos)}
        (self.folder / f"current.json.tmp-{pid}").write_text(json.dumps(current))
        os.replace(self.folder / f"current.json.tmp-{pid}", self.folder / CURRENT)
        self.meta["version"] = version
        for old in [*self.folder.glob("index*.faiss"), *self.folder.glob("videos*.json")]:
            if old.name not in (f"index-{version}.faiss", f"videos-{version}.json"):
                old.unlink(missing_ok=True)


def _temporary_tag() -> str:
    """Unique per process *and* thread: two searches of one app updating the index at once
    must not write into one temporary."""
    return f"{os.getpid()}-{threading.get_ident()}"


@contextlib.contextmanager
def _writing(folder: Path):
    """One writer of an index folder at a time (processes and threads alike: a lock on an open
    file description), so versions are never interleaved."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".write.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def index_folder(store: EmbeddingStore, entry: StoreEntry) -> Path:
    provenance = entry.provenance
    return (
        store.root
        / "_index"
        / f"{entry.backbone}__{provenance.clip_spec.key}__{provenance.embedding_variant}"
    )


def _index_exists(folder: Path) -> bool:
    return (folder / CURRENT).exists() or (folder / "index.faiss").exists()


def open_index(store_dir, backbone: str | None = None) -> FrameIndex:
    store = EmbeddingStore(store_dir)
    entries = store.select(backbone)
    folder = index_folder(store, entries[0])
    if not _index_exists(folder):
        raise EthoprismError("no index for this store yet: run `ethoprism index STORE`", store.root)
    rebuild = "rebuild it with `ethoprism index STORE --rebuild`"
    try:
        if (folder / CURRENT).exists():
            current = json.loads((folder / CURRENT).read_text())
            names = f"index-{current['version']}.faiss", f"videos-{current['version']}.json"
        else:  # an index written before versioned commits
            current, names = None, ("index.faiss", "videos.json")
        meta = json.loads((folder / names[1]).read_text())
        vectors = faiss.read_index(str(folder / names[0]))
        videos = [IndexedVideo(**v) for v in meta.pop("videos")]
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise EthoprismError(
            f"index files are unreadable ({exc.__class__.__name__}): {rebuild}", folder
        ) from exc
    if current is not None and (current["ntotal"] != vectors.ntotal or current["videos"] != len(videos)):
        raise EthoprismError(f"index files disagree with their manifest: {rebuild}", folder)
    if videos and videos[-1].start + videos[-1].n_frames != vectors.ntotal:
        raise EthoprismError(
            f"index's video map does not cover its {vectors.ntotal} vectors: {rebuild}", folder
        )
    expected = 0
    for video in videos:  # each video's vectors follow the previous one's, none shifted
        if not isinstance(video.start, int) or not isinstance(video.n_frames, int) or video.start != expected:
            raise EthoprismError(
                f"index's video map places '{video.name}' at vector {video.start}, not {expected}: {rebuild}",
                folder,
            )
        expected += video.n_frames
    return FrameIndex(folder, vectors, videos, meta)


TRAINING_SAMPLE = 200_000


def _training_sample(entries, normalize: str, total: int) -> np.ndarray:
    """Up to ``TRAINING_SAMPLE`` vectors drawn evenly from every entry, read one entry at a time,
    so IVF training never needs the whole store in memory."""
    rng = np.random.default_rng(0)
    parts = []
    for entry in entries:
        x = prepare(entry.embeddings(), normalize)
        take = min(len(x), max(1, round(TRAINING_SAMPLE * len(x) / total)))
        parts.append(x[np.sort(rng.choice(len(x), take, replace=False))])
    return np.ascontiguousarray(np.concatenate(parts))


def update_index(
    store_dir,
    backbone: str | None = None,
    index_type: str = "auto",
    normalize: str = "video",
    rebuild: bool = False,
) -> tuple[FrameIndex, int]:
    """Create or extend the index, streaming the store entry by entry (only an IVF training sample
    is held at once); returns (index, number of videos added)."""
    if index_type not in INDEX_TYPES:
        raise EthoprismError(f"unknown index type '{index_type}'; choose one of {INDEX_TYPES}")
    store = EmbeddingStore(store_dir)
    entries = store.select(backbone)
    folder = index_folder(store, entries[0])
    lock = _writing(folder)
    try:
        lock.__enter__()
    except OSError:  # a read-only store: up-to-date indexes still open; a write fails on its own
        lock = contextlib.nullcontext()
    try:
        return _update(store, store_dir, entries, folder, backbone, index_type, normalize, rebuild)
    finally:
        lock.__exit__(None, None, None)


def _update(store, store_dir, entries, folder, backbone, index_type, normalize, rebuild):
    existing = None
    if _index_exists(folder) and not rebuild:
        existing = open_index(store_dir, backbone)
        if existing.normalize != normalize:
            raise EthoprismError(
                f"index was built with normalize={existing.normalize}; pass --rebuild to change it", folder
            )
    known = {v.sha256 for v in existing.videos} if existing else set()
    new = [e for e in entries if e.video_sha256 not in known]
    if existing is not None and not new:
        return existing, 0
    if existing is None:
        total = sum(e.n_frames for e in new)
        kind = ("flat" if total < EXACT_LIMIT else "ivf") if index_type == "auto" else index_type
        training = _training_sample(new, normalize, total) if kind == "ivf" else None
        dim = int(prepare(new[0].embeddings()[:1], "none").shape[1])
        index = build_faiss(kind, dim, total, training)
        del training
        existing = FrameIndex(
            folder,
            index,
            [],
            {
                "kind": kind,
                "normalize": normalize,
                "backbone": entries[0].backbone,
                "clip_spec": entries[0].provenance.clip_spec.to_dict(),
                "dim": dim,
            },
        )
    for entry in new:  # one video's vectors in memory at a time
        x = prepare(entry.embeddings(), normalize)
        start = existing.ntotal
        add_vectors(existing.index, x)
        existing.videos.append(
            IndexedVideo(
                entry.video_name,
                entry.video_sha256,
                start,
                len(x),
                entry.fps,
                str(entry.video_path),
                str(entry.path.relative_to(store.root)),
            )
        )
    existing._starts = np.array([v.start for v in existing.videos], np.int64)
    existing.save()
    return existing, len(new)
