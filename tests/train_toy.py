"""A toy model and dataset for the training-loop tests, also runnable under torchrun.

The model has dropout (so resume must restore RNG states) and a frozen layer (so only
trainable weights may be checkpointed); the dataset's noise depends on (seed, epoch,
index) through ``set_epoch``, like the real ADDataset's frame sampling.

Under torchrun: ``python -m torch.distributed.run --nproc_per_node 2 train_toy.py RUN HASHES``
trains a few steps and writes each rank's weight hash to ``HASHES/rank{r}.txt``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from uniad.config import TrainConfig


class ToyDataset(Dataset):
    """``y = x @ w_true`` plus noise that changes with the epoch; ``seed`` draws the inputs,
    ``w_true`` is the same for every seed so a validation split poses the same task."""

    def __init__(self, size: int = 40, dim: int = 6, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, dim, generator=g)
        self.y = self.x @ torch.randn(dim, 1, generator=torch.Generator().manual_seed(1234))
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch * 10_007 + index)
        return {"x": self.x[index] + 0.01 * torch.randn(self.x.shape[1], generator=g), "y": self.y[index]}


def collate(items: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """Keep a batch as a list, like ``collate_samples`` does for Samples."""
    return items


class ToyModel(nn.Module):
    def __init__(self, dim: int = 6, hidden: int = 16) -> None:
        super().__init__()
        self.frozen = nn.Linear(dim, dim)
        self.frozen.requires_grad_(False)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 1))

    def forward(self, batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        x = torch.stack([b["x"] for b in batch])
        y = torch.stack([b["y"] for b in batch])
        pred = self.net(x + 0.1 * self.frozen(x))
        mse = nn.functional.mse_loss(pred.float(), y)
        return {"loss": mse, "mse": mse}


def build(seed: int = 0) -> ToyModel:
    torch.manual_seed(seed)
    return ToyModel()


def weights_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def toy_config(**overrides: object) -> TrainConfig:
    base = dict(lr=1e-2, epochs=2, warmup_steps=3, batch_size=4, grad_accum=2, log_every=1,
                seed=3, keep_checkpoints=2, precision="fp32")
    base.update(overrides)
    return TrainConfig(**base)


def main(run_dir: str, hash_dir: str) -> None:
    from uniad.train.distributed import cleanup_distributed, init_distributed
    from uniad.train.loop import train

    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    try:
        model = build()
        config = toy_config(max_steps=4, save_every=2)
        train(model, ToyDataset(), config, run_dir, collate_fn=collate, ctx=ctx)
        Path(hash_dir, f"rank{ctx.rank}.txt").write_text(weights_hash(model))
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
