"""Where stored embeddings came from, as typed records.

Every store entry, head file and report carries a :class:`Provenance`: the package version, the
backbone and its exact weights (:class:`WeightsInfo`: hub id + revision, local path, or a sha256
of the files), the dtype, the clip spec, the token-map step and the video itself
(:class:`VideoInfo`: path, sha256, frame count, rate, size). Two entries whose
:meth:`Provenance.embedding_key` differ hold embeddings that must never be mixed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

from ethoprism.clips import ClipSpec
from ethoprism.errors import EthoprismError

# Bump when a change to decoding, clip sampling, preprocessing or pooling changes the numbers an
# extraction stores: entries of another extraction version are made again, never reused. Records
# without it were made by version 1.
EXTRACTION_VERSION = 1
# weights details that name a file but do not change an embedding
# the runtime (PyTorch or ONNX Runtime, checked to agree) and the tokenizer file change no stored number
_NOT_NUMERIC_SETTINGS = ("tokenizer", "runtime")


def file_sha256(path) -> str:
    """sha256 of a file, read in 1 MiB blocks (a tracks file, a label file, model arrays)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_name_part(text: str) -> str:
    """``text`` (a video stem, a backbone name) made safe for a file name on every file system."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "video"


@dataclass(frozen=True)
class WeightsInfo:
    """Where weights came from: enough to say exactly which model produced an embedding."""

    source: str  # "package", "hub", "local", "flax-npz", "random-init"
    model_id: str
    revision: str | None = None
    sha256: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "model_id": self.model_id,
            "revision": self.revision,
            "sha256": self.sha256,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict) -> WeightsInfo:
        known = ("source", "model_id", "revision", "sha256")
        return cls(
            str(data.get("source", "")),
            str(data.get("model_id", "")),
            data.get("revision"),
            data.get("sha256"),
            {k: v for k, v in data.items() if k not in known},
        )

    def describe(self) -> str:
        revision = f"@{self.revision}" if self.revision else ""
        return f"{self.source}: {self.model_id}{revision} sha256={(self.sha256 or '-')[:12]}"


@dataclass(frozen=True)
class VideoInfo:
    path: str
    sha256: str
    n_frames: int
    fps: float
    width: int
    height: int
    duration_s: float | None = None
    variable_frame_rate: bool = False


@dataclass(frozen=True)
class Provenance:
    backbone: str
    weights: WeightsInfo
    dtype: str
    clip_spec: ClipSpec
    video: VideoInfo
    token_step: int | None = None
    ethoprism_version: str = ""
    token_grid: int | None = None  # every frame's token map pooled to g x g (spatio-temporal heads)
    token_dim: int | None = None  # the grids reduced to this many PCA dimensions (--token-dim)
    token_basis: str | None = None  # digest of that PCA basis (known once the entry is finished)
    extraction_version: int = EXTRACTION_VERSION
    # the animal tracks per-animal embeddings were pooled from (ethoprism.tracks.VideoTracks.to_dict)
    tracks: dict | None = None

    @property
    def settings_digest(self) -> str:
        """Short hash of the backbone's own settings that change its numbers (the motion
        backbone's lags and gain, a random model's seed and config)."""
        settings = {k: v for k, v in self.weights.extra.items() if k not in _NOT_NUMERIC_SETTINGS}
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]

    @property
    def embedding_key(self) -> tuple:
        """Equal for embeddings that can be used together: backbone, weights and their settings,
        dtype, clip spec, extraction version."""
        return (
            self.backbone,
            self.weights.model_id,
            self.weights.revision,
            self.weights.sha256,
            self.settings_digest,
            self.dtype,
            self.clip_spec,
            self.extraction_version,
        )

    @property
    def cache_key(self) -> tuple:
        """Equal when a stored entry can stand for a new extraction of the same video: every input
        that changes the stored numbers."""
        return (
            *self.embedding_key,
            self.video.sha256,
            self.token_step,
            self.token_grid,
            self.token_dim,
            None if self.tracks is None else self.tracks.get("digest"),
        )

    @property
    def embedding_variant(self) -> str:
        """Short hash of the weights and dtype: names what is built on embeddings (an index)."""
        key = json.dumps([self.weights.model_id, self.weights.revision, self.weights.sha256, self.dtype])
        return hashlib.sha256(key.encode()).hexdigest()[:8]

    @property
    def variant(self) -> str:
        """Short hash of what else names an entry (weights, dtype, token maps): part of its file name."""
        parts = [
            self.weights.model_id,
            self.weights.revision,
            self.weights.sha256,
            self.dtype,
            self.token_step,
        ]
        if self.token_grid:  # only then: the names of entries without grids stay as they were
            parts.append(f"grid{self.token_grid}")
        if self.token_dim:
            parts.append(f"dim{self.token_dim}")
        if self.tracks:  # a new track set is a new entry: two track sets never mix in one
            parts.append(f"tracks{self.tracks.get('digest', '')[:16]}")
        key = json.dumps(parts)
        return hashlib.sha256(key.encode()).hexdigest()[:8]

    def describe(self) -> str:
        return (
            f"{self.backbone} weights={self.weights.describe()} dtype={self.dtype} "
            f"clip spec={self.clip_spec.key}"
        )

    def to_dict(self) -> dict:
        return {
            "ethoprism_version": self.ethoprism_version,
            "backbone": self.backbone,
            "weights": self.weights.to_dict(),
            "dtype": self.dtype,
            "clip_spec": self.clip_spec.to_dict(),
            "clip_spec_key": self.clip_spec.key,
            "token_step": self.token_step,
            "token_grid": self.token_grid,
            "token_dim": self.token_dim,
            "token_basis": self.token_basis,
            "extraction_version": self.extraction_version,
            "tracks": self.tracks,
            "video": asdict(self.video),
        }

    @classmethod
    def from_dict(cls, data: dict, where=None) -> Provenance:
        """Parse a stored provenance record; a record that does not fit is the file's fault."""
        try:
            video = data["video"]
            return cls(
                backbone=str(data["backbone"]),
                weights=WeightsInfo.from_dict(data["weights"]),
                dtype=str(data["dtype"]),
                clip_spec=ClipSpec(**data["clip_spec"]),
                video=VideoInfo(
                    path=str(video["path"]),
                    sha256=str(video["sha256"]),
                    n_frames=int(video["n_frames"]),
                    fps=float(video["fps"]),
                    width=int(video["width"]),
                    height=int(video["height"]),
                    duration_s=video.get("duration_s"),
                    variable_frame_rate=bool(video.get("variable_frame_rate", False)),
                ),
                token_step=None if data.get("token_step") is None else int(data["token_step"]),
                ethoprism_version=str(data.get("ethoprism_version", "")),
                token_grid=None if data.get("token_grid") is None else int(data["token_grid"]),
                token_dim=None if data.get("token_dim") is None else int(data["token_dim"]),
                token_basis=None if data.get("token_basis") is None else str(data["token_basis"]),
                extraction_version=int(data.get("extraction_version", 1)),
                tracks=data.get("tracks") if isinstance(data.get("tracks"), dict) else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EthoprismError(
                f"provenance record does not fit ({exc.__class__.__name__}: {exc})", where
            ) from exc
