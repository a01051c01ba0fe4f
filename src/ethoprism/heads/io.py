"""Saving and loading heads without pickle: ``<name>.safetensors`` (arrays) + ``<name>.json``
(class, hyper-parameters, behaviours, thresholds, post-processing and the provenance of the
embeddings the head was trained on). A head refuses embeddings from another backbone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import ethoprism
from ethoprism.errors import EthoprismError
from ethoprism.heads.linear import LinearProbe
from ethoprism.heads.torch_heads import AttentiveProbe, MLPHead, TemporalHead

HEADS = {"linear": LinearProbe, "mlp": MLPHead, "attentive": AttentiveProbe, "temporal": TemporalHead}
_NAME_OF = {cls: name for name, cls in HEADS.items()}


def make_head(kind: str, exclusive: bool = True, **params):
    if kind not in HEADS:
        raise EthoprismError(f"unknown head '{kind}'; choose one of: {', '.join(HEADS)}")
    return HEADS[kind](exclusive=exclusive, **params)


def _paths(path) -> tuple[Path, Path]:
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    return base.with_suffix(".json"), base.with_suffix(".safetensors")


def save_head(head, path, behaviors: list[str], embedding_provenance: dict, postprocess: dict | None = None) -> Path:
    meta_path, tensor_path = _paths(path)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(head, LinearProbe):
        tensors = {k: torch.as_tensor(np.asarray(v)) for k, v in head._state().items()}
    else:
        tensors = {f"state.{k}": v.contiguous() for k, v in head.state_.items()}
        tensors["thresholds_"] = torch.as_tensor(head.thresholds_)
    save_file(tensors, str(tensor_path))
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in head.get_params().items()}
    meta = {"format": "ethoprism-head/1", "ethoprism_version": ethoprism.__version__, "head": _NAME_OF[type(head)],
            "params": params, "behaviors": list(behaviors), "n_features_in": int(head.n_features_in_),
            "postprocess": postprocess or {}, "embeddings": embedding_provenance}
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta_path


def load_head(path):
    """-> (head, metadata dict)."""
    meta_path, tensor_path = _paths(path)
    for needed in (meta_path, tensor_path):
        if not needed.exists():
            raise EthoprismError("head file does not exist (a head is a .json and a .safetensors file)", needed)
    try:
        meta = json.loads(meta_path.read_text())
        tensors = load_file(str(tensor_path))
    except Exception as exc:  # json and safetensors raise several unrelated types for corrupt files
        raise EthoprismError(f"unreadable head file ({exc.__class__.__name__}: {exc})", meta_path) from exc
    if meta.get("format") != "ethoprism-head/1":
        raise EthoprismError("not an ethoprism head file", meta_path)
    params = meta["params"]
    if "dilations" in params:
        params["dilations"] = tuple(params["dilations"])
    head = HEADS[meta["head"]](**params)
    head.n_features_in_ = meta["n_features_in"]
    head.n_behaviors_ = len(meta["behaviors"])
    head.thresholds_ = tensors["thresholds_"].numpy()
    if isinstance(head, LinearProbe):
        for name in ("mean_", "scale_", "coef_", "intercept_"):
            setattr(head, name, tensors[name].numpy())
    else:
        head.state_ = {k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")}
    return head, meta


def check_embeddings_match(meta: dict, provenance: dict, where: str) -> None:
    """Refuse embeddings made by another backbone, other weights or another clip spec."""
    trained = meta["embeddings"]
    for field, label in (("backbone", "backbone"), ("clip_spec", "clip spec")):
        if trained.get(field) != provenance.get(field):
            raise EthoprismError(f"head was trained on embeddings from {label} {trained.get(field)!r} but these come "
                                 f"from {provenance.get(field)!r}", where)
    if trained.get("weights", {}).get("sha256") != provenance.get("weights", {}).get("sha256") or \
            trained.get("weights", {}).get("model_id") != provenance.get("weights", {}).get("model_id"):
        raise EthoprismError("head was trained on embeddings from other weights of the same backbone", where)
