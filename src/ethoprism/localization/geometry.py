"""Mapping between original frame pixels and the square model input (crop or pad, see
:class:`ethoprism.clips.ClipSpec`), so boxes predicted on the token grid land on the video."""

from __future__ import annotations

import numpy as np


def input_transform(width: int, height: int, size: int, square: str) -> tuple[float, float, float]:
    """-> (scale, offset_x, offset_y): input = original * scale - offset (crop) / + offset (pad)."""
    if square == "crop":
        side = min(width, height)
        return size / side, (width - side) / 2 * size / side, (height - side) / 2 * size / side
    side = max(width, height)
    return size / side, -(side - width) / 2 * size / side, -(side - height) / 2 * size / side


def to_input(xyxy: np.ndarray, width: int, height: int, size: int, square: str) -> np.ndarray:
    scale, ox, oy = input_transform(width, height, size, square)
    out = np.asarray(xyxy, np.float64) * scale
    out[..., [0, 2]] -= ox
    out[..., [1, 3]] -= oy
    return out


def to_frame(xyxy: np.ndarray, width: int, height: int, size: int, square: str) -> np.ndarray:
    scale, ox, oy = input_transform(width, height, size, square)
    out = np.asarray(xyxy, np.float64).copy()
    out[..., [0, 2]] += ox
    out[..., [1, 3]] += oy
    return out / scale
