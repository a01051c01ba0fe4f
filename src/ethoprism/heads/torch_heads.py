"""Heads trained with PyTorch: MLP, attentive probe and temporal head.

All share one training loop (:mod:`ethoprism.heads.training`; AdamW, class-weighted loss, seeded) and
store their learned weights in ``state_`` (a state dict), which is saved with safetensors.

* :class:`MLPHead` — per frame, one hidden layer.
* :class:`AttentiveProbe` — a learned query attends over the per-frame embeddings of a window of
  ``window`` frames centred on the target frame (the way VideoPrism's own classifier pools
  tokens), then a linear layer.
* :class:`TemporalHead` — a small dilated 1-D convolutional network over each video's sequence
  of per-frame embeddings (receptive field ``1 + 2·Σ dilations`` frames), for the wider temporal
  context that fast behaviours need.
* :class:`AttentiveTokensHead` — the official frozen-VideoPrism classifier's design on
  spatio-temporal tokens: a learned query attends over all ``window × grid²`` tokens of a window of
  frames (each frame's token map pooled to ``grid × grid`` at extraction, ``--token-grid``), with
  learned spatial and temporal position embeddings, then a linear layer. Rows of ``X`` are a
  frame's flattened ``[grid, grid, D]`` map.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ethoprism.heads.base import (
    HeadMixin,
    as_targets,
    balanced_weights,
    exclusive_index,
    labelled_rows,
    sequences,
)
from ethoprism.heads.training import optimise


class _MLP(nn.Module):
    def __init__(self, dim, hidden, out, dropout):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out)
        )

    def forward(self, x):  # [N, D]
        return self.net(x)


class _Attentive(nn.Module):
    def __init__(self, dim, hidden, out, heads, dropout):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.project = nn.Linear(dim, hidden)
        self.position = nn.Parameter(torch.zeros(1, 1, hidden))
        self.query = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Dropout(dropout), nn.Linear(hidden, out))

    def forward(self, windows, offsets_embedding):  # [N, W, D], [W, hidden]
        tokens = self.project(self.norm(windows)) + offsets_embedding[None]
        pooled, _ = self.attention(self.query.expand(len(windows), -1, -1), tokens, tokens)
        # the target frame's own token is added back so the window refines, not replaces, it
        return self.out(pooled[:, 0] + tokens[:, windows.shape[1] // 2])


class _TCN(nn.Module):
    def __init__(self, dim, hidden, out, dilations, dropout):
        super().__init__()
        self.input = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden))
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(hidden, hidden, 3, padding=d, dilation=d, padding_mode="replicate"),
                nn.GELU(),
                nn.Dropout(dropout),
            )
            for d in dilations
        )
        self.out = nn.Linear(hidden, out)

    def forward(self, sequence):  # [1, T, D] -> [1, T, out]
        x = self.input(sequence).transpose(1, 2)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x.transpose(1, 2))


class _TorchHead(HeadMixin):
    def _targets(self, y):
        """-> (targets, class weights); unlabelled rows get index -100 / NaN and no loss."""
        y = as_targets(y)
        known = labelled_rows(y)
        if self.exclusive:
            index = exclusive_index(np.maximum(y, 0))
            weights = balanced_weights(np.bincount(index[known], minlength=y.shape[1] + 1))
            index[~known] = -100
            return torch.as_tensor(index, dtype=torch.long), torch.as_tensor(weights, dtype=torch.float32)
        positives = y[known].sum(axis=0)
        pos_weight = np.where(positives > 0, (known.sum() - positives) / np.maximum(positives, 1), 1.0)
        y = y.copy()
        y[~known] = np.nan
        return torch.as_tensor(y), torch.as_tensor(np.clip(pos_weight, 0, 100), dtype=torch.float32)

    def _loss(self, weights):
        if self.exclusive:
            return nn.CrossEntropyLoss(weight=weights, ignore_index=-100)
        bce = nn.BCEWithLogitsLoss(pos_weight=weights, reduction="none")

        def masked(logits, target):
            known = ~torch.isnan(target)
            return bce(logits, torch.nan_to_num(target))[known].mean() if known.any() else logits.sum() * 0

        return masked

    def _probabilities(self, logits: torch.Tensor) -> np.ndarray:
        if self.exclusive:
            return torch.softmax(logits, dim=-1)[..., 1:].numpy()
        return torch.sigmoid(logits).numpy()

    def _out_dim(self):
        return self.n_behaviors_ + (1 if self.exclusive else 0)

    def _begin(self, X, y, dtype=np.float32):
        torch.manual_seed(self.random_state)
        X = np.asarray(X, dtype)
        self.n_features_in_ = X.shape[1]
        self.n_behaviors_ = np.asarray(y).shape[1]
        self.classes_ = np.arange(self.n_behaviors_)
        return torch.as_tensor(X)

    def _optimise(self, module, n_items: int, batch_size: int, min_steps: int, batch_loss):
        """:func:`~ethoprism.heads.training.optimise` with this head's settings; ``batch_loss(indices)``."""
        self.state_ = optimise(
            module,
            n_items,
            batch_size,
            lambda batch, _: batch_loss(batch),
            epochs=self.epochs,
            min_steps=min_steps,
            lr=self.lr,
            weight_decay=self.weight_decay,
            random_state=self.random_state,
        )
        self._module = module
        return self

    def _restored_module(self):
        if getattr(self, "_module", None) is None:
            module = self._build()
            module.load_state_dict(self.state_)
            self._module = module.eval()
        return self._module

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_module", None)
        return state


