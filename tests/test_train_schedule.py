"""The learning-rate schedule follows the release's formula (REFERENCE.md section 4)."""

from __future__ import annotations

import math

import pytest
import torch

from uniad.errors import UniADError
import numpy as np

from uniad.train.schedule import build_schedule, total_steps


def _rates(base: float, warmup: int, total: int) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=base)
    schedule = build_schedule(base, warmup, total)
    rates = []
    for step in range(total):
        schedule.apply(opt, step)
        rates.append(opt.param_groups[0]["lr"])
    return rates


def test_warmup_then_cosine_is_the_release_formula_to_the_bit() -> None:
    base, warmup, total = 5e-5, 4, 12
    rates = _rates(base, warmup, total)
    for step in range(warmup):  # the release's expressions, evaluated in its order
        assert rates[step] == base * (step + 1) / warmup
    for step in range(warmup, total):
        e, es = step - warmup, total - warmup
        assert rates[step] == 0.5 * (1 + np.cos(np.pi * e / es)) * base
        assert rates[step] == pytest.approx(0.5 * (1 + math.cos(math.pi * e / es)) * base)
    assert rates[warmup] == base  # peak right after warmup
    assert rates[-1] < rates[warmup + 1] < rates[warmup]  # monotone decay


def test_schedule_state_round_trips_through_safe_load(tmp_path) -> None:
    schedule = build_schedule(1.0, 3, 10)
    torch.save(schedule.state_dict(), tmp_path / "s.pt")
    again = type(schedule)(**torch.load(tmp_path / "s.pt", weights_only=True))
    assert again == schedule and again.lr(5) == schedule.lr(5)


def test_total_steps_from_epochs_or_max_steps() -> None:
    assert total_steps(batches_per_epoch=10, grad_accum=4, epochs=3, max_steps=None) == 6
    assert total_steps(batches_per_epoch=10, grad_accum=4, epochs=3, max_steps=50) == 50


def test_empty_schedule_is_refused() -> None:
    with pytest.raises(UniADError, match="optimizer steps"):
        build_schedule(1.0, 3, 0)


def release_train_one_epoch(model, batches, epoch, optimizer, base, warmup, total, accum) -> None:
    """The release's ``train_one_epoch`` loop structure (utils/train.py), written out here:
    the rate set before every micro-batch from ``num_batches // accum * epoch + i // accum``,
    the loss divided by ``accum``, a step after every ``accum`` micro-batches and after the
    last one, AdamW with weight decay 0."""
    full = len(batches) // accum
    model.train()
    optimizer.zero_grad()
    for i, batch in enumerate(batches):
        step = full * epoch + i // accum
        if step < warmup:
            rate = base * (step + 1) / warmup
        else:
            rate = 0.5 * (1 + np.cos(np.pi * (step - warmup) / (total - warmup))) * base
        for group in optimizer.param_groups:
            group["lr"] = rate
        (model(batch)["loss"] / accum).backward()
        if (i + 1) % accum == 0 or i + 1 == len(batches):
            optimizer.step()
            optimizer.zero_grad()


@pytest.mark.parametrize("size,batch_size,accum", [(40, 4, 3), (23, 3, 2), (16, 2, 1)])
def test_loop_equals_the_releases_epochs_with_partial_groups(tmp_path, size, batch_size, accum) -> None:
    """Leftover samples dropped (drop_last), a partial last accumulation group stepped, the
    schedule over full groups: the final weights equal the release's loop to the bit."""
    from train_toy import ToyDataset, build, collate, toy_config

    from uniad.train.distributed import DistContext, epoch_order
    from uniad.train.loop import train

    config = toy_config(batch_size=batch_size, grad_accum=accum, epochs=2, warmup_steps=3, lr=1e-2)
    dataset = ToyDataset(size=size)
    ours = build().eval()  # no dropout: the two loops draw their masks differently
    ours.train = lambda mode=True: ours  # keep dropout off inside the loop
    train(ours, dataset, config, tmp_path / "run", collate_fn=collate)

    reference = build().eval()
    reference.train = lambda mode=True: reference
    optimizer = torch.optim.AdamW([p for p in reference.parameters() if p.requires_grad],
                                  lr=config.lr, weight_decay=0.0)
    ctx = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    batches_per_epoch = size // batch_size
    total = batches_per_epoch // accum * config.epochs
    for epoch in range(config.epochs):
        dataset.set_epoch(epoch)
        order = epoch_order(size, ctx, config.seed, epoch)
        batches = [collate([dataset[j] for j in order[b * batch_size:(b + 1) * batch_size]])
                   for b in range(batches_per_epoch)]
        release_train_one_epoch(reference, batches, epoch, optimizer, config.lr,
                                config.warmup_steps, total, accum)
    for (name, a), b in zip(ours.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
