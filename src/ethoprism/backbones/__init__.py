"""Stage 3: frozen backbones, one registry.

``load_backbone(name, weights=...)`` where ``weights`` is ``None`` (the default pretrained
weights: the packaged file for ``effnet-lite0``, the hub id otherwise), a local folder or file,
another hub id, an official VideoPrism Flax ``.npz``, or ``"random"`` (random init; ``config``
overrides the architecture, which is how the tests build tiny models of each real class).
"""

from __future__ import annotations

from ethoprism.backbones.base import Backbone, WeightsInfo, pick_device, pick_dtype
from ethoprism.backbones.models import (
    CLIPBackbone,
    EfficientNetLite0Backbone,
    EfficientNetLite0MotionBackbone,
    VideoPrismBackbone,
    VJEPA2Backbone,
)
from ethoprism.errors import EthoprismError

# frames only: effnet-lite0-motion wins with the temporal head but loses few-shot with the linear,
# MLP and attentive heads (docs/benchmarks.md, "Motion for the offline default")
DEFAULT_BACKBONE = "effnet-lite0"

_LOADERS = {
    "effnet-lite0": lambda **kw: EfficientNetLite0Backbone.load(**kw),
    "effnet-lite0-motion": lambda **kw: EfficientNetLite0MotionBackbone.load(**kw),
    "videoprism-b": lambda **kw: VideoPrismBackbone.load("videoprism-b", **kw),
    "videoprism-l": lambda **kw: VideoPrismBackbone.load("videoprism-l", **kw),
    "vjepa2-l": lambda **kw: VJEPA2Backbone.load(**kw),
    "clip-b16": lambda **kw: CLIPBackbone.load(**kw),
    "videoprism-lvt-b": lambda **kw: _lvt().load("videoprism-lvt-b", **kw),
    "videoprism-lvt-l": lambda **kw: _lvt().load("videoprism-lvt-l", **kw),
}


def _lvt():
    from ethoprism.backbones.videoprism_lvt import VideoPrismLvTBackbone

    return VideoPrismLvTBackbone


BACKBONES = tuple(_LOADERS)


def load_backbone(
    name: str = DEFAULT_BACKBONE,
    weights=None,
    *,
    revision: str | None = None,
    config: dict | None = None,
    device: str | None = None,
    dtype: str | None = None,
    compile: bool = False,
    tokenizer: str | None = None,
) -> Backbone:
    """``tokenizer``: a SentencePiece model file for the text tower of video-text backbones (needed
    with Google's official ``.npz`` weights, which carry no vocabulary)."""
    if name not in _LOADERS:
        raise EthoprismError(f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)}")
    extra = {}
    if tokenizer is not None:
        if not name.startswith("videoprism-lvt"):
            raise EthoprismError(
                f"--tokenizer is for the video-text backbones (videoprism-lvt-*), not '{name}'"
            )
        extra["tokenizer"] = tokenizer
    return _LOADERS[name](
        weights=weights,
        revision=revision,
        config=config,
        device=device,
        dtype=dtype,
        compile=compile,
        **extra,
    )


__all__ = [
    "Backbone",
    "WeightsInfo",
    "load_backbone",
    "BACKBONES",
    "DEFAULT_BACKBONE",
    "pick_device",
    "pick_dtype",
]