class MLPHead(_TorchHead):
    def __init__(
        self,
        exclusive: bool = True,
        hidden: int = 256,
        dropout: float = 0.2,
        epochs: int = 30,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        min_steps: int = 300,
        random_state: int = 0,
    ):
        self.exclusive, self.hidden, self.dropout, self.epochs, self.min_steps = (
            exclusive,
            hidden,
            dropout,
            epochs,
            min_steps,
        )
        self.batch_size, self.lr, self.weight_decay, self.random_state = (
            batch_size,
            lr,
            weight_decay,
            random_state,
        )

    def _build(self):
        return _MLP(self.n_features_in_, self.hidden, self._out_dim(), self.dropout)

    def fit(self, X, y, groups=None):
        keep = labelled_rows(y)
        X = self._begin(np.asarray(X)[keep], np.asarray(y)[keep])
        target, weights = self._targets(np.asarray(y)[keep])
        module, loss_fn = self._build(), self._loss(weights)
        return self._optimise(
            module,
            len(X),
            self.batch_size,
            self.min_steps,
            lambda batch: loss_fn(module(X[batch]), target[batch]),
        )

    @torch.inference_mode()
    def predict_proba(self, X, groups=None):
        X = torch.as_tensor(self._check_dim(X))
        module = self._restored_module()
        return (
            np.concatenate([self._probabilities(module(chunk)) for chunk in X.split(65536)])
            if len(X)
            else np.zeros((0, self.n_behaviors_), np.float32)
        )


def _window_indices(groups, n: int, window: int) -> np.ndarray:
    """For every row, the rows of the ``window`` frames centred on it (clamped within its video)."""
    offsets = np.arange(window) - window // 2
    index = np.empty((n, window), np.int64)
    for rows in sequences(groups, n):
        position = np.clip(np.arange(len(rows))[:, None] + offsets[None, :], 0, len(rows) - 1)
        index[rows] = rows[position]
    return index


class AttentiveProbe(_TorchHead):
    def __init__(
        self,
        exclusive: bool = True,
        window: int = 16,
        hidden: int = 128,
        heads: int = 4,
        dropout: float = 0.1,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        min_steps: int = 300,
        random_state: int = 0,
    ):
        self.exclusive, self.window, self.hidden, self.heads, self.dropout = (
            exclusive,
            window,
            hidden,
            heads,
            dropout,
        )
        self.min_steps = min_steps
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.random_state = random_state

    def _build(self):
        module = _Attentive(self.n_features_in_, self.hidden, self._out_dim(), self.heads, self.dropout)
        module.offsets = nn.Parameter(torch.zeros(self.window, self.hidden))
        return module

    def _forward(self, module, X, index):
        return module(X[index], module.offsets)

    def fit(self, X, y, groups=None):
        X = self._begin(X, y)
        target, weights = self._targets(y)
        index = torch.as_tensor(_window_indices(groups, len(X), self.window))
        module, loss_fn = self._build(), self._loss(weights)
        trainable = torch.as_tensor(np.flatnonzero(labelled_rows(y)))

        def batch_loss(batch):
            rows = index[trainable[batch]]
            return loss_fn(self._forward(module, X, rows), target[trainable[batch]])

        return self._optimise(module, len(trainable), self.batch_size, self.min_steps, batch_loss)

    @torch.inference_mode()
    def predict_proba(self, X, groups=None):
        X = torch.as_tensor(self._check_dim(X))
        index = torch.as_tensor(_window_indices(groups, len(X), self.window))
        module = self._restored_module()
        out = [self._probabilities(self._forward(module, X, chunk)) for chunk in index.split(4096)]
        return np.concatenate(out) if out else np.zeros((0, self.n_behaviors_), np.float32)


