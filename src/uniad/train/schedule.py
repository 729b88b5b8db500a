"""Learning-rate schedule: linear warmup then cosine decay, as the release (REFERENCE.md s.4).

The release sets the rate by hand on every micro-batch from the optimizer-step index; we
express the same curve as a ``LambdaLR`` so that its position is part of the saved
optimizer state and a resumed run continues on exactly the same curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from uniad.errors import UniADError


@dataclass
class WarmupCosine:
    """Multiplier of the base rate at optimizer step ``step``.

    A callable object (not a closure) so ``LambdaLR.state_dict`` records ``warmup`` and
    ``total`` as plain ints, which ``torch.load(weights_only=True)`` accepts.
    """

    warmup: int
    total: int

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        decay_steps = self.total - self.warmup
        if decay_steps <= 0:
            return 1.0
        progress = min(step - self.warmup, decay_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress / decay_steps))


def total_steps(batches_per_epoch: int, grad_accum: int, epochs: int, max_steps: int | None) -> int:
    """Optimizer steps in the run: ``max_steps`` if set, else (batches // accum) * epochs."""
    if max_steps is not None:
        return int(max_steps)
    return (batches_per_epoch // grad_accum) * epochs


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warmup-then-cosine ``LambdaLR`` over ``total`` optimizer steps."""
    if total <= 0:
        raise UniADError(
            f"training would run {total} optimizer steps: give more data, fewer accumulation "
            "steps or train.max_steps > 0"
        )
    if warmup < 0:
        raise UniADError(f"train.warmup_steps must be >= 0, got {warmup}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(max(warmup, 0), total))
