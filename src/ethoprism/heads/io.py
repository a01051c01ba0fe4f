"""Saving and loading heads without pickle: ``<name>.json`` + its arrays (safetensors)
(class, hyper-parameters, behaviours, thresholds, post-processing and the provenance of the
embeddings the head was trained on). A head refuses embeddings from another backbone."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

import ethoprism
from ethoprism.errors import EthoprismError, validated
from ethoprism.heads.decision import ThresholdedHead
from ethoprism.heads.linear import LinearProbe
from ethoprism.heads.torch_heads import AttentiveProbe, AttentiveTokensHead, MLPHead, TemporalHead
from ethoprism.io.model_files import load_model, model_paths, save_model
from ethoprism.provenance import Provenance

HEADS = {
    "linear": LinearProbe,
    "mlp": MLPHead,
    "attentive": AttentiveProbe,
    "temporal": TemporalHead,
    "attentive-tokens": AttentiveTokensHead,
}
# heads that read every frame's pooled token grid (``extract --token-grid``) instead of its vector
TOKEN_HEADS = {"attentive-tokens"}
_NAME_OF = {cls: name for name, cls in HEADS.items()}
HEAD_FORMAT = "ethoprism-head/1"


def make_head(kind: str, exclusive: bool = True, **params):
    if kind not in HEADS:
        raise EthoprismError(f"unknown head '{kind}'; choose one of: {', '.join(HEADS)}")
    return HEADS[kind](exclusive=exclusive, **params)


def save_head(
    model: ThresholdedHead,
    path,
    behaviors: list[str],
    embedding_provenance: dict,
    targets: dict | None = None,
) -> Path:
    """A fitted :class:`ThresholdedHead`: the head's learned arrays, its thresholds, its
    hyper-parameters and post-processing, and the provenance of its training embeddings;
    ``targets``: per directed behaviour, how its target is chosen
    (:meth:`~ethoprism.heads.targets.TargetChooser.to_dict`)."""
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
    if targets:
        meta["targets"] = targets
    return save_model(path, tensors, meta)


class _Postprocess(BaseModel):
    model_config = ConfigDict(extra="forbid")
    smooth: int = Field(1, ge=1)
    min_bout: int = Field(1, ge=1)


class _TargetRule(BaseModel):
    """How one directed behaviour's target is chosen (:mod:`ethoprism.heads.targets`)."""

    model_config = ConfigDict(extra="forbid")
    rule: Literal["nearest", "learned"]
    mean: list[float] | None = None
    scale: list[float] | None = None
    coef: list[float] | None = None
    intercept: float | None = None

    @model_validator(mode="after")
    def _learned_rules_carry_their_model(self):
        from ethoprism.dataset import PAIR_FEATURES

        n_pair = len(PAIR_FEATURES)
        if self.rule == "learned":
            sizes = {len(v) for v in (self.mean, self.scale, self.coef) if v is not None}
            if self.intercept is None or None in (self.mean, self.scale, self.coef) or sizes != {n_pair}:
                raise ValueError(
                    f"a learned target rule needs mean, scale and coef of {n_pair} values and an intercept"
                )
        return self


