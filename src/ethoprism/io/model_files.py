"""Trained models on disk without pickle: ``<name>.json`` (format tag, hyper-parameters,
provenance, and the name and sha256 of its arrays) + ``<name>.<hash>.safetensors`` (arrays). The
JSON is committed last by one rename, so a model whose JSON exists is complete and consistent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ethoprism.errors import EthoprismError
from ethoprism.provenance import file_sha256


def model_paths(path) -> tuple[Path, Path]:
    """``h/mouse.day1`` -> ``h/mouse.day1.json`` + ``.safetensors`` (only our own suffixes are
    replaced, so names with dots never collide)."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    return base.parent / f"{base.name}.json", base.parent / f"{base.name}.safetensors"


# a hook the fault tests set to kill the process between the steps of a save
SAVE_FAULT_HOOK = None


def _fault(step: str) -> None:
    if SAVE_FAULT_HOOK is not None:
        SAVE_FAULT_HOOK(step)


def save_model(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write the arrays under a name carrying their hash, then the JSON that names them: the
    JSON's rename is the one commit point, so a save killed at any step leaves the previous model
    (or none) loadable, never a JSON paired with another save's arrays."""
    meta_path, legacy_tensor_path = model_paths(path)
    if meta_path.is_dir():
        raise EthoprismError("a folder is in the way of the model file to write", meta_path)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    previous = _weights_file_of(meta_path) if meta_path.exists() else None
    temporary = meta_path.with_name(f"{meta_path.name}.tensors.tmp-{os.getpid()}")
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(temporary))
        digest = file_sha256(temporary)
        tensor_path = meta_path.with_name(f"{legacy_tensor_path.stem}.{digest[:16]}.safetensors")
        _fault("arrays written")
        os.replace(temporary, tensor_path)
        _fault("arrays committed")
        temporary = meta_path.with_name(f"{meta_path.name}.tmp-{os.getpid()}")
        temporary.write_text(
            json.dumps({**meta, "weights_file": tensor_path.name, "weights_sha256": digest}, indent=2)
        )
        _fault("json written")
        os.replace(temporary, meta_path)
    finally:
        temporary.unlink(missing_ok=True)
    _fault("json committed")
    for stale in (previous, legacy_tensor_path):
        if stale is not None and stale != tensor_path:
            stale.unlink(missing_ok=True)
    return meta_path


def _weights_file_of(meta_path: Path) -> Path | None:
    try:
        name = json.loads(meta_path.read_text()).get("weights_file")
    except (OSError, ValueError, AttributeError):
        return None
    return (
        meta_path.with_name(name) if isinstance(name, str) and "/" not in name and "\\" not in name else None
    )


def load_model(path, fmt: str | tuple[str, ...], what: str) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (tensors, metadata); the file must carry ``"format": fmt`` (or one of them)."""
    meta_path, legacy_tensor_path = model_paths(path)
    if not meta_path.is_file():
        raise EthoprismError(
            f"{what} file does not exist (a {what} is a .json and a .safetensors file)", meta_path
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise EthoprismError(f"unreadable {what} file ({exc.__class__.__name__}: {exc})", meta_path) from exc
    formats = (fmt,) if isinstance(fmt, str) else fmt
    if not isinstance(meta, dict) or meta.get("format") not in formats:
        raise EthoprismError(f"not an ethoprism {what} file", meta_path)
    name = meta.get("weights_file")
    if name is None:  # written before the arrays' names carried their hash
        tensor_path = legacy_tensor_path
    elif not isinstance(name, str) or Path(name).name != name:
        raise EthoprismError("'weights_file' must be a file name next to the head file", meta_path)
    else:
        tensor_path = meta_path.with_name(name)
    if not tensor_path.is_file():
        raise EthoprismError(
            f"the {what}'s arrays are missing (expected next to {meta_path.name})", tensor_path
        )
    if "weights_sha256" in meta and file_sha256(tensor_path) != meta["weights_sha256"]:
        raise EthoprismError(f"the {what}'s arrays do not match its JSON (damaged or replaced)", tensor_path)
    try:
        tensors = load_file(str(tensor_path))
    except Exception as exc:  # safetensors raises several unrelated types for corrupt files
        raise EthoprismError(
            f"unreadable {what} arrays ({exc.__class__.__name__}: {exc})", tensor_path
        ) from exc
    return tensors, meta
