"""Any transformers vision model by its hub id or folder: ``--backbone hf:<repo id>[@revision]``
or ``--backbone hf:/path/to/folder`` (the layout ``save_pretrained`` writes).

The family comes from the model's own ``config.json`` (``model_type``); the input size, frames
per clip, patch grid and normalisation come from that config and its preprocessor config
(``preprocessor_config.json`` / ``video_preprocessor_config.json``), never from a table here.
Each family gives the same contract as the named backbones: tokens ``[B, T, h, w, D]``, one row
per input frame, so token maps, token grids, localisation and per-animal pooling work.

Families:

* **image, ViT-like** (DINOv2 with or without registers, DINOv3, ViT, CLIP and SigLIP vision
  towers): each frame on its own; the patch tokens are the last ``h x w`` of the sequence (class
  and register tokens come first in all of them).
* **image, convolutional** (ConvNeXt, ConvNeXt V2, EfficientNet, ResNet, RegNet): the last
  feature map, any square input size.
* **image, native resolution** (SigLIP 2 NaFlex): the frame cut into the model's patches as its
  processor does (rows of ``p x p x 3``, channels last), at the largest square grid within the
  processor's ``max_num_patches``; the model resizes its own position table to that grid.
* **video** (VideoMAE, TimeSformer, ViViT): clips of the model's ``num_frames``; each temporal
  token is repeated for the frames of its tubelet. X-CLIP's vision tower sees the clip's frames
  together (its message tokens pass between frames) and keeps one token map per frame. V-JEPA 2
  and VideoPrism ids go to their own backbones (RoPE / interpolated positions, the fused
  attention).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ethoprism.backbones.base import Backbone, WeightsInfo, hash_files
from ethoprism.errors import EthoprismError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

IMAGE_VIT = {
    "dinov2": "Dinov2Model",
    "dinov2_with_registers": "Dinov2WithRegistersModel",
    "dinov3_vit": "DINOv3ViTModel",
    "vit": "ViTModel",
    "clip": "CLIPVisionModel",
    "clip_vision_model": "CLIPVisionModel",
    "siglip": "SiglipVisionModel",
    "siglip_vision_model": "SiglipVisionModel",
}
IMAGE_NATIVE = {"siglip2": "Siglip2VisionModel", "siglip2_vision_model": "Siglip2VisionModel"}
IMAGE_CONV = {
    "convnext": "ConvNextModel",
    "convnextv2": "ConvNextV2Model",
    "efficientnet": "EfficientNetModel",
    "resnet": "ResNetModel",
    "regnet": "RegNetModel",
}
VIDEO = {"videomae": "VideoMAEModel", "timesformer": "TimesformerModel", "vivit": "VivitModel"}
VIDEO_PER_FRAME = {"xclip": "XCLIPModel", "xclip_vision_model": "XCLIPVisionModel"}
# whole video-text checkpoints whose vision tower a standalone class cannot load: the tower kept
TOWER_OF = {"xclip": "vision_model"}
OWN_BACKBONES = {
    "vjepa2": "vjepa2-l",
    "videoprism": "videoprism-b",
    "videoprism_vision_model": "videoprism-b",
}
FAMILY_CLASSES = IMAGE_VIT | IMAGE_NATIVE | IMAGE_CONV | VIDEO | VIDEO_PER_FRAME
SUPPORTED = sorted({*FAMILY_CLASSES, *OWN_BACKBONES})


def _kind(family: str) -> str:
    for kind, families in (
        ("vit", IMAGE_VIT),
        ("native", IMAGE_NATIVE),
        ("conv", IMAGE_CONV),
        ("video", VIDEO),
        ("frames-video", VIDEO_PER_FRAME),
    ):
        if family in families:
            return kind
    raise KeyError(family)


def parse(spec: str) -> tuple[str, str | None]:
    """``hf:<repo id>[@revision]`` or ``hf:<folder>`` -> (source, revision)."""
    source = spec.removeprefix("hf:")
    if not source:
        raise EthoprismError("--backbone hf: needs a hub id or a folder (e.g. hf:facebook/dinov2-small)")
    if "@" in source and not Path(source).exists():
        source, revision = source.rsplit("@", 1)
        return source, revision or None
    return source, None


def _is_folder(source: str) -> bool:
    return Path(source).exists() or source.startswith((".", "/", "~"))


def _settings(source: str, revision: str | None, local_only: bool, names: tuple[str, ...]) -> dict:
    """A JSON file of the model (config or preprocessor config), {} where it has none."""
    if _is_folder(source):
        for name in names:
            path = Path(source).expanduser() / name
            if path.is_file():
                try:
                    return json.loads(path.read_text())
                except ValueError as exc:
                    raise EthoprismError(f"unreadable {name} ({exc})", path) from exc
        return {}
    from transformers.utils import cached_file

    for name in names:
        try:
            path = cached_file(
                source,
                name,
                revision=revision,
                local_files_only=local_only,
                _raise_exceptions_for_missing_entries=False,
            )
        except OSError:
            path = None
        if path:
            return json.loads(Path(path).read_text())
    return {}


def _offline_message(source: str, revision: str | None) -> str:
    revision = revision or "main"
    return (
        f"hub model '{source}' (revision {revision}) is not in the local Hugging Face cache and the hub "
        f"cannot be reached. On a machine with network run `hf download {source} --revision {revision} "
        f"--local-dir DIR`, then pass --backbone hf:DIR"
    )


def _config(source: str, revision: str | None) -> tuple[dict, bool]:
    """-> (config.json as a dict, whether only local files may be read)."""
    attempts = [True] if (_is_folder(source) or os.environ.get("HF_HUB_OFFLINE")) else [True, False]
    for local_only in attempts:
        config = _settings(source, revision, local_only, ("config.json",))
        if config:
            return config, local_only
    if _is_folder(source):
        raise EthoprismError("not a model folder (no config.json)", Path(source))
    raise EthoprismError(_offline_message(source, revision), source)


def _size(value, default: int) -> int:
    if isinstance(value, dict):
        for key in ("height", "shortest_edge", "width"):
            if key in value:
                return int(value[key])
        return default
    if isinstance(value, (list, tuple)):
        return int(value[-1])
    return int(value) if value else default


class HubBackbone(Backbone):
    """A transformers vision model of a supported family (see the module's docstring)."""

    def __init__(self, model, weights, family: str, kind: str, **kwargs):
        self.family, self.kind = family, kind
        super().__init__(model, weights, **kwargs)

    @classmethod
    def load(
        cls, spec: str, revision=None, config=None, device=None, dtype=None, compile=False, weights=None
    ):
        import transformers

        source, pinned = parse(spec)
        revision = revision or pinned
        config_dict, local_only = _config(source, revision)
        family = str(config_dict.get("model_type", ""))
        if family in OWN_BACKBONES:
            from ethoprism.backbones import load_backbone

            backbone = load_backbone(
                OWN_BACKBONES[family], source, revision=revision, device=device, dtype=dtype, compile=compile
            )
            backbone.name = f"hf:{source}"
            return backbone
        classes = FAMILY_CLASSES
        if family not in classes:
            raise EthoprismError(
                f"model family '{family or 'unknown'}' is not supported; supported: {', '.join(SUPPORTED)}",
                source,
            )
        kind = _kind(family)
        model_cls = getattr(transformers, classes[family], None)
        if model_cls is None:
            raise EthoprismError(
                f"transformers {transformers.__version__} has no {classes[family]}: upgrade transformers",
                source,
            )
        location = str(Path(source).expanduser()) if _is_folder(source) else source
        try:
            model, info = model_cls.from_pretrained(
                location, revision=revision, local_files_only=local_only, output_loading_info=True
            )
        except OSError as exc:
            if _is_folder(source):
                raise EthoprismError(
                    f"cannot load the model's weights from this folder ({exc})", source
                ) from exc
            raise EthoprismError(_offline_message(source, revision), source) from exc
        except (ValueError, KeyError, RuntimeError) as exc:
            raise EthoprismError(f"cannot load {family} model ({exc})", source) from exc
        missing = [
            k for k in info.get("missing_keys", []) if not k.endswith(("position_ids", "num_batches_tracked"))
        ]
        if missing:
            raise EthoprismError(
                f"the weights do not fit the {family} model: {len(missing)} parameters missing "
                f"(first: {sorted(missing)[0]})",
                source,
            )
        if _is_folder(source):
            folder = Path(source).expanduser()
            files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
            weights_info = WeightsInfo(
                "local", str(folder.resolve()), sha256=hash_files(files) if files else None
            )
        else:
            commit = getattr(model.config, "_commit_hash", None)
            weights_info = WeightsInfo("hub", source, revision=commit or revision or "main")
        processor = _settings(
            source, revision, local_only, ("preprocessor_config.json", "video_preprocessor_config.json")
        )
        vision = getattr(model.config, "vision_config", None) or model.config
        if family in TOWER_OF:
            model = getattr(model, TOWER_OF[family])
        # ViViT has no patch size: its tubelet is [t, p, p]
        patch = getattr(vision, "patch_size", None) or getattr(vision, "tubelet_size", None)
        patch = int(patch[-1] if isinstance(patch, (list, tuple)) else patch) if patch else 32
        if kind == "native":  # the largest square grid its processor allows
            most = int(processor.get("max_num_patches") or getattr(vision, "num_patches", 256))
            input_size = int(most**0.5) * patch
        else:
            input_size = _size(
                processor.get("crop_size") or processor.get("size") or getattr(vision, "image_size", None),
                224,
            )
        if kind == "conv":
            patch = 32
        elif input_size % patch:
            raise EthoprismError(
                f"the patch size {patch} does not divide the input size {input_size}", source
            )
        is_video = kind in ("video", "frames-video")
        frames = int(getattr(vision, "num_frames", 16) or 16) if is_video else 16
        backbone = cls(
            model,
            weights_info,
            family,
            kind,
            input_size=input_size,
            patch=patch,
            embed_dim=int(getattr(vision, "hidden_size", None) or _conv_width(vision)),
            default_frames=frames,
            device=device,
            dtype=dtype,
            compile=compile,
        )
        backbone.name = f"hf:{source}"
        backbone.is_video_model = is_video
        if processor.get("do_normalize", True):
            backbone.mean = tuple(processor.get("image_mean", IMAGENET_MEAN))
            backbone.std = tuple(processor.get("image_std", IMAGENET_STD))
        backbone.weights.extra["family"] = family
        return backbone

    def _input_hw(self, height, width):
        if self.kind == "conv" and height == width and height >= 32:
            return (height, width)  # a convolutional net runs at any square size
        return (self.input_size, self.input_size)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, _, height, width = x.shape
        if self.kind == "video":
            return self._video_tokens(x)
        if self.kind == "frames-video":
            self._check_frames(time)
        images = x.flatten(0, 1)
        if self.kind == "native":
            hidden = self.forward_fn(**_patches(images, self.patch)).last_hidden_state
        else:
            hidden = self.forward_fn(pixel_values=images).last_hidden_state
        if self.kind == "conv":  # [N, C, h, w]
            return hidden.permute(0, 2, 3, 1).reshape(batch, time, *hidden.shape[2:], hidden.shape[1])
        h, w = height // self.patch, width // self.patch
        patches = hidden[:, -h * w :]  # class and register tokens come first
        return patches.reshape(batch, time, h, w, -1)

    def _check_frames(self, time: int) -> None:
        expected = self.default_frames
        if time != expected:
            raise EthoprismError(
                f"{self.name} embeds clips of {expected} frames (its num_frames), not {time}: "
                f"pass --frames {expected}"
            )

    def _video_tokens(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, _, height, width = x.shape
        self._check_frames(time)
        hidden = self.forward_fn(pixel_values=x).last_hidden_state
        h, w = height // self.patch, width // self.patch
        tubelet = _tubelet(self.model.config)
        steps = time // tubelet
        patches = hidden[:, -steps * h * w :].reshape(batch, steps, h, w, -1)
        return patches.repeat_interleave(tubelet, dim=1)


def _patches(images: torch.Tensor, patch: int) -> dict:
    """SigLIP 2's inputs for square frames: patch rows ``(p, p, C)`` in reading order, as its
    image processor cuts them, with every patch valid."""
    n, channels, height, width = images.shape
    rows, cols = height // patch, width // patch
    cut = images.reshape(n, channels, rows, patch, cols, patch).permute(0, 2, 4, 3, 5, 1)
    return {
        "pixel_values": cut.reshape(n, rows * cols, patch * patch * channels),
        "pixel_attention_mask": torch.ones(n, rows * cols, dtype=torch.long, device=images.device),
        "spatial_shapes": torch.tensor([[rows, cols]] * n, dtype=torch.long, device=images.device),
    }


def _tubelet(config) -> int:
    value = getattr(config, "tubelet_size", 1) or 1
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def _conv_width(config) -> int:
    sizes = getattr(config, "hidden_sizes", None)
    if sizes:
        return int(sizes[-1])
    if hasattr(config, "hidden_dim"):  # EfficientNet's last 1x1 convolution
        return int(config.hidden_dim)
    raise EthoprismError(f"cannot tell the feature width of this {config.model_type} model")