class HeadFile(BaseModel):
    """The JSON half of a head file, validated before anything is built from it."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["ethoprism-head/1"]
    ethoprism_version: str
    head: Literal["linear", "mlp", "attentive", "temporal", "attentive-tokens"]
    params: dict
    behaviors: list[str] = Field(min_length=1)
    n_features_in: int = Field(gt=0)
    postprocess: _Postprocess = _Postprocess()
    embeddings: dict
    weights_file: str | None = None
    weights_sha256: str | None = None
    targets: dict[str, _TargetRule] | None = None


def _validated(meta: dict, tensors: dict, where) -> HeadFile:
    header = validated(HeadFile, meta, "head file", where)
    known = set(inspect.signature(HEADS[header.head]).parameters)
    unknown = sorted(set(header.params) - known)
    if unknown:
        raise EthoprismError(
            f"head file does not fit: params {unknown} are not parameters of the {header.head} head", where
        )
    n_behaviors = len(header.behaviors)
    strangers = sorted(set(header.targets or {}) - set(header.behaviors))
    if strangers:
        raise EthoprismError(
            f"head file does not fit: target rules for unknown behaviours {strangers}", where
        )
    thresholds = tensors.get("thresholds_")
    if thresholds is None or tuple(thresholds.shape) != (n_behaviors,):
        raise EthoprismError(
            f"head file does not fit: {n_behaviors} behaviours but thresholds of shape "
            f"{None if thresholds is None else tuple(thresholds.shape)}",
            where,
        )
    if header.head == "linear":
        rows = n_behaviors + (1 if header.params.get("exclusive", True) else 0)
        for name, shape in (
            ("coef_", (rows, header.n_features_in)),
            ("intercept_", (rows,)),
            ("mean_", (header.n_features_in,)),
            ("scale_", (header.n_features_in,)),
        ):
            if name not in tensors or tuple(tensors[name].shape) != shape:
                found = tuple(tensors[name].shape) if name in tensors else None
                raise EthoprismError(
                    f"head file does not fit: {name} has shape {found}, expected {shape} "
                    f"for {n_behaviors} behaviours",
                    where,
                )
    return header


def load_head(path) -> tuple[ThresholdedHead, dict]:
    """-> (fitted :class:`ThresholdedHead`, metadata dict). The file is validated first (its JSON
    against :class:`HeadFile`, its arrays against the behaviours it names)."""
    tensors, meta = load_model(path, HEAD_FORMAT, "head")
    header = _validated(meta, tensors, model_paths(path)[0])
    params = dict(header.params)
    if "dilations" in params:
        params["dilations"] = tuple(params["dilations"])
    try:
        head = HEADS[header.head](**params)
        head.n_features_in_ = header.n_features_in
        head.n_behaviors_ = len(header.behaviors)
        head.classes_ = np.arange(head.n_behaviors_)
        if isinstance(head, LinearProbe):
            for name in ("mean_", "scale_", "coef_", "intercept_"):
                setattr(head, name, tensors[name].numpy())
        else:
            head.state_ = {k[len("state.") :]: v for k, v in tensors.items() if k.startswith("state.")}
            head._restored_module()  # the weights must fit the network the parameters describe
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise EthoprismError(
            f"head file does not fit its parameters ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0][:200]})",
            model_paths(path)[0],
        ) from None
    thresholds = tensors["thresholds_"].numpy()
    model = ThresholdedHead(
        head,
        thresholds=thresholds.tolist(),
        smooth=header.postprocess.smooth,
        min_bout=header.postprocess.min_bout,
    )
    model.head_, model.thresholds_, model.n_features_in_ = head, thresholds, head.n_features_in_
    model.classes_ = head.classes_
    return model, meta


def check_embeddings_match(meta: dict, provenance: Provenance | dict, where: str) -> None:
    """Refuse embeddings made by another backbone, other weights or another clip spec."""
    trained = meta["embeddings"]
    if isinstance(provenance, Provenance):
        provenance = provenance.to_dict()
    # a per-animal token head's tokens are the animals of each row (``tokens``), not a grid
    reads_grids = meta.get("head") in TOKEN_HEADS and not meta["params"].get("tokens")
    if reads_grids and provenance.get("token_grid") != meta["params"].get("grid"):
        raise EthoprismError(
            f"head reads {meta['params'].get('grid')}x{meta['params'].get('grid')} token grids but these "
            f"embeddings hold {provenance.get('token_grid') or 'no'} grids (extract --token-grid)",
            where,
        )
    if reads_grids and (
        provenance.get("token_dim") != trained.get("token_dim")
        or provenance.get("token_basis") != trained.get("token_basis")
    ):
        raise EthoprismError(
            f"head reads token grids reduced to {trained.get('token_dim') or 'all'} dimensions "
            f"(PCA basis {trained.get('token_basis') or '-'}) but these hold "
            f"{provenance.get('token_dim') or 'all'} (basis {provenance.get('token_basis') or '-'}): "
            "extract with the head's --token-dim into the store it was trained on",
            where,
        )
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
