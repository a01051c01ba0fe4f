"""The backbone contract shared by every model.

``encode(frames)`` takes RGB float ``[B, T, H, W, 3]`` in [0, 1] and returns float32 tokens
``[B, T, h, w, D]``: one row of spatial tokens per input frame. Each backbone applies its own
normalisation and resizing rules. ``frame_embeddings`` spatially mean-pools those tokens into one
``D``-vector per frame, which is what the embedding store keeps.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ethoprism.clips import ClipSpec
from ethoprism.errors import EthoprismError
from ethoprism.provenance import WeightsInfo  # noqa: F401  (re-exported)

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def pick_device(device: str | None = None) -> torch.device:
    """``None``/``"auto"`` -> CUDA when present, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise EthoprismError(f"unknown device '{device}'; use auto, cpu, cuda or cuda:N") from exc
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise EthoprismError(
                f"device '{device}' asked for, but CUDA is not available here "
                f"(torch {torch.__version__}); use --device cpu"
            )
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise EthoprismError(
                f"device '{device}' does not exist: {torch.cuda.device_count()} CUDA device(s)"
            )
    elif chosen.type not in ("cpu", "mps"):
        raise EthoprismError(f"device '{device}' is not supported; use auto, cpu or cuda[:N]")
    return chosen


