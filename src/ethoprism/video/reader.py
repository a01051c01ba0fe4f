"""Video decoding with PyAV.

Frame numbering rule (also for variable frame rate): frame ``i`` is the ``i``-th frame in
*presentation order*; its time is its presentation timestamp (``pts * time_base``) relative to
the first frame. We never compute a frame index as ``time * fps``: readers of time-stamped labels
map a time to the frame whose timestamp is nearest (:meth:`VideoReader.frame_at_time`), which is
exact for constant and variable frame rates alike. ``fps`` in the metadata is the container's
average rate and is informative only.

The timestamp table comes from demuxing packets (no decoding), which is fast even for hours of
video, and gives an exact frame count where container headers are missing or wrong.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from queue import Full, Queue

import av
import numpy as np

from ethoprism.errors import EthoprismError
from ethoprism.provenance import file_sha256  # noqa: F401  (re-exported)


def nearest_frames(times, timestamps: np.ndarray) -> np.ndarray:
    """The frame whose timestamp is nearest to each time (ties go to the earlier frame): the one
    rule by which every time in a label file or a query becomes a frame."""
    times = np.asarray(times, np.float64)
    timestamps = np.asarray(timestamps, np.float64)
    if len(timestamps) == 1:
        return np.zeros(times.shape, np.int64)
    right = np.clip(np.searchsorted(timestamps, times), 1, len(timestamps) - 1)
    left = right - 1
    return np.where(
        np.abs(times - timestamps[left]) <= np.abs(timestamps[right] - times), left, right
    ).astype(np.int64)


@dataclass(frozen=True)
class VideoMetadata:
    path: str
    n_frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    codec: str
    pix_fmt: str
    variable_frame_rate: bool

    def to_dict(self) -> dict:
        return asdict(self)


def prefetch(frames: Iterator[np.ndarray], depth: int = 64) -> Iterator[np.ndarray]:
    """Run ``frames`` (decoding) in a background thread, ``depth`` frames ahead, so the model does
    not wait for the decoder (FFmpeg releases the GIL while it decodes and converts). Errors
    reach the consumer at the frame where they happened."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        queue.put(frame, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    worker = threading.Thread(target=produce, daemon=True, name="ethoprism-decoder")
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _open_container(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise EthoprismError("file does not exist", path)
    if path.is_dir():
        raise EthoprismError("is a directory, not a video file", path)
    if path.stat().st_size == 0:
        raise EthoprismError("file is empty (0 bytes)", path)
    try:
        container = av.open(str(path))
    except PermissionError as exc:
        raise EthoprismError("cannot read file (permission denied)", path) from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise EthoprismError(f"not a readable video ({exc.__class__.__name__}: {exc})", path) from exc
    if not container.streams.video:
        container.close()
        raise EthoprismError("contains no video stream", path)
    return container


def _fit_square(frame: np.ndarray, mode: str) -> np.ndarray:
    """Crop (centre) or pad (black, centred) an HxWx3 frame to a square."""
    height, width = frame.shape[:2]
    if height == width:
        return frame
    if mode == "crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return frame[top : top + side, left : left + side]
    side = max(height, width)
    out = np.zeros((side, side, 3), dtype=frame.dtype)
    top, left = (side - height) // 2, (side - width) // 2
    out[top : top + height, left : left + width] = frame
    return out


SWSCALE_THREADS = 1


def decoder_threads() -> int:
    """The decoder's threads: the pools' size (``--threads``, else the cores this process may use,
    cgroup quota included: :mod:`ethoprism.threads`). FFmpeg's own default is one thread per CPU
    of the machine, which in a container limited to 2 of 64 CPUs starts 64 threads."""
    from ethoprism.threads import usable_cores

    configured = os.environ.get("OMP_NUM_THREADS", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else usable_cores()[0]


class VideoReader:
    """Metadata, sequential decoding and frame-accurate random access for one video file.

    ``size``/``square`` ask swscale (inside FFmpeg) to scale each frame while converting it to
    RGB, which costs far less than converting at full size and resizing afterwards.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._container = _open_container(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._stream.thread_count = decoder_threads()
        self._pts: np.ndarray | None = None
        self._sha256: str | None = None

    # -- metadata ---------------------------------------------------------------------------
    @property
    def frame_pts(self) -> np.ndarray:
        """Presentation timestamps (stream time base) of all frames, in presentation order."""
        if self._pts is None:
            pts = []
            try:
                with av.open(str(self.path)) as demux:
                    stream = demux.streams.video[0]
                    for packet in demux.demux(stream):
                        if packet.size and packet.pts is not None:
                            pts.append(packet.pts)
            except av.error.FFmpegError as exc:
                raise EthoprismError(f"video is damaged while demuxing ({exc})", self.path) from exc
            if not pts:
                raise EthoprismError("video stream holds no frames", self.path)
            self._pts = np.sort(np.asarray(pts, dtype=np.int64))
        return self._pts

    @property
    def timestamps(self) -> np.ndarray:
        """Seconds of each frame relative to the first frame."""
        pts = self.frame_pts
        return ((pts - pts[0]) * float(self._stream.time_base)).astype(np.float64)

    @property
    def metadata(self) -> VideoMetadata:
        stream = self._stream
        times = self.timestamps
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        fps = float(rate) if rate else (len(times) - 1) / max(times[-1], 1e-9)
        intervals = np.diff(times)
        # jitter of a quarter frame period or more between frame intervals means VFR
        variable = bool(len(intervals) > 1 and np.ptp(intervals) > 0.25 / max(fps, 1e-9))
        duration = float(times[-1] + (1.0 / fps if fps else 0.0))
        return VideoMetadata(
            path=str(self.path),
            n_frames=int(len(times)),
            fps=fps,
            duration_s=duration,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            codec=str(stream.codec_context.name),
            pix_fmt=str(stream.codec_context.pix_fmt),
            variable_frame_rate=variable,
        )

    @property
    def n_frames(self) -> int:
        return int(len(self.frame_pts))

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    def frame_at_time(self, seconds: float | np.ndarray) -> np.ndarray:
        """Index of the frame whose timestamp is nearest to ``seconds`` (works for VFR)."""
        return nearest_frames(seconds, self.timestamps)

    # -- decoding ---------------------------------------------------------------------------
    def _to_rgb(self, frame: av.VideoFrame, size: int | None, square: str) -> np.ndarray:
        # swscale in one thread: PyAV's default pool (one thread per CPU) competes with the
        # decoder's own threads; on 2 cores one thread converts full frames 1.6x faster
        if size is None:
            return frame.reformat(format="rgb24", threads=SWSCALE_THREADS).to_ndarray()
        width, height = frame.width, frame.height
        # scale so that the side that survives cropping/padding becomes `size`
        scale = size / (min(width, height) if square == "crop" else max(width, height))
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        rgb = frame.reformat(
            width=new_w, height=new_h, format="rgb24", interpolation="AREA", threads=SWSCALE_THREADS
        ).to_ndarray()
        rgb = _fit_square(rgb, square)
        if rgb.shape[0] != size or rgb.shape[1] != size:  # rounding left a pixel over or short
            rgb = _resize_exact(rgb, size)
        return rgb

    def iter_frames(
        self, size: int | None = None, square: str = "crop", start: int = 0, native: bool = False
    ) -> Iterator[np.ndarray]:
        """Decode every frame from ``start`` on, in order, as uint8 RGB ``[H, W, 3]`` (optionally made
        square at ``size``). A later start seeks to the keyframe before it and decodes forward,
        matching frames by presentation timestamp. ``native``: yield ``(frame at size, frame at
        the video's own resolution)`` pairs, one decode for both (animal crops keep the detail)."""
        if square not in ("crop", "pad"):
            raise ValueError(f"square must be 'crop' or 'pad', not {square!r}")
        first_pts = int(self.frame_pts[start]) if start else None
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.thread_count = decoder_threads()
            try:
                if first_pts is not None:
                    container.seek(first_pts, stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if first_pts is not None and (frame.pts is None or frame.pts < first_pts):
                        continue
                    resized = self._to_rgb(frame, size, square)
                    yield (resized, self._to_rgb(frame, None, square)) if native else resized
            except av.error.FFmpegError as exc:
                raise EthoprismError(f"video is damaged: decoding failed ({exc})", self.path) from exc

    def read_frames(self, indices, size: int | None = None, square: str = "crop") -> np.ndarray:
        """Frame-accurate random access: uint8 ``[len(indices), H, W, 3]`` in the order asked.

        Seeks to the keyframe before each wanted frame and decodes forward, matching frames by
        their presentation timestamp rather than by counting, so it is exact for VFR too.
        """
        indices = np.asarray(indices, dtype=np.int64)
        pts_table = self.frame_pts
        if indices.size and (indices.min() < 0 or indices.max() >= len(pts_table)):
            raise EthoprismError(
                f"frame index out of range: asked {indices.min()}..{indices.max()}, "
                f"video has {len(pts_table)} frames",
                self.path,
            )
        wanted = {int(pts_table[i]): None for i in np.unique(indices)}
        remaining = sorted(wanted)
        stream = self._stream
        while remaining:
            target = remaining[0]
            self._container.seek(target, stream=stream, backward=True, any_frame=False)
            decoded_past_target = 0
            for frame in self._container.decode(stream):
                if frame.pts is None or frame.pts < target:
                    continue
                if frame.pts in wanted and wanted[frame.pts] is None:
                    wanted[frame.pts] = self._to_rgb(frame, size, square)
                decoded_past_target += 1
                # far-away frames are cheaper to reach by a new seek than by decoding forward
                if frame.pts >= remaining[-1] or decoded_past_target > 256:
                    break
            if wanted[target] is None:
                raise EthoprismError(f"could not decode frame with pts {target}", self.path)
            remaining = [p for p in remaining if wanted[p] is None]
        return (
            np.stack([wanted[int(pts_table[i])] for i in indices])
            if indices.size
            else np.zeros((0, 0, 0, 3), np.uint8)
        )

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _resize_exact(rgb: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour fix-up for off-by-one sizes left by rounding (a pixel at most)."""
    rows = np.linspace(0, rgb.shape[0] - 1, size).round().astype(int)
    cols = np.linspace(0, rgb.shape[1] - 1, size).round().astype(int)
    return rgb[rows][:, cols]
