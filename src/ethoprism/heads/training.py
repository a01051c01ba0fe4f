"""The one training loop of every torch head (MLP, attentive, temporal, box head): AdamW over
shuffled mini-batches, seeded, with a step budget that scales with the data and, on large
labelled sets, early stopping on held-out stretches of the training data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

# Early stopping needs a held-out set worth trusting; below this many training items (frames, or
# runs of frames) the step budget alone decides, and few-shot training uses every label.
EARLY_STOPPING_MIN_ITEMS = 4000


def epochs_for(epochs: int, min_steps: int, n_items: int, batch_size: int, max_steps: int = 3000) -> int:
    """Epochs for at least ``min_steps`` optimiser steps (few-shot sets are tiny) and at most
    about ``max_steps`` (at 500,000 frames, 30 epochs would be 58,000 steps for no gain)."""
    steps_per_epoch = max(1, -(-n_items // batch_size))
    return max(1, min(max(epochs, -(-min_steps // steps_per_epoch)), -(-max_steps // steps_per_epoch)))


def held_out_blocks(n_items: int, fraction: float, block: int, random_state: int) -> np.ndarray:
    """Boolean mask of items held out for early stopping: whole blocks of ``block`` consecutive
    items (neighbouring frames are near copies, so single held-out frames would measure memory,
    not generalisation), about ``fraction`` of them, spread over the data."""
    n_blocks = -(-n_items // block)
    every = max(2, round(1 / fraction))
    first = np.random.default_rng(random_state).integers(min(every, n_blocks))  # at least one block
    held = np.zeros(n_blocks, bool)
    held[first::every] = True
    return np.repeat(held, block)[:n_items]


def optimise(
    module: torch.nn.Module,
    n_items: int,
    batch_size: int,
    batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    *,
    epochs: int,
    min_steps: int,
    lr: float,
    weight_decay: float,
    random_state: int,
    max_steps: int = 3000,
    validation: torch.Tensor | None = None,
    n_iter_no_change: int = 2,
    tol: float = 1e-3,
) -> tuple[dict, int]:
    """Train ``module`` in place; ``batch_loss(indices, generator)`` gives the loss of a batch (the
    generator serves augmentation). The caller seeds torch before building ``module``; batch order
    and augmentation follow ``random_state``.

    ``validation``: indices of items held out of training. After every epoch their loss is
    measured; training stops once it has not improved by ``tol`` (relative) for
    ``n_iter_no_change`` epochs in a row, and the best epoch's weights are kept (scikit-learn's
    ``early_stopping``). Returns (a detached copy of the learned state, epochs run)."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(random_state)
    training = torch.arange(n_items)
    if validation is not None:
        keep = torch.ones(n_items, dtype=torch.bool)
        keep[validation] = False
        training = training[keep]
    best_loss, best_state, stale = float("inf"), None, 0
    n_epochs = epochs_for(epochs, min_steps, len(training), batch_size, max_steps)
    epochs_run = 0
    for _ in range(n_epochs):
        epochs_run += 1
        module.train()
        for batch in training[torch.randperm(len(training), generator=generator)].split(batch_size):
            optimizer.zero_grad()
            batch_loss(batch, generator).backward()
            optimizer.step()
        if validation is None:
            continue
        loss = _mean_loss(module, validation, batch_size, batch_loss)
        if loss < best_loss * (1 - tol):
            best_loss, stale = loss, 0
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            stale += 1
            if stale >= n_iter_no_change:
                break
    module.eval()
    if best_state is not None:
        module.load_state_dict(best_state)
    return {k: v.detach().clone() for k, v in module.state_dict().items()}, epochs_run


@torch.no_grad()
def _mean_loss(module, items: torch.Tensor, batch_size: int, batch_loss) -> float:
    module.eval()
    # a fixed generator: augmentation, if any, is the same at every check
    generator = torch.Generator().manual_seed(0)
    losses = [(float(batch_loss(batch, generator)), len(batch)) for batch in items.split(batch_size)]
    return sum(loss * n for loss, n in losses) / max(1, sum(n for _, n in losses))
