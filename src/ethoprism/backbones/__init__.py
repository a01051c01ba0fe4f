"""Stage 3: frozen backbones, one registry.

``load_backbone(name, weights=...)`` where ``name`` is one of :data:`BACKBONES` or
``hf:<hub id>[@revision]`` / ``hf:<folder>`` (any supported transformers vision model,
:mod:`ethoprism.backbones.hf`), and ``weights`` is ``None`` (the default pretrained
weights: the packaged file for ``effnet-lite0``, the hub id otherwise), a local folder or file,
another hub id, an official VideoPrism Flax ``.npz``, or ``"random"`` (random init; ``config``
overrides the architecture, which is how the tests build tiny models of each real class).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ethoprism.errors import EthoprismError

if TYPE_CHECKING:
    from ethoprism.backbones.base import Backbone

# frames only: effnet-lite0-motion wins with the temporal head but loses few-shot with the linear,
# MLP and attentive heads (docs/benchmarks.md, "Motion for the offline default")
DEFAULT_BACKBONE = "effnet-lite0"

# name -> (module, class, model name passed to its load): the classes import torch and
# transformers, so they are imported when a backbone is loaded, never for the names alone
_LOADERS = {
    "effnet-lite0": ("models", "EfficientNetLite0Backbone", None),
    "effnet-lite0-motion": ("models", "EfficientNetLite0MotionBackbone", None),
    "videoprism-b": ("models", "VideoPrismBackbone", "videoprism-b"),
    "videoprism-l": ("models", "VideoPrismBackbone", "videoprism-l"),
    "vjepa2-l": ("models", "VJEPA2Backbone", None),
    "clip-b16": ("models", "CLIPBackbone", None),
    "videoprism-lvt-b": ("videoprism_lvt", "VideoPrismLvTBackbone", "videoprism-lvt-b"),
    "videoprism-lvt-l": ("videoprism_lvt", "VideoPrismLvTBackbone", "videoprism-lvt-l"),
}
_LAZY = {
    "Backbone": "base",
    "WeightsInfo": "base",
    "pick_device": "base",
    "pick_dtype": "base",
    "CLIPBackbone": "models",
    "EfficientNetLite0Backbone": "models",
    "EfficientNetLite0MotionBackbone": "models",
    "VideoPrismBackbone": "models",
    "VJEPA2Backbone": "models",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"ethoprism.backbones.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'ethoprism.backbones' has no attribute '{name}'")


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
    runtime: str = "torch",
) -> Backbone:
    """``tokenizer``: a SentencePiece model file for the text tower of video-text backbones (needed
    with Google's official ``.npz`` weights, which carry no vocabulary). ``runtime``: ``torch``,
    ``onnx`` (ONNX Runtime, checked against PyTorch: :mod:`ethoprism.backbones.onnx_runtime`) or
    ``auto`` (ONNX Runtime where it runs the backbone, else PyTorch)."""
    if name.startswith("hf:"):  # any transformers vision model by hub id or folder
        from ethoprism.backbones.hf import HubBackbone
        from ethoprism.backbones.onnx_runtime import use_onnx

        backbone = HubBackbone.load(name, revision=revision, device=device, dtype=dtype, compile=compile)
        use_onnx(backbone, "torch" if runtime == "auto" else runtime)
        return backbone
    if name not in _LOADERS:
        raise EthoprismError(
            f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)}, or hf:<hub id or folder>"
        )
    extra = {}
    if tokenizer is not None:
        if not name.startswith("videoprism-lvt"):
            raise EthoprismError(
                f"--tokenizer is for the video-text backbones (videoprism-lvt-*), not '{name}'"
            )
        extra["tokenizer"] = tokenizer
    import importlib

    module, cls, model = _LOADERS[name]
    loader = getattr(importlib.import_module(f"ethoprism.backbones.{module}"), cls).load
    args = (model,) if model else ()
    from ethoprism.backbones.onnx_runtime import RUNTIMES, use_onnx

    if runtime not in RUNTIMES:
        raise EthoprismError(f"--runtime must be one of {', '.join(RUNTIMES)}, not '{runtime}'")
    backbone = loader(
        *args,
        weights=weights,
        revision=revision,
        config=config,
        device=device,
        dtype=dtype,
        compile=compile,
        **extra,
    )
    use_onnx(backbone, runtime)
    return backbone


__all__ = [
    "Backbone",
    "WeightsInfo",
    "load_backbone",
    "BACKBONES",
    "DEFAULT_BACKBONE",
    "pick_device",
    "pick_dtype",
]
