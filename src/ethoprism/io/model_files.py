"""Trained models on disk without pickle: ``<name>.safetensors`` (arrays) + ``<name>.json``
(format tag, hyper-parameters, provenance). The JSON is written last, each file through a
temporary and a rename, so a model whose JSON exists is complete."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ethoprism.errors import EthoprismError


def model_paths(path) -> tuple[Path, Path]:
    """``h/mouse.day1`` -> ``h/mouse.day1.json`` + ``.safetensors`` (only our own suffixes are
    replaced, so names with dots never collide)."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    return base.parent / f"{base.name}.json", base.parent / f"{base.name}.safetensors"


def save_model(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    meta_path, tensor_path = model_paths(path)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = tensor_path.with_name(f"{tensor_path.name}.tmp-{os.getpid()}")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(temporary))
    os.replace(temporary, tensor_path)
    temporary = meta_path.with_name(f"{meta_path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(meta, indent=2))
    os.replace(temporary, meta_path)
    return meta_path


def load_model(path, fmt: str, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (tensors, metadata); the file must carry ``"format": fmt``."""
    meta_path, tensor_path = model_paths(path)
    for needed in (meta_path, tensor_path):
        if not needed.exists():
            raise EthoprismError(
                f"{what} file does not exist (a {what} is a .json and a .safetensors file)", needed
            )
    try:
        meta = json.loads(meta_path.read_text())
        tensors = load_file(str(tensor_path))
    except Exception as exc:  # json and safetensors raise several unrelated types for corrupt files
        raise EthoprismError(f"unreadable {what} file ({exc.__class__.__name__}: {exc})", meta_path) from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise EthoprismError(f"not an ethoprism {what} file", meta_path)
    return tensors, meta
