"""Google's official VideoPrism Flax checkpoints (``flax_*_repeated.npz``) -> transformers weights.

Layout of the official files (Praxis): flat keys joined by ``/`` under ``params/``; the layers
of each transformer stack are scan-stacked under ``.../x_layers/...`` with a leading layer axis;
LayerNorm ``scale`` is stored as an offset (gain = 1 + scale), which transformers' VideoPrism
LayerNorm also expects, so it is copied unchanged; attention ``w`` has shape (D, heads, head_dim)
and is applied as ``einsum('btd,dnh->btnh')`` (query/key/value) and ``einsum('btnh,dnh->btd')``
(post). The LvT (video-text) files put the vision tower under ``params/vision_encoder/``.

The model size is inferred from array shapes, so any VideoPrism-family checkpoint loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ethoprism.errors import EthoprismError

_STACK = "transformers_stack/x_layers"
_LAYER_PARTS = {
    "self_attention/query/w": ("attention.q_proj.weight", "qkv_w"),
    "self_attention/key/w": ("attention.k_proj.weight", "qkv_w"),
    "self_attention/value/w": ("attention.v_proj.weight", "qkv_w"),
    "self_attention/post/w": ("attention.o_proj.weight", "post_w"),
    "self_attention/query/b": ("attention.q_proj.bias", "flat"),
    "self_attention/key/b": ("attention.k_proj.bias", "flat"),
    "self_attention/value/b": ("attention.v_proj.bias", "flat"),
    "self_attention/post/b": ("attention.o_proj.bias", "flat"),
    "layer_norm/scale": ("layernorm_before.weight", "copy"),
    "layer_norm/bias": ("layernorm_before.bias", "copy"),
    "ff_layer/layer_norm/scale": ("layernorm_after.weight", "copy"),
    "ff_layer/layer_norm/bias": ("layernorm_after.bias", "copy"),
    "ff_layer/ffn_layer1/linear/kernel": ("mlp.fc1.weight", "transpose"),
    "ff_layer/ffn_layer1/linear/bias": ("mlp.fc1.bias", "copy"),
    "ff_layer/ffn_layer2/linear/kernel": ("mlp.fc2.weight", "transpose"),
    "ff_layer/ffn_layer2/linear/bias": ("mlp.fc2.bias", "copy"),
}


def _convert_layer_param(array: np.ndarray, rule: str) -> np.ndarray:
    if rule == "qkv_w":  # (D, N, H) -> (N*H, D)
        return array.reshape(array.shape[0], -1).T
    if rule == "post_w":  # (D, N, H) -> (D, N*H)
        return array.reshape(array.shape[0], -1)
    if rule == "flat":
        return array.reshape(-1)
    if rule == "transpose":
        return array.T
    return array


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.exists():
        raise EthoprismError("weights file does not exist", path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError) as exc:
        raise EthoprismError(f"not a readable .npz weights file ({exc})", path) from exc


def find_vision_prefix(params: dict[str, np.ndarray], path) -> str:
    for prefix in ("params/vision_encoder/", "params/"):
        if f"{prefix}patch_projection/linear/kernel" in params:
            return prefix
    raise EthoprismError(
        "does not look like a VideoPrism Flax checkpoint "
        "(no 'params/[vision_encoder/]patch_projection/linear/kernel')",
        path,
    )


def stacked_layers(
    params: dict[str, np.ndarray], stack_prefix: str, hf_prefix: str
) -> dict[str, torch.Tensor]:
    """Unstack one scan-stacked transformer into per-layer transformers parameter names."""
    state = {}
    for part, (hf_name, rule) in _LAYER_PARTS.items():
        key = f"{stack_prefix}/{part}"
        if key not in params:
            raise KeyError(key)
        stacked = params[key]
        for layer in range(stacked.shape[0]):
            state[f"{hf_prefix}.{layer}.{hf_name}"] = torch.from_numpy(
                np.ascontiguousarray(_convert_layer_param(stacked[layer], rule), dtype=np.float32)
            )
    return state


def vision_config_and_state(params: dict[str, np.ndarray], path, hf_prefix: str = "") -> tuple[dict, dict]:
    """Infer a ``VideoPrismVisionConfig`` and its state dict from the official arrays."""
    prefix = find_vision_prefix(params, path)
    try:
        kernel = params[f"{prefix}patch_projection/linear/kernel"]  # (p*p*3, D)
        width = kernel.shape[1]
        patch = int(round((kernel.shape[0] / 3) ** 0.5))
        spatial_pos = params[f"{prefix}spatial_pos_emb/emb_var"]  # (n_patches, D)
        temporal_pos = params[f"{prefix}temporal_pos_emb/emb_var"]  # (n_frames, D)
        grid = int(round(spatial_pos.shape[0] ** 0.5))
        query = params[f"{prefix}spatial_encoder/{_STACK}/self_attention/query/w"]  # (L, D, N, H)
        ffn = params[f"{prefix}spatial_encoder/{_STACK}/ff_layer/ffn_layer1/linear/kernel"]  # (L, D, I)
        temporal_layers = params[f"{prefix}temporal_encoder/{_STACK}/self_attention/query/w"].shape[0]
        config = dict(
            hidden_size=int(width),
            num_attention_heads=int(query.shape[2]),
            intermediate_size=int(ffn.shape[2]),
            num_spatial_layers=int(query.shape[0]),
            num_temporal_layers=int(temporal_layers),
            tubelet_size=[1, patch, patch],
            image_size=grid * patch,
            num_frames=int(temporal_pos.shape[0]),
        )
        if patch * patch * 3 != kernel.shape[0] or grid * grid != spatial_pos.shape[0]:
            raise ValueError("patch projection or spatial position table is not square")
        p = hf_prefix
        state = {
            f"{p}spatial_embeddings.patch_embeddings.projection.weight": torch.from_numpy(
                np.ascontiguousarray(
                    kernel.T.reshape(width, 1, patch, patch, 3).transpose(0, 4, 1, 2, 3), dtype=np.float32
                )
            ),
            f"{p}spatial_embeddings.patch_embeddings.projection.bias": torch.from_numpy(
                params[f"{prefix}patch_projection/linear/bias"].astype(np.float32)
            ),
            f"{p}spatial_embeddings.position_embeddings": torch.from_numpy(
                spatial_pos[None].astype(np.float32)
            ),
            f"{p}temporal_embeddings.position_embeddings": torch.from_numpy(
                temporal_pos[None].astype(np.float32)
            ),
            f"{p}layernorm1.weight": torch.from_numpy(params[f"{prefix}spatial_ln/scale"].astype(np.float32)),
            f"{p}layernorm1.bias": torch.from_numpy(params[f"{prefix}spatial_ln/bias"].astype(np.float32)),
            f"{p}layernorm2.weight": torch.from_numpy(
                params[f"{prefix}temporal_ln/scale"].astype(np.float32)
            ),
            f"{p}layernorm2.bias": torch.from_numpy(params[f"{prefix}temporal_ln/bias"].astype(np.float32)),
        }
        state.update(stacked_layers(params, f"{prefix}spatial_encoder/{_STACK}", f"{p}spatial_layers"))
        state.update(stacked_layers(params, f"{prefix}temporal_encoder/{_STACK}", f"{p}temporal_layers"))
    except (KeyError, ValueError, IndexError) as exc:
        raise EthoprismError(
            f"VideoPrism Flax checkpoint is missing or has malformed arrays ({exc})", path
        ) from exc
    return config, state


def layer_count(params: dict[str, np.ndarray], stack_prefix: str) -> int:
    return int(params[f"{stack_prefix}/self_attention/query/w"].shape[0])


def is_flax_npz(weights) -> bool:
    return isinstance(weights, (str, Path)) and str(weights).endswith(".npz")


__all__ = [
    "read_npz",
    "vision_config_and_state",
    "stacked_layers",
    "is_flax_npz",
    "layer_count",
    "find_vision_prefix",
]
