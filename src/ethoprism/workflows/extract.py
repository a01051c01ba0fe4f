"""Videos -> embedding store: the clip spec from a backbone's defaults and the user's options,
then every video in turn; one failing video does not stop the others."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ethoprism.backbones import DEFAULT_BACKBONE, Backbone
from ethoprism.clips import PROTOCOLS, ClipSpec
from ethoprism.errors import EthoprismError
from ethoprism.extract import extract_video
from ethoprism.store import EmbeddingStore, StoreEntry


@dataclass
class Extracted:
    video: Path
    entry: StoreEntry | None  # None when the video failed
    cached: bool = False
    error: str | None = None


def video_tracks(videos: list[Path], files, animal_mode: str = "pooled") -> dict:
    """Video file name -> its :class:`~ethoprism.tracks.VideoTracks` from ``files``, to be embedded
    the ``animal_mode`` way; every file must match one of ``videos`` (by the video it names, else
    its stem)."""
    from ethoprism.io.tracks import read_tracks
    from ethoprism.tracks import check_animal_mode

    check_animal_mode(animal_mode)
    from ethoprism.video import VideoReader

    info = {}
    for video in videos:
        name = Path(video).name
        if name in info:
            raise EthoprismError(f"two videos named '{name}' in one extraction with tracks", video)
        meta = VideoReader(video).metadata
        info[name] = {"n_frames": meta.n_frames, "width": meta.width, "height": meta.height}
    found = read_tracks(files, info)
    for tracks in found.values():
        tracks.mode = animal_mode
    return found


def backbone_for(store: EmbeddingStore) -> str:
    """The backbone an extraction uses when none is named: the one the store already holds, so a
    store begun with another backbone stays one usable set when the same command adds videos
    (a mixture is refused by every head), else the offline default."""
    try:
        held = {e.backbone for e in store.entries()} | {p.provenance.backbone for p in store.partials()}
    except EthoprismError:  # a damaged entry is reported where it is read, not here
        held = set()
    return held.pop() if len(held) == 1 else DEFAULT_BACKBONE


def clip_spec(
    backbone: Backbone,
    protocol: str = "tiled",
    frames: int | None = None,
    frame_step: int = 1,
    size: int | None = None,
    square: str = "crop",
    overlap: int | None = None,
) -> ClipSpec:
    """The backbone's default clip spec with the user's overrides."""
    if protocol not in PROTOCOLS:
        raise EthoprismError(f"--protocol must be one of {PROTOCOLS}, not '{protocol}'")
    default = backbone.default_clip_spec(protocol)
    if frames and overlap is None and default.overlap >= frames:
        raise EthoprismError(
            f"--frames {frames} is too few for {backbone.name}, whose clips overlap by {default.overlap} "
            f"frames (so that each frame's motion reference frames are in its clip): use --frames "
            f"{default.overlap + 1} or more, or set --overlap"
        )
    try:
        return ClipSpec(
            frames=frames or default.frames,
            frame_step=frame_step,
            size=size or default.size,
            square=square,
            protocol=protocol,
            overlap=default.overlap if overlap is None else overlap,
        )
    except ValueError as exc:
        raise EthoprismError(f"invalid clip options: {exc}") from exc


def extract_videos(
    videos: list[Path],
    backbone: Backbone,
    store: EmbeddingStore,
    spec: ClipSpec,
    batch_size: int = 4,
    token_step: int | None = None,
    progress: Callable[[Path, int, int], None] | None = None,
    token_grid: int | None = None,
    token_dim: int | None = None,
    tracks: list | None = None,
    animal_mode: str = "pooled",
) -> list[Extracted]:
    """Embed each video (finished entries are cache hits); ``progress(video, done, total)`` in frames.
    ``tracks``: tracks files (:mod:`ethoprism.io.tracks`), matched to the videos; a matched video
    also gets each animal's embedding per frame, made the ``animal_mode`` way
    (:data:`ethoprism.tracks.ANIMAL_MODES`)."""
    store.remove_debris()
    by_video = video_tracks(videos, tracks, animal_mode) if tracks else {}
    store.notes.extend(note for found in by_video.values() for note in found.notes)
    results = []
    for video in videos:

        def update(done, total, video=video):
            if progress:
                progress(video, done, total)

        try:
            entry, cached = extract_video(
                video,
                backbone,
                store,
                spec,
                batch_size=batch_size,
                token_step=token_step,
                progress=update,
                token_grid=token_grid,
                token_dim=token_dim,
                tracks=by_video.get(Path(video).name),
            )
        except EthoprismError as exc:
            results.append(Extracted(Path(video), None, error=str(exc)))
            continue
        results.append(Extracted(Path(video), entry, cached))
    return results


# -- Ray: many machines, one store ------------------------------------------------------------
RAY_MISSING = "--ray needs Ray: pip install -e \".[ray]\" (or pip install 'ray>=2.9')"


class _ChunkWorker:
    """One Ray actor: loads the backbone once, then embeds whole chunks of any video and commits
    them to the shared store (the store's chunk claims keep two workers off one chunk)."""

    def __init__(self, backbone: str, weights, revision, device, dtype, store_root: str, config=None):
        from ethoprism.backbones import load_backbone

        self.backbone = load_backbone(
            backbone, weights, revision=revision, config=config, device=device, dtype=dtype
        )
        self.store = EmbeddingStore(store_root)
        self.store.fault_hook = _worker_fault_hook()

    def describe(self) -> dict:
        return {
            "name": self.backbone.name,
            "weights": self.backbone.weights.to_dict(),
            "dtype": self.backbone.dtype_name,
            "embed_dim": self.backbone.embed_dim,
            # video-text models also store clip embeddings, which the entry's finish needs the plan for
            "joint": hasattr(self.backbone, "encode_with_clip_embedding"),
        }

    def default_spec(self, protocol: str):
        return self.backbone.default_clip_spec(protocol)

    def run(
        self, video: str, provenance: dict, chunks: list, batch_size: int, index: int, tracks=None
    ) -> int:
        """Embed chunk ``index`` of ``video`` unless it is committed or claimed; -> frames done.
        ``tracks``: the video's :class:`~ethoprism.tracks.VideoTracks` (read once by the driver)."""
        from ethoprism.clips import plan_clips
        from ethoprism.extract import _ChunkEmbedder
        from ethoprism.provenance import Provenance
        from ethoprism.video import VideoReader

        provenance = Provenance.from_dict(provenance)
        partial = self.store.partial(provenance, [tuple(c) for c in chunks], batch_size)
        with VideoReader(video) as reader:
            plan = plan_clips(provenance.video.n_frames, provenance.clip_spec)
            embedder = _ChunkEmbedder(
                reader, self.backbone, provenance.clip_spec, plan, partial, provenance.token_step, tracks
            )
            try:
                if index not in partial.committed() and partial.claim(index):
                    try:
                        embedder.run(index)
                    except BaseException:
                        partial.release(index)
                        raise
            finally:
                embedder.close()
            return embedder.frames_in([index])


def _worker_fault_hook():
    """Fault injection for tests, as ``EmbeddingStore.fault_hook`` in one process: a worker logs its
    write steps to ``ETHOPRISM_FAULT_LOG`` and kills itself (SIGKILL) at ``ETHOPRISM_FAULT_KILL_AT``."""
    import os
    import signal

    log, kill_at = os.environ.get("ETHOPRISM_FAULT_LOG"), os.environ.get("ETHOPRISM_FAULT_KILL_AT")
    if not log and not kill_at:
        return None

    def hook(step: str) -> None:
        if log:
            with open(log, "a") as file:
                file.write(f"{os.getpid()} {step}\n")
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def extract_videos_ray(
    videos: list[Path],
    store: EmbeddingStore,
    backbone: str = DEFAULT_BACKBONE,
    weights=None,
    revision=None,
    dtype: str = "auto",
    spec_options: dict | None = None,
    batch_size: int | str = 4,
    token_step: int | None = None,
    address: str = "auto",
    workers: int | None = None,
    gpus_per_worker: float = 0.0,
    chunk_frames: int | None = None,
    max_retries: int = 3,
    progress: Callable[[int, int], None] | None = None,
    config: dict | None = None,
    token_grid: int | None = None,
    token_dim: int | None = None,
    tracks: list | None = None,
    animal_mode: str = "pooled",
) -> list[Extracted]:
    """The same store as :func:`extract_videos`, computed by a pool of Ray actors (one model load
    each) over chunks of whole clips of every video; finished chunks are never redone when a
    worker fails and its task is retried. ``address``: ``auto`` (a running cluster), ``local``
    (start one on this machine) or a cluster address. ``progress(frames done, frames total)``.
    ``batch_size="auto"``: 16 clips for GPU workers, 4 for CPU workers (the chunks every worker
    shares are planned before any model is loaded). ``tracks``: as :func:`extract_videos`; read
    and checked here, before any worker starts, and handed to the workers through Ray's object
    store."""
    by_video = video_tracks(videos, tracks, animal_mode) if tracks else {}
    store.notes.extend(note for found in by_video.values() for note in found.notes)
    if batch_size == "auto":
        batch_size = 16 if gpus_per_worker > 0 else 4
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        raise EthoprismError(RAY_MISSING) from exc
    from ethoprism.clips import ClipSpec, plan_clips
    from ethoprism.extract import (
        build_provenance,
        check_token_options,
        chunk_clips,
        default_chunk_frames,
        reduced_from_whole_grids,
    )
    from ethoprism.provenance import WeightsInfo
    from ethoprism.video import VideoReader

    if not ray.is_initialized():
        check_ray_address(address)
        try:
            ray.init(
                address=None if address == "local" else address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EthoprismError(
                f"cannot reach a Ray cluster at '{address}' ({exc}); start one (`ray start --head`) "
                "or pass --ray local"
            ) from exc
    cpus = int(ray.cluster_resources().get("CPU", 1))
    n_workers = workers or max(
        1, cpus if not gpus_per_worker else int(ray.cluster_resources().get("GPU", 1) / gpus_per_worker)
    )
    device = "cuda" if gpus_per_worker else "cpu"
    actor = ray.remote(
        num_cpus=1, num_gpus=gpus_per_worker, max_restarts=max_retries, max_task_retries=max_retries
    )(_ChunkWorker)
    pool_actors = [
        actor.remote(backbone, weights, revision, device, dtype, str(store.root), config)
        for _ in range(n_workers)
    ]
    described = ray.get(pool_actors[0].describe.remote())
    check_token_options(token_grid, token_dim, described["embed_dim"])
    default = ray.get(pool_actors[0].default_spec.remote((spec_options or {}).get("protocol", "tiled")))
    options = {k: v for k, v in (spec_options or {}).items() if v is not None}
    spec = ClipSpec(**{**default.to_dict(), **options})

    class _Described:  # what build_provenance reads of a backbone
        name, dtype_name = described["name"], described["dtype"]
        weights = WeightsInfo.from_dict(described["weights"])

    store.remove_debris()
    results, jobs, total = [], [], 0
    for video in videos:
        try:
            with VideoReader(video) as reader:
                provenance = build_provenance(
                    _Described,
                    spec,
                    reader,
                    token_step,
                    token_grid,
                    token_dim,
                    by_video.get(Path(video).name),
                )
                timestamps = reader.timestamps
        except EthoprismError as exc:
            results.append(Extracted(Path(video), None, error=str(exc)))
            continue
        cached = store.find(provenance) or reduced_from_whole_grids(store, provenance)
        if cached is not None:
            results.append(Extracted(Path(video), cached, cached=True))
            continue
        plan = plan_clips(provenance.video.n_frames, spec)
        partial = store.partial(
            provenance,
            chunk_clips(plan, batch_size, chunk_frames or default_chunk_frames(token_step)),
            batch_size,
        )
        partial.drop_damaged()
        jobs.append((Path(video), provenance, partial, plan, timestamps))
        total += provenance.video.n_frames
    pool = ActorPool(pool_actors)
    # each video's tracks go to the object store once; every chunk task of it refers to them
    shared_tracks = {str(v): ray.put(by_video[v.name]) for v, *_ in jobs if v.name in by_video}
    done = sum(p.video.n_frames - _frames_left(part, plan) for _, p, part, plan, _ in jobs)
    if progress:
        progress(done, total)

    def run_tasks(tasks):
        nonlocal done
        run = lambda actor, task: actor.run.remote(*task, shared_tracks.get(task[0]))  # noqa: E731
        for frames in pool.map_unordered(run, tasks):
            done += frames
            if progress:
                progress(done, total)

    try:
        run_until_committed([(v, p, part) for v, p, part, _, _ in jobs], run_tasks)
    except ray.exceptions.RayError as exc:
        raise EthoprismError(
            f"a Ray worker failed ({exc.__class__.__name__}); finished chunks are kept, run again to resume"
        ) from exc
    for video, _, partial, plan, timestamps in jobs:
        results.append(Extracted(video, partial.finish(timestamps, plan if described["joint"] else None)))
    return results


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """``auto``, ``local``, or a cluster's ``[ray://]host:port`` that answers: Ray itself retries
    an unreachable address for minutes without a word."""
    import socket

    if address in ("auto", "local"):
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise EthoprismError(
            f"--ray must be auto, local or a cluster address HOST:PORT (e.g. 10.0.0.5:6379), not '{address}'"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise EthoprismError(
            f"no Ray cluster answers at '{address}' ({reason}); start one (`ray start --head`) "
            "or pass --ray local"
        ) from None


def run_until_committed(jobs, run_tasks, wait_s: float | None = None) -> None:
    """Run every uncommitted chunk of ``jobs`` ((video, provenance, partial) triples) through
    ``run_tasks`` until each is committed. A worker skips a chunk another owner's lease holds (a
    process on another host sharing the store): the driver checks every chunk before ``finish``,
    waits while such a lease stands and runs the chunk itself once it ends, never counting a
    skipped chunk as done."""
    from ethoprism.leases import HEARTBEAT_S

    wait_s = HEARTBEAT_S if wait_s is None else wait_s
    while True:
        missing = [
            (str(video), provenance.to_dict(), partial.chunks, partial.batch_size, index, partial)
            for video, provenance, partial in jobs
            for index in range(len(partial.chunks))
            if index not in partial.committed()
        ]
        if not missing:
            return
        runnable = [task[:5] for task in missing if not task[5].claim_alive(task[4])]
        if runnable:
            run_tasks(runnable)
        else:  # every missing chunk is leased by a live owner elsewhere: give it time
            time.sleep(wait_s)


def _frames_left(partial, plan) -> int:
    _, bounds = plan.frames_by_clip()
    committed = partial.committed()
    return int(sum(bounds[b] - bounds[a] for i, (a, b) in enumerate(partial.chunks) if i not in committed))
