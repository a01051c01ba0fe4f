"""Heads trained with PyTorch: MLP, attentive probe and temporal head.

All share one training loop (:mod:`ethoprism.heads.training`; AdamW, class-weighted loss, seeded,
early stopping on held-out stretches once there are thousands of labelled frames) and store their
learned weights in ``state_`` (a state dict), which is saved with safetensors. ``n_epochs_`` is
how many epochs the last ``fit`` ran; ``validation_rows_`` the rows of its ``X`` held out for early
stopping (None without), on which :class:`~ethoprism.heads.decision.ThresholdedHead` tunes.

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

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ethoprism.heads.base import (
    HeadMixin,
    as_targets,
    balanced_weights,
    exclusive_index,
    labelled_rows,
    sequences,
)
from ethoprism.heads.training import EARLY_STOPPING_MIN_ITEMS, held_out_blocks, optimise


class _MLP(nn.Module):
    def __init__(self, dim, hidden, out, dropout):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out)
        )

    def forward(self, x):  # [N, D]
        return self.net(x)


def attend_with_one_query(attention: nn.MultiheadAttention, query: torch.Tensor, tokens: torch.Tensor):
    """``attention(query, tokens, tokens)`` for one learned query ``[1, 1, hidden]`` over
    ``tokens [N, T, hidden]`` -> ``[N, hidden]``, without projecting every token to keys and
    values: with a single query, a token's score is one dot product with ``W_k^T q`` and the
    output is ``W_v`` applied to the score-weighted mean of the tokens. The same function (same
    parameters, same dropout on the attention weights), at a fraction of the work: the heads
    attend over 16 to 128 tokens per frame, and projecting each of them was most of the cost."""
    hidden, heads = attention.embed_dim, attention.num_heads
    width = hidden // heads
    w_query, w_key, w_value = attention.in_proj_weight.chunk(3)
    b_query, b_key, b_value = attention.in_proj_bias.chunk(3)
    q = (query.reshape(1, hidden) @ w_query.T + b_query).view(heads, width)
    key_direction = torch.einsum("hd,hde->he", q, w_key.view(heads, width, hidden))  # [heads, hidden]
    scores = (tokens @ key_direction.T + (q * b_key.view(heads, width)).sum(-1)) / math.sqrt(width)
    weights = F.dropout(torch.softmax(scores, dim=1), attention.dropout, attention.training)  # [N, T, heads]
    mixed = torch.einsum("nth,nte->nhe", weights, tokens)
    values = torch.einsum("nhe,hde->nhd", mixed, w_value.view(heads, width, hidden))
    values = values + b_value.view(heads, width) * weights.sum(1)[..., None]  # sum is 1 without dropout
    return attention.out_proj(values.reshape(len(tokens), hidden))


class _Attentive(nn.Module):
    def __init__(self, dim, hidden, out, heads, dropout):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.project = nn.Linear(dim, hidden)
        self.position = nn.Parameter(torch.zeros(1, 1, hidden))
        self.query = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Dropout(dropout), nn.Linear(hidden, out))

    def embed(self, frames):  # [U, D] -> [U, hidden]
        return self.project(self.norm(frames))

    def forward(self, embedded_windows, offsets_embedding):  # [N, W, hidden], [W, hidden]
        tokens = embedded_windows + offsets_embedding[None]
        pooled = attend_with_one_query(self.attention, self.query, tokens)
        # the target frame's own token is added back so the window refines, not replaces, it
        return self.out(pooled + tokens[:, tokens.shape[1] // 2])


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

    def _held_out(self, n_frames: int, n_items: int, block: int) -> torch.Tensor | None:
        """Items held out for early stopping (``block`` items at a time), or None: with
        ``early_stopping="auto"`` only from :data:`EARLY_STOPPING_MIN_ITEMS` labelled frames on."""
        wanted = self.early_stopping
        if wanted == "auto":
            wanted = n_frames >= EARLY_STOPPING_MIN_ITEMS
        elif not isinstance(wanted, bool):
            raise ValueError(f"early_stopping must be True, False or 'auto', not {wanted!r}")
        if not wanted:
            return None
        mask = held_out_blocks(n_items, self.validation_fraction, block, self.random_state)
        if mask.all() or not mask.any():
            return None
        return torch.as_tensor(np.flatnonzero(mask))

    def _optimise(
        self,
        module,
        n_items: int,
        batch_size: int,
        min_steps: int,
        batch_loss,
        validation=None,
        item_rows=None,
    ):
        """:func:`~ethoprism.heads.training.optimise` with this head's settings; ``batch_loss(indices)``;
        ``item_rows(items)``: the rows of ``X`` that these training items cover."""
        self.validation_rows_ = (
            None if validation is None else np.sort(np.asarray(item_rows(validation.numpy())))
        )
        self.state_, self.n_epochs_ = optimise(
            module,
            n_items,
            batch_size,
            lambda batch, _: batch_loss(batch),
            epochs=self.epochs,
            min_steps=min_steps,
            lr=self.lr,
            weight_decay=self.weight_decay,
            random_state=self.random_state,
            validation=validation,
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
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        random_state: int = 0,
    ):
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
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
            self._held_out(len(X), len(X), block=256),
            lambda items: np.flatnonzero(keep)[items],
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
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        min_steps: int = 600,
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        random_state: int = 0,
    ):
        self.exclusive, self.window, self.hidden, self.heads, self.dropout = (
            exclusive,
            window,
            hidden,
            heads,
            dropout,
        )
        self.min_steps, self.early_stopping, self.validation_fraction = (
            min_steps,
            early_stopping,
            validation_fraction,
        )
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.random_state = random_state

    def _build(self):
        module = _Attentive(self.n_features_in_, self.hidden, self._out_dim(), self.heads, self.dropout)
        module.offsets = nn.Parameter(torch.zeros(self.window, self.hidden))
        return module

    def _forward(self, module, X, index):
        # each frame is normalised and projected once, however many windows of the batch hold it
        frames, position = torch.unique(index, return_inverse=True)
        embedded = module.embed(X[frames])
        return module(embedded.index_select(0, position.flatten()).view(*position.shape, -1), module.offsets)

    def fit(self, X, y, groups=None):
        X = self._begin(X, y)
        target, weights = self._targets(y)
        index = torch.as_tensor(_window_indices(groups, len(X), self.window))
        module, loss_fn = self._build(), self._loss(weights)
        trainable = torch.as_tensor(np.flatnonzero(labelled_rows(y)))
        # training items are runs of `window` consecutive labelled frames: the windows of a run
        # overlap, so a batch of runs projects ~2 frames per target instead of `window`
        runs = trainable.split(self.window)

        def batch_loss(batch):
            targets = torch.cat([runs[i] for i in batch.tolist()])
            return loss_fn(self._forward(module, X, index[targets]), target[targets])

        return self._optimise(
            module,
            len(runs),
            max(1, self.batch_size // self.window),
            self.min_steps,
            batch_loss,
            self._held_out(len(trainable), len(runs), block=max(1, 256 // self.window)),
            lambda items: torch.cat([runs[i] for i in items]),
        )

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
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        random_state: int = 0,
    ):
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
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

        validation = self._held_out(int(known.sum()), len(pieces), block=1)
        return self._optimise(
            module,
            len(pieces),
            1,
            0,
            piece_loss,
            validation,
            lambda items: torch.cat([pieces[i] for i in items]),
        )

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

    def embed(self, frames):  # [U, cells, D] -> [U, cells, hidden]
        return self.project(self.norm(frames.float())) + self.space[None]

    def forward(self, embedded_windows):  # [N, W, cells, hidden]
        tokens = (embedded_windows + self.time[None, :, None]).flatten(1, 2)  # [N, W * cells, hidden]
        return self.out(attend_with_one_query(self.attention, self.query, tokens))


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
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        min_steps: int = 300,
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        random_state: int = 0,
        tokens: int | None = None,
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
            early_stopping,
            validation_fraction,
            random_state,
        )
        self.grid = grid
        self.tokens = tokens

    @property
    def cells(self) -> int:
        """Tokens per frame: a ``grid x grid`` map, or ``tokens`` (per-animal rows: the animal,
        the frame, the other animals and the social features, ``dataset.animal_token_set``)."""
        return self.tokens or self.grid * self.grid

    @property
    def token_dim(self) -> int:
        return self.n_features_in_ // self.cells

    def _begin(self, X, y):
        if np.shape(X)[1] % self.cells:
            raise ValueError(f"{np.shape(X)[1]} features are not {self.cells} tokens")
        # token maps are large: kept in half precision, each batch widened to fp32 in the module
        return super()._begin(X, y, np.float16)

    def _build(self):
        return _TokenAttention(
            self.token_dim, self.hidden, self._out_dim(), self.heads, self.dropout, self.window, self.cells
        )

    def _forward(self, module, X, index):
        frames, position = torch.unique(index, return_inverse=True)
        maps = X[frames].view(len(frames), self.cells, self.token_dim)
        embedded = module.embed(maps)
        return module(embedded.index_select(0, position.flatten()).view(*position.shape, *embedded.shape[1:]))

    @torch.inference_mode()
    def predict_proba(self, X, groups=None):
        X = torch.as_tensor(self._check_dim(X, np.float16))
        index = torch.as_tensor(_window_indices(groups, len(X), self.window))
        module = self._restored_module()
        out = [self._probabilities(self._forward(module, X, chunk)) for chunk in index.split(1024)]
        return np.concatenate(out) if out else np.zeros((0, self.n_behaviors_), np.float32)
