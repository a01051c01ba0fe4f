"""A CenterNet-style box head on frozen spatial tokens.

Per token: an objectness logit (is an animal's centre in this cell?) and a box (centre offset in
the cell, log width and height in cells). A 3x3 convolution gives each cell its neighbours'
context. Training: penalty-reduced focal loss on a Gaussian heatmap (CenterNet) plus L1 on the
box at centre cells. Decoding: cells above ``min_score``, then non-maximum suppression on box IoU (not on
neighbouring cells, so two animals side by side in adjacent cells are both kept). Coordinates are model-input
pixels; :mod:`ethoprism.localization.geometry` maps them to the video's frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import BaseEstimator
from torch import nn

import ethoprism
from ethoprism.errors import EthoprismError, validated
from ethoprism.heads.training import optimise
from ethoprism.io.model_files import load_model, model_paths, save_model


class BoxHeadFile(BaseModel):
    """The JSON half of a box head file."""

    model_config = ConfigDict(extra="forbid")
    format: str
    ethoprism_version: str
    params: dict
    grid: list[int] = Field(min_length=2, max_length=2)
    n_features_in: int = Field(gt=0)
    input_size: int = Field(gt=0)
    embeddings: dict
    weights_file: str | None = None
    weights_sha256: str | None = None
    # video -> inclusive [first, last] frame ranges the head was fitted on: evaluation leaves them out
    trained_frames: dict[str, list[list[int]]] | None = None


class _Net(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.project = nn.Linear(dim, hidden)
        self.context = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.out = nn.Conv2d(hidden, 5, 1)
        nn.init.constant_(self.out.bias[:1], -2.2)  # start with a low objectness everywhere

    def forward(self, tokens):  # [N, h, w, D] -> [N, 5, h, w]
        x = torch.nn.functional.gelu(self.project(self.norm(tokens))).permute(0, 3, 1, 2)
        return self.out(torch.nn.functional.gelu(self.context(x)) + x)


def _targets(boxes: list[np.ndarray], grid: tuple[int, int], cell: float):
    """Heatmap [N, h, w], regression [N, 4, h, w] and its mask [N, h, w]."""
    n, (gh, gw) = len(boxes), grid
    heat = np.zeros((n, gh, gw), np.float32)
    regression = np.zeros((n, 4, gh, gw), np.float32)
    mask = np.zeros((n, gh, gw), np.float32)
    yy, xx = np.mgrid[0:gh, 0:gw]
    for i, frame_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in frame_boxes:
            cx, cy = (x0 + x1) / 2 / cell, (y0 + y1) / 2 / cell
            col, row = int(np.clip(cx, 0, gw - 1e-6)), int(np.clip(cy, 0, gh - 1e-6))
            sigma = max(0.5, 0.25 * max(x1 - x0, y1 - y0) / cell)
            heat[i] = np.maximum(heat[i], np.exp(-((xx - col) ** 2 + (yy - row) ** 2) / (2 * sigma**2)))
            regression[i, :, row, col] = (
                cx - col,
                cy - row,
                np.log(max(x1 - x0, 1) / cell),
                np.log(max(y1 - y0, 1) / cell),
            )
            mask[i, row, col] = 1
    return heat, regression, mask


def _focal(logits, heat, alpha=2.0, beta=4.0):
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = heat >= 1 - 1e-6
    pos_loss = -((1 - p) ** alpha * torch.log(p))[positive].sum()
    neg_loss = -((1 - heat) ** beta * p**alpha * torch.log(1 - p))[~positive].sum()
    return (pos_loss + neg_loss) / positive.sum().clamp(min=1)


def _augment(tokens, heat, regression, mask, generator):
    """Random flips and transposition of the token grid with matching targets. Top-down arenas
    have no preferred orientation, so this teaches the head appearance instead of positions."""
    if torch.rand(1, generator=generator) < 0.5:  # left-right: cx -> w - cx
        tokens, heat, mask = tokens.flip(2), heat.flip(-1), mask.flip(-1)
        regression = regression.flip(-1)
        regression = torch.stack(
            [1 - regression[:, 0], regression[:, 1], regression[:, 2], regression[:, 3]], 1
        )
    if torch.rand(1, generator=generator) < 0.5:  # up-down: cy -> h - cy
        tokens, heat, mask = tokens.flip(1), heat.flip(-2), mask.flip(-2)
        regression = regression.flip(-2)
        regression = torch.stack(
            [regression[:, 0], 1 - regression[:, 1], regression[:, 2], regression[:, 3]], 1
        )
    if tokens.shape[1] == tokens.shape[2] and torch.rand(1, generator=generator) < 0.5:  # transpose: x <-> y
        tokens, heat, mask = tokens.transpose(1, 2), heat.transpose(-1, -2), mask.transpose(-1, -2)
        regression = regression.transpose(-1, -2)[:, [1, 0, 3, 2]]
    return tokens, heat, regression * mask.unsqueeze(1), mask


class BoxHead(BaseEstimator):
    """A scikit-learn estimator: ``fit(tokens, boxes, input_size=...)`` with tokens
    ``[N, h, w, D]`` and ``boxes[i]`` ``[m, 4]`` (x0 y0 x1 y1 in input pixels); ``predict(tokens)``
    -> per frame (boxes, scores). Trained by the torch heads' loop
    (:func:`~ethoprism.heads.training.optimise`). Learned: ``state_``, ``grid_``,
    ``n_features_in_``, ``input_size_``."""

    def __init__(
        self,
        hidden: int = 128,
        epochs: int = 40,
        batch_size: int = 32,
        lr: float = 2e-3,
        weight_decay: float = 1e-3,
        min_score: float = 0.3,
        max_detections: int = 10,
        nms_iou: float = 0.5,
        augment: bool = True,
        random_state: int = 0,
    ):
        self.hidden, self.epochs, self.batch_size, self.lr = hidden, epochs, batch_size, lr
        self.weight_decay, self.min_score, self.max_detections, self.random_state = (
            weight_decay,
            min_score,
            max_detections,
            random_state,
        )
        self.nms_iou, self.augment = nms_iou, augment

    def fit(self, X, y, input_size: int) -> BoxHead:
        torch.manual_seed(self.random_state)
        tokens = torch.as_tensor(np.asarray(X, np.float32))
        self.grid_ = tuple(int(v) for v in tokens.shape[1:3])
        self.n_features_in_ = int(tokens.shape[3])
        self.input_size_ = int(input_size)
        cell = input_size / self.grid_[1]
        heat, regression, mask = (torch.as_tensor(a) for a in _targets(y, self.grid_, cell))
        net = _Net(self.n_features_in_, self.hidden)

        def batch_loss(batch, generator):
            x, h, r, m = tokens[batch], heat[batch], regression[batch], mask[batch]
            if self.augment:
                x, h, r, m = _augment(x, h, r, m, generator)
            out = net(x)
            m = m.unsqueeze(1)
            return _focal(out[:, 0], h) + (torch.abs(out[:, 1:] - r) * m).sum() / m.sum().clamp(min=1)

        self.state_, _ = optimise(
            net,
            len(tokens),
            self.batch_size,
            batch_loss,
            epochs=self.epochs,
            min_steps=300,
            lr=self.lr,
            weight_decay=self.weight_decay,
            random_state=self.random_state,
        )
        self._net = net
        return self

    def _network(self):
        if getattr(self, "_net", None) is None:
            net = _Net(self.n_features_in_, self.hidden)
            net.load_state_dict(self.state_)
            self._net = net.eval()
        return self._net

    @torch.inference_mode()
    def predict(self, tokens: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """-> per frame (boxes [m, 4] in input pixels, scores [m])."""
        tokens = np.asarray(tokens, np.float32)
        if tokens.shape[1:] != (*self.grid_, self.n_features_in_):
            raise EthoprismError(
                f"tokens of shape {tokens.shape[1:]} do not fit this head "
                f"(trained on {(*self.grid_, self.n_features_in_)})"
            )
        cell = self.input_size_ / self.grid_[1]
        results = []
        for chunk in range(0, len(tokens), 256):
            out = self._network()(torch.as_tensor(tokens[chunk : chunk + 256]))
            heat = torch.sigmoid(out[:, 0])
            for i in range(len(out)):
                score = heat[i].flatten()
                order = torch.argsort(score, descending=True)[: 4 * self.max_detections]
                order = order[score[order] >= self.min_score]
                rows, cols = order // self.grid_[1], order % self.grid_[1]
                dx, dy, lw, lh = (out[i, 1 + j][rows, cols] for j in range(4))
                cx, cy = (cols + dx) * cell, (rows + dy) * cell
                w, h = torch.exp(lw) * cell, torch.exp(lh) * cell
                boxes = (
                    torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1)
                    .numpy()
                    .astype(np.float64)
                )
                keep = _nms(boxes, self.nms_iou)[: self.max_detections]
                results.append((boxes[keep], score[order].numpy().astype(np.float64)[keep]))
        return results

    def save(self, path, provenance: dict, trained_frames: dict | None = None) -> Path:
        meta = {
            "format": BOX_HEAD_FORMAT,
            "ethoprism_version": ethoprism.__version__,
            "params": self.get_params(),
            "grid": list(self.grid_),
            "n_features_in": self.n_features_in_,
            "input_size": self.input_size_,
            "embeddings": provenance,
            "trained_frames": trained_frames,
        }
        return save_model(path, self.state_, meta)

    @classmethod
    def load(cls, path) -> tuple[BoxHead, dict]:
        """-> (fitted head, metadata); the JSON is validated against :class:`BoxHeadFile` and the
        arrays must fit the network its parameters describe."""
        state, meta = load_model(path, BOX_HEAD_FORMAT, "box head")
        where = model_paths(path)[0]
        header = validated(BoxHeadFile, meta, "box head file", where)
        unknown = sorted(set(header.params) - set(cls().get_params()))
        if unknown:
            raise EthoprismError(f"box head file does not fit: unknown params {unknown}", where)
        try:
            head = cls(**header.params)
            head.grid_, head.n_features_in_, head.input_size_ = (
                tuple(header.grid),
                header.n_features_in,
                header.input_size,
            )
            head.state_ = state
            head._network()
        except (TypeError, ValueError, RuntimeError, KeyError) as exc:
            raise EthoprismError(
                f"box head file does not fit its parameters ({exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0][:200]})",
                where,
            ) from None
        return head, meta

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_net", None)
        return state


BOX_HEAD_FORMAT = "ethoprism-box-head/1"


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def _nms(boxes: np.ndarray, max_iou: float) -> list[int]:
    """Greedy non-maximum suppression; ``boxes`` are already in descending score order."""
    keep: list[int] = []
    overlap = iou_matrix(boxes, boxes)
    for i in range(len(boxes)):
        if all(overlap[i, j] <= max_iou for j in keep):
            keep.append(i)
    return keep


def link_tracks(detections: list[np.ndarray], min_iou: float = 0.1) -> list[np.ndarray]:
    """Identity linking: Hungarian matching on IoU between consecutive frames; unmatched
    detections start new tracks. -> track id per detection, per frame."""
    from scipy.optimize import linear_sum_assignment

    next_id, previous, previous_ids, out = 0, np.zeros((0, 4)), np.zeros(0, int), []
    for boxes in detections:
        ids = np.full(len(boxes), -1)
        if len(boxes) and len(previous):
            overlap = iou_matrix(previous, boxes)
            rows, cols = linear_sum_assignment(-overlap)
            for r, c in zip(rows, cols):
                if overlap[r, c] >= min_iou:
                    ids[c] = previous_ids[r]
        for j in np.flatnonzero(ids < 0):
            ids[j] = next_id
            next_id += 1
        out.append(ids)
        previous, previous_ids = boxes, ids
    return out


def smooth_tracks(table, window: int = 3):
    """Moving average of each track's box coordinates over ``window`` detections."""
    if window <= 1 or table.empty:
        return table
    table = table.sort_values(["video", "track", "frame"]).copy()
    for column in ("x0", "y0", "x1", "y1"):
        table[column] = table.groupby(["video", "track"])[column].transform(
            lambda s: s.rolling(window, center=True, min_periods=1).mean()
        )
    return table.sort_values(["video", "frame", "track"]).reset_index(drop=True)