class TemporalHead(_TorchHead):
    def __init__(
        self,
        exclusive: bool = True,
        hidden: int = 128,
        dilations: tuple = (1, 2, 4, 8),
        dropout: float = 0.2,
        epochs: int = 60,
        chunk: int = 512,
        lr: float = 2e-3,
        weight_decay: float = 1e-3,
        random_state: int = 0,
    ):
        self.exclusive, self.hidden, self.dilations, self.dropout = exclusive, hidden, dilations, dropout
        self.epochs, self.chunk, self.lr, self.weight_decay, self.random_state = (
            epochs,
            chunk,
            lr,
            weight_decay,
            random_state,
        )

    @property
    def receptive_field(self) -> int:
        return 1 + 2 * int(sum(self.dilations))

    def _build(self):
        return _TCN(self.n_features_in_, self.hidden, self._out_dim(), list(self.dilations), self.dropout)

    def _chunks(self, groups, n):
        """Training pieces: each video cut into chunks of at most ``chunk`` frames."""
        pieces = []
        for rows in sequences(groups, n):
            pieces.extend(rows[i : i + self.chunk] for i in range(0, len(rows), self.chunk))
        return pieces

    def fit(self, X, y, groups=None):
        X = self._begin(X, y)
        target, weights = self._targets(y)
        module, loss_fn = self._build(), self._loss(weights)
        known = labelled_rows(y)
        pieces = [torch.as_tensor(p) for p in self._chunks(groups, len(X)) if known[p].any()]

        def piece_loss(batch):  # one piece (a chunk of one video) per step
            rows = pieces[int(batch[0])]
            return loss_fn(module(X[rows][None])[0], target[rows])

        return self._optimise(module, len(pieces), 1, 0, piece_loss)

    @torch.inference_mode()
    def predict_proba(self, X, groups=None):
        X = torch.as_tensor(self._check_dim(X))
        module = self._restored_module()
        out = np.zeros((len(X), self.n_behaviors_), np.float32)
        for rows in sequences(groups, len(X)):
            out[rows] = self._probabilities(module(X[torch.as_tensor(rows)][None])[0])
        return out


class _TokenAttention(nn.Module):
    def __init__(self, dim, hidden, out, heads, dropout, window, cells):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.project = nn.Linear(dim, hidden)
        self.space = nn.Parameter(torch.zeros(cells, hidden))
        self.time = nn.Parameter(torch.zeros(window, hidden))
        self.query = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Dropout(dropout), nn.Linear(hidden, out))

    def forward(self, windows):  # [N, W, cells, D]
        tokens = self.project(self.norm(windows.float())) + self.time[None, :, None] + self.space[None, None]
        tokens = tokens.flatten(1, 2)  # [N, W * cells, hidden]
        pooled, _ = self.attention(self.query.expand(len(tokens), -1, -1), tokens, tokens)
        return self.out(pooled[:, 0])


class AttentiveTokensHead(AttentiveProbe):
    def __init__(
        self,
        exclusive: bool = True,
        grid: int = 4,
        window: int = 8,
        hidden: int = 128,
        heads: int = 4,
        dropout: float = 0.1,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        min_steps: int = 300,
        random_state: int = 0,
    ):
        super().__init__(
            exclusive,
            window,
            hidden,
            heads,
            dropout,
            epochs,
            batch_size,
            lr,
            weight_decay,
            min_steps,
            random_state,
        )
        self.grid = grid

    @property
    def token_dim(self) -> int:
        return self.n_features_in_ // (self.grid * self.grid)

    def _begin(self, X, y):
        if np.shape(X)[1] % (self.grid * self.grid):
            raise ValueError(f"{np.shape(X)[1]} features are not {self.grid}x{self.grid} token maps")
        # token maps are large: kept in half precision, each batch widened to fp32 in the module
        return super()._begin(X, y, np.float16)

    def _build(self):
        cells = self.grid * self.grid
        return _TokenAttention(
            self.token_dim, self.hidden, self._out_dim(), self.heads, self.dropout, self.window, cells
        )

    def _forward(self, module, X, index):
        windows = X[index]  # [N, W, grid * grid * D]
        return module(windows.view(*index.shape, self.grid * self.grid, self.token_dim))

    @torch.inference_mode()
    def predict_proba(self, X, groups=None):
        X = torch.as_tensor(self._check_dim(X, np.float16))
        index = torch.as_tensor(_window_indices(groups, len(X), self.window))
        module = self._restored_module()
        out = [self._probabilities(self._forward(module, X, chunk)) for chunk in index.split(1024)]
        return np.concatenate(out) if out else np.zeros((0, self.n_behaviors_), np.float32)
