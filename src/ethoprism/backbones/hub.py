"""Loading transformers models from the Hugging Face hub, a local folder, or random init.

The local cache is tried first so that an offline machine with cached weights never waits on
the network; only then is the hub asked (unless ``HF_HUB_OFFLINE`` is set).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ethoprism.backbones.base import WeightsInfo, hash_files
from ethoprism.errors import EthoprismError


def random_init(model_cls, config, model_id: str, seed: int = 0):
    torch.manual_seed(seed)
    model = model_cls(config)
    return model, WeightsInfo("random-init", model_id, extra={"seed": seed, "config": config.to_diff_dict()})


def _check_complete(model, info: dict, expected_type: str, where: str):
    if model.config.model_type != expected_type:
        raise EthoprismError(
            f"weights are for model type '{model.config.model_type}', expected '{expected_type}'", where
        )
    missing = [key for key in info.get("missing_keys", []) if not key.endswith("position_ids")]
    if missing:
        raise EthoprismError(
            f"weights do not match this backbone: {len(missing)} parameters missing "
            f"(first: {sorted(missing)[0]})",
            where,
        )


def load_pretrained(
    model_cls,
    expected_type: str,
    backbone: str,
    hub_id: str,
    weights: str | Path | None,
    revision: str | None,
):
    """-> (model, WeightsInfo). ``weights``: None (default hub id), a local folder, or another hub id."""
    local = Path(weights) if weights is not None else None
    if local is not None and (local.exists() or str(weights).startswith((".", "/", "~"))):
        if not local.is_dir():
            raise EthoprismError(f"expected a folder with config.json and weights for {backbone}", local)
        try:
            model, info = model_cls.from_pretrained(
                str(local), local_files_only=True, output_loading_info=True
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise EthoprismError(f"cannot load {backbone} weights from this folder ({exc})", local) from exc
        _check_complete(model, info, expected_type, str(local))
        files = [p for p in local.iterdir() if p.suffix in (".safetensors", ".bin")]
        return model, WeightsInfo("local", str(local.resolve()), sha256=hash_files(files) if files else None)

    model_id = str(weights) if weights is not None else hub_id
    revision = revision or "main"
    attempts = [True] if os.environ.get("HF_HUB_OFFLINE") else [True, False]
    last_error: Exception | None = None
    for local_only in attempts:
        try:
            model, info = model_cls.from_pretrained(
                model_id, revision=revision, local_files_only=local_only, output_loading_info=True
            )
            break
        except (OSError, ValueError) as exc:
            last_error = exc
    else:
        raise EthoprismError(
            f"cannot load {backbone} weights: hub model '{model_id}' (revision {revision}) is not in the "
            f"local Hugging Face cache and the hub cannot be reached. On a machine with network run "
            f"`hf download {model_id} --revision {revision} --local-dir DIR`, then pass `--weights DIR`"
            + (" (or the official Flax .npz file)" if "videoprism" in backbone else ""),
            model_id,
        ) from last_error
    _check_complete(model, info, expected_type, model_id)
    commit = getattr(model.config, "_commit_hash", None)
    return model, WeightsInfo("hub", model_id, revision=commit or revision)
