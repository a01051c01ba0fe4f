"""Saving and loading heads without pickle: ``<name>.safetensors`` (arrays) + ``<name>.json``
(class, hyper-parameters, behaviours, thresholds, post-processing and the provenance of the
embeddings the head was trained on). A head refuses embeddings from another backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import ethoprism
from ethoprism.errors import EthoprismError
from ethoprism.heads.decision import ThresholdedHead
from ethoprism.heads.linear import LinearProbe
from ethoprism.heads.torch_heads import AttentiveProbe, MLPHead, TemporalHead
from ethoprism.io.model_files import load_model, save_model
from ethoprism.provenance import Provenance

HEADS = {"linear": LinearProbe, "mlp": MLPHead, "attentive": AttentiveProbe, "temporal": TemporalHead}
_NAME_OF = {cls: name for name, cls in HEADS.items()}
HEAD_FORMAT = "ethoprism-head/1"


def make_head(kind: str, exclusive: bool = True, **params):
    if kind not in HEADS:
        raise EthoprismError(f"unknown head '{kind}'; choose one of: {', '.join(HEADS)}")
    return HEADS[kind](exclusive=exclusive, **params)


def save_head(model: ThresholdedHead, path, behaviors: list[str], embedding_provenance: dict) -> Path:
    """A fitted :class:`ThresholdedHead`: the head's learned arrays, its thresholds, its
    hyper-parameters and post-processing, and the provenance of its training embeddings."""
    head = model.head_
    if isinstance(head, LinearProbe):
        tensors = {k: torch.as_tensor(np.asarray(v)) for k, v in head._state().items()}
    else:
        tensors = {f"state.{k}": v for k, v in head.state_.items()}
    tensors["thresholds_"] = torch.as_tensor(np.asarray(model.thresholds_, np.float32))
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in head.get_params().items()}
    meta = {
        "format": HEAD_FORMAT,
        "ethoprism_version": ethoprism.__version__,
        "head": _NAME_OF[type(head)],
        "params": params,
        "behaviors": list(behaviors),
        "n_features_in": int(head.n_features_in_),
        "postprocess": {"smooth": model.smooth, "min_bout": model.min_bout},
        "embeddings": embedding_provenance,
    }
    return save_model(path, tensors, meta)


def load_head(path) -> tuple[ThresholdedHead, dict]:
    """-> (fitted :class:`ThresholdedHead`, metadata dict)."""
    tensors, meta = load_model(path, HEAD_FORMAT, "head")
    params = meta["params"]
    if "dilations" in params:
        params["dilations"] = tuple(params["dilations"])
    head = HEADS[meta["head"]](**params)
    head.n_features_in_ = meta["n_features_in"]
    head.n_behaviors_ = len(meta["behaviors"])
    head.classes_ = np.arange(head.n_behaviors_)
    if isinstance(head, LinearProbe):
        for name in ("mean_", "scale_", "coef_", "intercept_"):
            setattr(head, name, tensors[name].numpy())
    else:
        head.state_ = {k[len("state.") :]: v for k, v in tensors.items() if k.startswith("state.")}
    thresholds = tensors["thresholds_"].numpy()
    postprocess = meta.get("postprocess") or {}
    model = ThresholdedHead(
        head,
        thresholds=thresholds.tolist(),
        smooth=int(postprocess.get("smooth", 1)),
        min_bout=int(postprocess.get("min_bout", 1)),
    )
    model.head_, model.thresholds_, model.n_features_in_ = head, thresholds, head.n_features_in_
    model.classes_ = head.classes_
    return model, meta


def check_embeddings_match(meta: dict, provenance: Provenance | dict, where: str) -> None:
    """Refuse embeddings made by another backbone, other weights or another clip spec."""
    trained = meta["embeddings"]
    if isinstance(provenance, Provenance):
        provenance = provenance.to_dict()
    for field, label in (("backbone", "backbone"), ("clip_spec", "clip spec")):
        if trained.get(field) != provenance.get(field):
            raise EthoprismError(
                f"head was trained on embeddings from {label} {trained.get(field)!r} but these come "
                f"from {provenance.get(field)!r}",
                where,
            )
    if trained.get("weights", {}).get("sha256") != provenance.get("weights", {}).get("sha256") or trained.get(
        "weights", {}
    ).get("model_id") != provenance.get("weights", {}).get("model_id"):
        raise EthoprismError("head was trained on embeddings from other weights of the same backbone", where)
