"""Learning-rate schedule: linear warmup then cosine decay, in the release's arithmetic.

The release (``utils/scheduler.py``'s ``cosine_lr``) assigns the rate by hand before every
micro-batch, from the index ``num_batches_per_epoch * epoch + i // accum_freq`` where
``num_batches_per_epoch = num_batches // accum_freq`` counts *full* accumulation groups: an
epoch's last, partial group (when the batches do not divide) gets the index of the next
epoch's first step. :class:`WarmupCosine` computes the same floating-point expressions
(``base * (step + 1) / warmup``; ``0.5 * (1 + np.cos(np.pi * e / es)) * base``), so rates
agree to the bit; the loop gives it the release's index. It holds no state beyond its three
settings: a resumed run recomputes the rate from its position.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from uniad.errors import UniADError


@dataclass(frozen=True)
class WarmupCosine:
    """The release's rate at schedule index ``step`` over ``total`` indices."""

    base_lr: float
    warmup: int
    total: int

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.base_lr * (step + 1) / self.warmup
        es = self.total - self.warmup
        if es <= 0:
            return self.base_lr
        e = min(step - self.warmup, es)
        return float(0.5 * (1 + np.cos(np.pi * e / es)) * self.base_lr)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every group's rate for ``step`` (as the release's ``assign_learning_rate``)."""
        rate = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = rate
        return rate

    def state_dict(self) -> dict:
        return asdict(self)


def total_steps(batches_per_epoch: int, grad_accum: int, epochs: int, max_steps: int | None) -> int:
    """The schedule's length: ``max_steps`` if set, else the release's
    ``(num_batches // accum_freq) * epochs`` (full accumulation groups only)."""
    if max_steps is not None:
        return int(max_steps)
    return (batches_per_epoch // grad_accum) * epochs


def build_schedule(base_lr: float, warmup: int, total: int) -> WarmupCosine:
    """Warmup-then-cosine over ``total`` schedule indices."""
    if total <= 0:
        raise UniADError(
            f"training would run {total} optimizer steps: give more data, fewer accumulation "
            "steps or train.max_steps > 0"
        )
    if warmup < 0:
        raise UniADError(f"train.warmup_steps must be >= 0, got {warmup}")
    return WarmupCosine(base_lr, warmup, total)
