"""Test helper: write a transformers VideoPrism model in Google's official Flax ``.npz`` layout.

Written from the *semantics* of the official (Praxis) layers, independently of the loader:
attention ``w`` (D, N, H) is used as ``einsum('btd,dnh->btnh')`` for query/key/value and
``einsum('btnh,dnh->btd')`` for post; the patch projection flattens a patch in (row, col, rgb)
order; transformer stacks are scan-stacked on a leading layer axis.
"""

import numpy as np


def _np(t):
    return t.detach().cpu().numpy().astype(np.float32)


def attention_arrays(attention, heads):
    out = {}
    width = attention.q_proj.weight.shape[1]
    for name, proj in (("query", attention.q_proj), ("key", attention.k_proj), ("value", attention.v_proj)):
        out[f"self_attention/{name}/w"] = _np(proj.weight).T.reshape(width, heads, -1)
        out[f"self_attention/{name}/b"] = _np(proj.bias).reshape(heads, -1)
    out["self_attention/post/w"] = _np(attention.o_proj.weight).reshape(width, heads, -1)
    out["self_attention/post/b"] = _np(attention.o_proj.bias)
    return out


def layer_arrays(layer, heads):
    out = attention_arrays(layer.attention, heads)
    out["layer_norm/scale"] = _np(layer.layernorm_before.weight)
    out["layer_norm/bias"] = _np(layer.layernorm_before.bias)
    out["ff_layer/layer_norm/scale"] = _np(layer.layernorm_after.weight)
    out["ff_layer/layer_norm/bias"] = _np(layer.layernorm_after.bias)
    out["ff_layer/ffn_layer1/linear/kernel"] = _np(layer.mlp.fc1.weight).T
    out["ff_layer/ffn_layer1/linear/bias"] = _np(layer.mlp.fc1.bias)
    out["ff_layer/ffn_layer2/linear/kernel"] = _np(layer.mlp.fc2.weight).T
    out["ff_layer/ffn_layer2/linear/bias"] = _np(layer.mlp.fc2.bias)
    return out


def stack(layers, heads, prefix):
    per_layer = [layer_arrays(layer, heads) for layer in layers]
    return {f"{prefix}/{k}": np.stack([p[k] for p in per_layer]) for k in per_layer[0]}


def vision_arrays(model, prefix="params/"):
    cfg = model.config
    heads = cfg.num_attention_heads
    conv = model.spatial_embeddings.patch_embeddings.projection
    kernel = _np(conv.weight)[:, :, 0].transpose(2, 3, 1, 0).reshape(-1, cfg.hidden_size)  # (p*p*3, D)
    arrays = {
        f"{prefix}patch_projection/linear/kernel": kernel,
        f"{prefix}patch_projection/linear/bias": _np(conv.bias),
        f"{prefix}spatial_pos_emb/emb_var": _np(model.spatial_embeddings.position_embeddings)[0],
        f"{prefix}temporal_pos_emb/emb_var": _np(model.temporal_embeddings.position_embeddings)[0],
        f"{prefix}spatial_ln/scale": _np(model.layernorm1.weight),
        f"{prefix}spatial_ln/bias": _np(model.layernorm1.bias),
        f"{prefix}temporal_ln/scale": _np(model.layernorm2.weight),
        f"{prefix}temporal_ln/bias": _np(model.layernorm2.bias),
    }
    arrays.update(stack(model.spatial_layers, heads, f"{prefix}spatial_encoder/transformers_stack/x_layers"))
    arrays.update(
        stack(model.temporal_layers, heads, f"{prefix}temporal_encoder/transformers_stack/x_layers")
    )
    return arrays


def randomize_(model, seed=0):
    """Give every parameter (LayerNorm offsets and position tables included) non-trivial values."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model


def lvt_arrays(model):
    """A transformers ``VideoPrismClipModel`` in the official LvT ``.npz`` layout."""
    vision_cfg = model.config.vision_config
    text_cfg = model.config.text_config
    video = model.video_model
    arrays = vision_arrays(video.vision_model, prefix="params/vision_encoder/")
    arrays.update(
        stack(
            video.auxiliary_layers,
            vision_cfg.num_attention_heads,
            "params/auxiliary_encoder/transformers_stack/x_layers",
        )
    )
    head = video.head
    heads = vision_cfg.num_attention_heads
    width = vision_cfg.hidden_size
    pool = "params/contrastive_vision_pooler"
    for name, proj in (("query", head.q_proj), ("key", head.k_proj), ("value", head.v_proj)):
        arrays[f"{pool}/pooling_attention/{name}/w"] = _np(proj.weight).T.reshape(width, heads, -1)
        arrays[f"{pool}/pooling_attention/{name}/b"] = _np(proj.bias).reshape(heads, -1)
    arrays[f"{pool}/pooling_attention/post/w"] = _np(head.o_proj.weight).reshape(width, heads, -1)
    arrays[f"{pool}/pooling_attention/post/b"] = _np(head.o_proj.bias)
    arrays[f"{pool}/pooling_attention/per_dim_scale/per_dim_scale"] = _np(head.per_dim_scale)
    arrays[f"{pool}/pooling_attention_query"] = _np(head.pooling_attention_query).reshape(-1)
    arrays[f"{pool}/pooling_attention_layer_norm/scale"] = _np(video.head_layernorm.weight)
    arrays[f"{pool}/pooling_attention_layer_norm/bias"] = _np(video.head_layernorm.bias)
    text = model.text_model
    arrays["params/text_encoder/token_emb/emb_var"] = _np(text.embeddings.token_embedding.weight)
    arrays["params/text_encoder/cls_emb"] = _np(text.embeddings.cls_emb)
    arrays["params/text_encoder/unimodal_ln/scale"] = _np(text.layernorm.weight)
    arrays["params/text_encoder/unimodal_ln/bias"] = _np(text.layernorm.bias)
    arrays.update(
        stack(text.layers, text_cfg.num_attention_heads, "params/text_encoder/unimodal_transformer/x_layers")
    )
    return arrays
