"""The learning-rate schedule follows the release's formula (REFERENCE.md section 4)."""

from __future__ import annotations

import math

import pytest
import torch

from uniad.errors import UniADError
from uniad.train.schedule import build_scheduler, total_steps


def _rates(base: float, warmup: int, total: int) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=base)
    sched = build_scheduler(opt, warmup, total)
    rates = []
    for _ in range(total):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_warmup_then_cosine_matches_release_formula() -> None:
    base, warmup, total = 5e-5, 4, 12
    rates = _rates(base, warmup, total)
    for step in range(warmup):
        assert rates[step] == pytest.approx(base * (step + 1) / warmup)
    for step in range(warmup, total):
        e, es = step - warmup, total - warmup
        assert rates[step] == pytest.approx(0.5 * (1 + math.cos(math.pi * e / es)) * base)
    assert rates[warmup] == pytest.approx(base)  # peak right after warmup
    assert rates[-1] < rates[warmup + 1] < rates[warmup]  # monotone decay


def test_scheduler_state_round_trips_through_safe_load(tmp_path) -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=1.0)
    sched = build_scheduler(opt, 3, 10)
    for _ in range(5):
        opt.step()
        sched.step()
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    opt2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = build_scheduler(opt2, 3, 10)
    sched2.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    opt2.step()
    sched2.step()
    opt.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_total_steps_from_epochs_or_max_steps() -> None:
    assert total_steps(batches_per_epoch=10, grad_accum=4, epochs=3, max_steps=None) == 6
    assert total_steps(batches_per_epoch=10, grad_accum=4, epochs=3, max_steps=50) == 50


def test_empty_schedule_is_refused() -> None:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(UniADError, match="optimizer steps"):
        build_scheduler(opt, 3, 0)