def pick_dtype(dtype: str | torch.dtype | None, device: torch.device | None = None) -> torch.dtype:
    """``None``/``"auto"``: bf16 on CUDA (tensor cores, half the memory traffic), fp32 elsewhere
    (CPUs without bf16 units run it slower than fp32)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if device is not None and device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise EthoprismError(f"dtype must be auto or one of {sorted(DTYPES)}, not {dtype!r}")
    return DTYPES[dtype]


def hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


class Backbone:
    """A frozen model wrapped with its input rules. Subclasses implement ``_tokens``."""

    name: str = ""
    is_video_model: bool = False  # True: tokens depend on the other frames of the clip
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __init__(
        self,
        model: torch.nn.Module,
        weights: WeightsInfo,
        *,
        input_size: int,
        patch: int,
        embed_dim: int,
        default_frames: int,
        device=None,
        dtype=None,
        compile: bool = False,
    ):
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        if self.device.type == "cuda" and self.dtype == torch.float32:
            # fp32 asked for on a GPU: TF32 tensor cores (10-bit mantissa products, fp32 sums)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.model = model.eval().requires_grad_(False).to(device=self.device, dtype=self.dtype)
        self.weights = weights
        self.input_size = input_size
        self.patch = patch
        self.embed_dim = embed_dim
        self.default_frames = default_frames
        self.compiled = compile
        # torch.compile fuses the element-wise work between matmuls (about +10 % on CPU); it costs
        # a minute of compilation, so it is worth it for long videos only
        self.forward_fn = torch.compile(self._forward_target()) if compile else self._forward_target()

    def _forward_target(self):
        return self.model

    def default_clip_spec(self, protocol: str = "tiled") -> ClipSpec:
        if self.is_video_model:
            return ClipSpec(
                frames=self.default_frames,
                size=self.input_size,
                protocol=protocol,
                overlap=self.default_frames // 4,
            )
        # per-frame models: a clip is only a batch, so overlap buys nothing and a centred
        # "clip" is the frame itself
        return ClipSpec(
            frames=16 if protocol == "tiled" else 1, size=self.input_size, protocol=protocol, overlap=0
        )

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def provenance(self) -> dict:
        return {"backbone": self.name, "weights": self.weights.to_dict(), "dtype": self.dtype_name}

    def _prepare(self, frames) -> torch.Tensor:
        """RGB ``[B, T, H, W, 3]`` (uint8 0-255, or float in [0, 1]) -> normalised
        ``[B, T, 3, S, S]`` on the model's device and dtype. uint8 frames travel to the device as
        they are (a quarter of the bytes; ``non_blocking`` from pinned memory) and become floats
        there."""
        x = frames if torch.is_tensor(frames) else torch.from_numpy(np.ascontiguousarray(frames))
        if x.ndim != 5 or x.shape[-1] != 3:
            raise ValueError(f"frames must be [B, T, H, W, 3], got {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            x = x.to(self.device, non_blocking=True).float().div_(255.0)
        else:
            x = x.to(self.device, torch.float32)
        batch, time, height, width, _ = x.shape
        x = x.permute(0, 1, 4, 2, 3).reshape(batch * time, 3, height, width)
        size = self._input_hw(height, width)
        if (height, width) != size:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        return x.reshape(batch, time, 3, *size).to(self.dtype)

    def _input_hw(self, height: int, width: int) -> tuple[int, int]:
        return (self.input_size, self.input_size)

    @torch.inference_mode()
    def encode(self, frames) -> torch.Tensor:
        """RGB ``[B, T, H, W, 3]`` in [0, 1] -> float32 tokens ``[B, T, h, w, D]``."""
        return self._tokens(self._prepare(frames)).float()

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _tokens_and_clip_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tokens and, for video-text models, each clip's embedding in the joint space."""
        return self._tokens(x), None

    @torch.inference_mode()
    def embed_rows(
        self,
        clips,
        slots: np.ndarray,
        rows: np.ndarray,
        token_rows: np.ndarray | None = None,
        grid: int | None = None,
        rois: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """One forward pass over ``clips`` (``[B, T, H, W, 3]``), reduced on the device so only
        what is kept crosses back to the host:

        * ``embeddings``: float32 ``[n, D]``, the spatial mean of the tokens of frame
          ``rows[i]`` of clip ``slots[i]``;
        * ``tokens``: fp16 ``[m, h, w, D]``, the full token maps of the selected rows
          ``token_rows`` (indices into ``slots``/``rows``), when given;
        * ``grid_tokens``: fp16 ``[n, g, g, D]``, every selected frame's token map average-pooled
          to ``grid`` x ``grid``, when ``grid`` is given;
        * ``clip_embeddings``: float32 ``[B, D']`` for video-text models;
        * ``roi_embeddings``: float32 ``[m, D]`` with ``rois = (row index, boxes [m, 4] in input
          pixels)``: each box's mean of the token map of that selected row (ROI average pooling,
          :func:`ethoprism.tracks.box_weights`) — the animals' embeddings, from the same pass."""
        tokens, clip_embedding = self._tokens_and_clip_embedding(self._prepare(clips))
        slots_t = torch.as_tensor(np.asarray(slots), device=tokens.device)
        rows_t = torch.as_tensor(np.asarray(rows), device=tokens.device)
        selected = tokens[slots_t, rows_t]  # [n, h, w, D]
        out = {"embeddings": selected.float().mean(dim=(1, 2)).cpu().numpy()}
        if token_rows is not None and len(token_rows):
            keep = torch.as_tensor(np.asarray(token_rows), device=tokens.device)
            out["tokens"] = selected[keep].to(torch.float16).cpu().numpy()
        if grid:
            height, width = selected.shape[1:3]
            if grid > min(height, width):
                # pooling would upsample: the same tokens copied, the data grown by (G/h)^2
                raise EthoprismError(
                    f"--token-grid {grid} is larger than {self.name}'s token map at this input size "
                    f"({height}x{width}): use --token-grid {min(height, width)} or less"
                )
            pooled = F.adaptive_avg_pool2d(selected.permute(0, 3, 1, 2).float(), grid)
            out["grid_tokens"] = pooled.permute(0, 2, 3, 1).to(torch.float16).cpu().numpy()
        if rois is not None and len(rois[0]):
            from ethoprism.tracks import box_weights

            height, width = selected.shape[1:3]
            weights = box_weights(rois[1], height, width, self._input_size(clips))
            weights = torch.as_tensor(weights, device=tokens.device)
            roi_rows = selected[torch.as_tensor(np.asarray(rois[0]), device=tokens.device)].float()
            out["roi_embeddings"] = torch.einsum("mhw,mhwd->md", weights, roi_rows).cpu().numpy()
        if clip_embedding is not None:
            out["clip_embeddings"] = clip_embedding.float().cpu().numpy()
        return out

    @staticmethod
    def _input_size(clips) -> int:
        """The side of the square input frames (clips are ``[B, T, S, S, 3]``)."""
        return int(clips.shape[2])

    def auto_batch_size(self, frames: int, size: int, limit: int = 64) -> int:
        """Clips per forward pass: 4 on CPU (larger batches do not run faster there); on CUDA as
        many as 60 % of the free device memory holds, from the peak memory of a probe pass."""
        if self.device.type != "cuda":
            return 4
        torch.cuda.synchronize(self.device)
        free, _ = torch.cuda.mem_get_info(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        probe = torch.zeros((2, frames, size, size, 3), dtype=torch.uint8)
        self.embed_rows(probe, np.repeat(np.arange(2), frames), np.tile(np.arange(frames), 2))
        per_clip = max(1, (torch.cuda.max_memory_allocated(self.device) - before) / 2)
        return int(max(1, min(limit, 0.6 * free // per_clip)))

    @torch.inference_mode()
    def frame_embeddings(self, frames) -> torch.Tensor:
        """Spatially pooled tokens: ``[B, T, D]``."""
        return self.encode(frames).mean(dim=(2, 3))

    def flops_per_clip(self, frames: int) -> float:
        """Multiply-adds x 2 of one forward pass on a clip of ``frames`` frames (for benchmarks)."""
        raise NotImplementedError
