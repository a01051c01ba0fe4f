"""Videos -> embedding store: the clip spec from a backbone's defaults and the user's options,
then every video in turn; one failing video does not stop the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ethoprism.backbones import Backbone
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
) -> list[Extracted]:
    """Embed each video (finished entries are cache hits); ``progress(video, done, total)`` in frames."""
    store.remove_debris()
    results = []
    for video in videos:

        def update(done, total, video=video):
            if progress:
                progress(video, done, total)

        try:
            entry, cached = extract_video(
                video, backbone, store, spec, batch_size=batch_size, token_step=token_step, progress=update
            )
        except EthoprismError as exc:
            results.append(Extracted(Path(video), None, error=str(exc)))
            continue
        results.append(Extracted(Path(video), entry, cached))
    return results
