"""One code path for plain runs and ``torchrun`` (single or multi node).

``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT``;
when they are present we join the process group (NCCL on GPUs, gloo on CPU), otherwise
the run is a world of one and every collective below is a no-op. No process management
of our own: launching is torchrun's job.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from uniad.errors import UniADError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()

    @property
    def is_main(self) -> bool:
        """Only the main process writes logs, checkpoints and plots."""
        return self.rank == 0


def _pick_device(device: str, local_rank: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UniADError("device 'cuda' requested but no CUDA GPU is visible")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(device)


def init_distributed(device: str = "auto", timeout_minutes: int = 180) -> DistContext:
    """Join the torchrun process group if launched by torchrun; else a world of one.

    The long default timeout mirrors the release (3 h): rank 0 may spend a while on
    validation or a large checkpoint while the others wait at a barrier.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistContext(0, 1, 0, _pick_device(device, 0))
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    dev = _pick_device(device, local_rank)
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=timeout_minutes))
    return DistContext(rank, world, local_rank, dev)


def cleanup_distributed() -> None:
    """Leave the process group cleanly (avoids NCCL warnings and hung peers at exit)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ctx: DistContext, find_unused_parameters: bool) -> nn.Module:
    """DistributedDataParallel when there are several processes, the model itself otherwise."""
    if not ctx.is_distributed:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=find_unused_parameters
    )


def barrier(ctx: DistContext) -> None:
    if dist.is_initialized():
        dist.barrier()


def mean_across_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Average each metric over ranks (every rank must call this with the same keys)."""
    if not dist.is_initialized() or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, t.tolist())}


def sum_across_ranks(values: list[float], ctx: DistContext) -> list[float]:
    """Element-wise sum over ranks (for counts and totals, e.g. validation loss)."""
    if not dist.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather_to_main(obj: Any, ctx: DistContext) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0 (``None`` elsewhere); per-rank RNG states use it."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def epoch_order(num_items: int, ctx: DistContext, seed: int, epoch: int, shuffle: bool = True) -> list[int]:
    """This rank's sample order for ``epoch``: a pure function of (seed, epoch, rank).

    Distributed runs use ``DistributedSampler`` (with ``set_epoch``); plain runs a
    permutation from a generator seeded with ``seed + epoch``. Being a function of its
    arguments, not of hidden state, is what lets a resumed run skip exactly the batches
    it had already consumed.
    """
    if ctx.is_distributed:
        sampler = DistributedSampler(
            range(num_items), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=shuffle, seed=seed
        )
        sampler.set_epoch(epoch)
        return list(sampler)
    if not shuffle:
        return list(range(num_items))
    generator = torch.Generator().manual_seed(seed + epoch)
    return torch.randperm(num_items, generator=generator).tolist()
