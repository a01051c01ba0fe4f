"""Writing mp4 files with PyAV (H.264, yuv420p, so browsers play them)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class VideoWriter:
    """``with VideoWriter(path, fps) as w: w.write(rgb_uint8_frame)``.

    ``pts_seconds`` (optional, per frame) writes a variable-frame-rate file. Frame sizes are
    rounded down to even numbers when the pixel format needs it (yuv420p).
    """

    def __init__(
        self,
        path: str | Path,
        fps: float = 30.0,
        codec: str = "libx264",
        pix_fmt: str = "yuv420p",
        crf: int = 20,
        time_base: Fraction = Fraction(1, 90000),
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(10000))
        self._stream.pix_fmt = pix_fmt
        # the encoder's own time base must be fine too, or VFR timestamps get rounded to 1/fps
        self._stream.time_base = time_base
        self._stream.codec_context.time_base = time_base
        if codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self._fps = fps
        self._count = 0
        self._opened = False

    def write(self, frame: np.ndarray, pts_seconds: float | None = None) -> None:
        frame = np.ascontiguousarray(frame)
        if frame.ndim == 2:
            frame = np.repeat(frame[..., None], 3, axis=2)
        if not self._opened:
            height, width = frame.shape[:2]
            if self._stream.pix_fmt in ("yuv420p", "yuvj420p"):
                height, width = height - height % 2, width - width % 2
            self._stream.width, self._stream.height = width, height
            self._opened = True
        frame = frame[: self._stream.height, : self._stream.width]
        video_frame = av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="rgb24")
        seconds = self._count / self._fps if pts_seconds is None else pts_seconds
        video_frame.pts = int(round(seconds / self._stream.time_base))
        video_frame.time_base = self._stream.time_base
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self._count += 1

    def write_all(self, frames: Iterable[np.ndarray]) -> None:
        for frame in frames:
            self.write(frame)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
