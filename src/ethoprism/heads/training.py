"""The one training loop of every torch head (MLP, attentive, temporal, box head): AdamW over
shuffled mini-batches, seeded, with a step budget that scales with the data."""

from __future__ import annotations

from collections.abc import Callable

import torch


def epochs_for(epochs: int, min_steps: int, n_items: int, batch_size: int, max_steps: int = 3000) -> int:
    """Epochs for at least ``min_steps`` optimiser steps (few-shot sets are tiny) and at most
    about ``max_steps`` (at 500,000 frames, 30 epochs would be 58,000 steps for no gain)."""
    steps_per_epoch = max(1, -(-n_items // batch_size))
    return max(1, min(max(epochs, -(-min_steps // steps_per_epoch)), -(-max_steps // steps_per_epoch)))


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
) -> dict:
    """Train ``module`` in place; ``batch_loss(indices, generator)`` gives the loss of a batch (the
    generator serves augmentation). The caller seeds torch before building ``module``; batch order
    and augmentation follow ``random_state``. Returns a detached copy of the learned state."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(random_state)
    module.train()
    for _ in range(epochs_for(epochs, min_steps, n_items, batch_size, max_steps)):
        for batch in torch.randperm(n_items, generator=generator).split(batch_size):
            optimizer.zero_grad()
            batch_loss(batch, generator).backward()
            optimizer.step()
    module.eval()
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
