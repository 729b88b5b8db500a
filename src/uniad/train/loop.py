"""The training loop, generic over any model whose forward maps a batch to ``{"loss": ...}``.

It owns the things every run needs and nobody should write twice: AdamW on the trainable
parameters, warmup-cosine schedule, gradient accumulation (with DDP ``no_sync`` on the
non-final micro-steps), clipping, mixed precision, periodic validation, atomic
checkpoints and exact resume. Model and data are plugged in by ``uniad train``; tests
plug in a toy model.

Exact resume rests on three facts: the sample order of an epoch is a pure function of
(seed, epoch, rank) (:func:`~uniad.train.distributed.epoch_order`), checkpoints are taken
on optimizer-step boundaries and record how many steps of the epoch were done, and every
RNG state is saved per rank. A run stopped and resumed thus reaches bitwise the same
weights as an uninterrupted one on CPU (given a dataset whose own randomness depends
only on its seed, epoch and index, and a fixed thread count: a count the command chose
itself follows the machine's load, :class:`~uniad.runtime.ThreadWatch`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from uniad.config import TrainConfig
from uniad.errors import UniADError
from uniad.model.folder import FINAL_DIR
from uniad.runtime import ThreadWatch
from uniad.train import checkpoint as ckpt
from uniad.train.distributed import (
    DistContext,
    barrier,
    epoch_order,
    gather_to_main,
    init_distributed,
    mean_across_ranks,
    sum_across_ranks,
    wrap_model,
)
from uniad.train.monitor import RunMonitor, plot_losses
from uniad.train.rng import capture_rng_state, restore_rng_state, seed_everything
from uniad.train.schedule import build_schedule, total_steps

log = logging.getLogger(__name__)

FINAL = FINAL_DIR


def adamw(params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """The release's optimizer (AdamW), with its multi-tensor update on every device: torch
    picks it by itself on CUDA (where the release ran) but not on the CPU, where the
    one-tensor-at-a-time loop took ~7% of a tiny model's step."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


@dataclass
class TrainResult:
    """Where a call to :func:`train` ended."""

    run_dir: Path
    global_step: int
    total_steps: int
    last_loss: float | None
    completed: bool  # True when the schedule ran to its end (and ``final/`` was written)


@dataclass
class _Position:
    """How far through the data the run is; saved in every checkpoint's meta.json."""

    epoch: int = 0
    step_in_epoch: int = 0  # optimizer steps done in ``epoch``
    global_step: int = 0


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``train.precision``; ``None`` means plain fp32.

    "auto" is bf16 on a CUDA GPU that supports it (no loss scaling needed) and fp32
    elsewhere: CPU autocast is slow and buys nothing on the tiny models run there.
    """
    choice = precision.lower()
    if choice == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    table = {"fp32": None, "32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "16": torch.float16}
    if choice not in table:
        raise UniADError(f"train.precision '{precision}' is not one of auto, fp32, bf16, fp16")
    if table[choice] is torch.float16 and device.type != "cuda":
        raise UniADError("train.precision fp16 needs a CUDA GPU; use bf16 or fp32 on CPU")
    return table[choice]


def _loader(
    dataset: Dataset,
    indices: Sequence[int],
    config: TrainConfig,
    collate_fn: Callable | None,
    seed: int,
) -> DataLoader:
    # An explicit generator keeps the DataLoader from drawing its worker base seed from the
    # global torch RNG, which would shift dropout masks between a resumed and a straight run.
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=list(indices),
        collate_fn=collate_fn,
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(seed),
        drop_last=False,
    )


def _enable_gradient_checkpointing(model: nn.Module) -> None:
    """Recompute activations in backward, on the model or its first child that supports it
    (for UniAD, the Hugging Face LLM). Non-reentrant: works with frozen inputs and DDP.
    transformers 5 renamed the switch (``activation_checkpointing_enable``); older
    releases only have ``gradient_checkpointing_enable``."""
    switches = (("activation_checkpointing_enable", "activation_checkpointing_kwargs"),
                ("gradient_checkpointing_enable", "gradient_checkpointing_kwargs"))
    for module in (model, *model.children()):
        for method, keyword in switches:
            if not hasattr(module, method):
                continue
            enable = getattr(module, method)
            try:
                enable(**{keyword: {"use_reentrant": False}})
            except TypeError:  # a model with its own, argument-free switch
                enable()
            return
    log.warning(
        "train.gradient_checkpointing is set but %s has no activation_checkpointing_enable() "
        "or gradient_checkpointing_enable()",
        type(model).__name__,
    )


def _scalar_outputs(out: Any) -> dict[str, torch.Tensor]:
    if not isinstance(out, dict) or "loss" not in out:
        raise UniADError("the model's forward must return a dict with a 'loss' entry")
    return {k: v.detach().float() for k, v in out.items() if isinstance(v, torch.Tensor) and v.dim() == 0}


class Trainer:
    """State of one training run; :func:`train` is the public entry point."""

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset,
        config: TrainConfig,
        run_dir: Path,
        ctx: DistContext,
        collate_fn: Callable | None,
        val_set: Dataset | None,
        find_unused_parameters: bool,
    ) -> None:
        self.model = model.to(ctx.device)
        self.train_set = train_set
        self.val_set = val_set
        self.config = config
        self.run_dir = Path(run_dir)
        self.ctx = ctx
        self.collate_fn = collate_fn
        if config.gradient_checkpointing:
            _enable_gradient_checkpointing(model)
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise UniADError("the model has no trainable parameters (nothing has requires_grad=True)")
        self.optimizer = adamw(self.params, config.lr, config.weight_decay)
        if config.grad_accum < 1 or config.batch_size < 1:
            raise UniADError("train.batch_size and train.grad_accum must be >= 1")
        shard = len(epoch_order(len(train_set), ctx, config.seed, 0))
        # As the release: full batches only (train.drop_last), an optimizer step per
        # accumulation group, the epoch's last group possibly partial; the schedule counts
        # full groups.
        self.shard = shard
        self.batches_per_epoch = (shard // config.batch_size if config.drop_last
                                  else math.ceil(shard / config.batch_size))
        self.full_steps_per_epoch = self.batches_per_epoch // config.grad_accum
        if self.full_steps_per_epoch == 0:
            raise UniADError(
                f"{len(train_set)} training samples over {ctx.world_size} process(es) give less "
                f"than one optimizer step (batch_size {config.batch_size} x grad_accum "
                f"{config.grad_accum}); lower them or add data"
            )
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / config.grad_accum)
        self.total = config.max_steps or self.steps_per_epoch * config.epochs
        self.schedule = build_schedule(config.lr, config.warmup_steps, total_steps(
            self.batches_per_epoch, config.grad_accum, config.epochs, config.max_steps))
        self.dtype = resolve_precision(config.precision, ctx.device)
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=self.dtype is torch.float16)
        self.position = _Position()
        self.ddp = wrap_model(model, ctx, find_unused_parameters)
        self.monitor = RunMonitor(self.run_dir, ctx.is_main)
        self.last_saved = -1

    # -- checkpoints -----------------------------------------------------------------
    def save(self) -> None:
        """Every rank calls this (RNG states are gathered); rank 0 writes."""
        rng_states = gather_to_main(capture_rng_state(), self.ctx)
        if self.ctx.is_main:
            p = self.position
            # A finished epoch is saved as the start of the next one.
            done = p.step_in_epoch == self.steps_per_epoch
            epoch, in_epoch = (p.epoch + 1, 0) if done else (p.epoch, p.step_in_epoch)
            state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.schedule.state_dict(),  # for the record: rates follow the position
                "scaler": self.scaler.state_dict(),
                "rng": rng_states,
            }
            meta = {
                "epoch": epoch,
                "step_in_epoch": in_epoch,
                "global_step": p.global_step,
                "total_steps": self.total,
                "seed": self.config.seed,
                "world_size": self.ctx.world_size,
                "batch_size": self.config.batch_size,
                "grad_accum": self.config.grad_accum,
            }
            weights = ckpt.trainable_state_dict(self.model)
            folder = ckpt.save_checkpoint(
                self.run_dir, p.global_step, weights, state, meta, self.config.keep_checkpoints
            )
            log.info("saved checkpoint %s", folder)
        self.last_saved = self.position.global_step
        barrier(self.ctx)

    def restore(self, folder: Path) -> None:
        state, meta = ckpt.load_checkpoint(folder)
        cfg = self.config
        same = {"total_steps": self.total, "seed": cfg.seed, "batch_size": cfg.batch_size,
                "grad_accum": cfg.grad_accum}
        differ = {k: (meta.get(k), v) for k, v in same.items() if meta.get(k) != v}
        if differ:
            detail = ", ".join(f"{k}: checkpoint {a} vs now {b}" for k, (a, b) in differ.items())
            raise UniADError(
                f"{folder}: cannot resume with different training settings ({detail}); "
                "use the run's config.yaml"
            )
        ckpt.load_trainable(self.model, folder / ckpt.WEIGHTS)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        rng = state["rng"]
        if len(rng) == self.ctx.world_size:
            restore_rng_state(rng[self.ctx.rank])
        else:
            log.warning("%s was saved by %d process(es), now %d: RNG streams restart from the seed",
                        folder, len(rng), self.ctx.world_size)
        self.position = _Position(meta["epoch"], meta["step_in_epoch"], meta["global_step"])
        self.last_saved = self.position.global_step
        log.info("resumed from %s (step %d of %d)", folder, self.position.global_step, self.total)

    # -- one optimizer step ----------------------------------------------------------
    def _autocast(self) -> torch.autocast:
        dtype = self.dtype or torch.float32
        return torch.autocast(self.ctx.device.type, dtype=dtype, enabled=self.dtype is not None)

    def _step(self, batches: Any, micro_batches: int) -> tuple[dict[str, torch.Tensor], int]:
        """Accumulate ``micro_batches`` (``grad_accum``, fewer in an epoch's partial last
        group) micro-batches, each loss divided by ``grad_accum`` as the release does, then
        one optimizer step at the rate of the release's schedule index."""
        accum = self.config.grad_accum
        p = self.position
        rate = self.schedule.apply(self.optimizer, self.full_steps_per_epoch * p.epoch + p.step_in_epoch)
        sums: dict[str, torch.Tensor] = {}
        samples = 0
        for micro in range(micro_batches):
            batch = next(batches)
            # Skip the gradient all-reduce on all but the last micro-step.
            last = micro == micro_batches - 1 or not self.ctx.is_distributed
            with contextlib.nullcontext() if last else self.ddp.no_sync():
                with self._autocast():
                    out = self.ddp(batch)
                self.scaler.scale(out["loss"] / accum).backward()
            for key, value in _scalar_outputs(out).items():
                sums[key] = sums.get(key, 0.0) + value / micro_batches
            samples += len(batch)
        self.scaler.unscale_(self.optimizer)
        max_norm = self.config.grad_clip if self.config.grad_clip else float("inf")
        sums["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.params, max_norm).detach().float()
        sums["lr"] = torch.tensor(rate)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return sums, samples

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean validation loss over the whole validation set, shared by all ranks."""
        assert self.val_set is not None
        self.model.eval()
        indices = epoch_order(len(self.val_set), self.ctx, self.config.seed, 0, shuffle=False)
        total, count = 0.0, 0
        for batch in _loader(self.val_set, indices, self.config, self.collate_fn, self.config.seed):
            with self._autocast():
                loss = self.model(batch)["loss"]
            total += float(loss) * len(batch)
            count += len(batch)
        total, count = sum_across_ranks([total, float(count)], self.ctx)
        self.model.train()
        return {"loss": total / max(count, 1.0)}

    # -- the run -----------------------------------------------------------------------
    def run(self, stop_at_step: int | None) -> TrainResult:
        cfg, p = self.config, self.position
        stop = min(self.total, stop_at_step) if stop_at_step is not None else self.total
        bar = tqdm(total=self.total, initial=p.global_step, disable=not self.ctx.is_main,
                   desc="train", dynamic_ncols=True)
        window: dict[str, float] = {}
        window_steps, window_samples, window_start = 0, 0, time.perf_counter()
        last_loss: float | None = None
        # Once, not per step: evaluate() switches back itself, and UniAD.train walks the
        # LLM's modules (LoRA shift, adapters, attention), ~3 ms of a tiny model's step.
        self.ddp.train()
        threads = ThreadWatch()  # another process may start or end while this runs
        while p.global_step < stop:
            if hasattr(self.train_set, "set_epoch"):
                self.train_set.set_epoch(p.epoch)
            order = epoch_order(len(self.train_set), self.ctx, cfg.seed, p.epoch)
            per_step = cfg.batch_size * cfg.grad_accum
            # Batches already consumed in this epoch are skipped, not replayed.
            indices = order[p.step_in_epoch * per_step : min(self.shard, self.batches_per_epoch * cfg.batch_size)]
            batches = iter(_loader(self.train_set, indices, cfg, self.collate_fn, cfg.seed + p.epoch))
            while p.step_in_epoch < self.steps_per_epoch and p.global_step < stop:
                left = self.batches_per_epoch - p.step_in_epoch * cfg.grad_accum
                values, samples = self._step(batches, min(cfg.grad_accum, left))
                p.step_in_epoch += 1
                p.global_step += 1
                bar.update(1)
                threads.poll()
                for key, value in values.items():
                    window[key] = window.get(key, 0.0) + float(value)
                window_steps += 1
                window_samples += samples
                if p.global_step % max(cfg.log_every, 1) == 0 or p.global_step == stop:
                    elapsed = max(time.perf_counter() - window_start, 1e-9)
                    means = mean_across_ranks({k: v / window_steps for k, v in window.items()}, self.ctx)
                    means["samples_per_s"] = window_samples / elapsed * self.ctx.world_size
                    last_loss = means["loss"]
                    self.monitor.log(p.global_step, "train", means)
                    bar.set_postfix(loss=f"{last_loss:.4f}", lr=f"{means['lr']:.2e}")
                    window, window_steps, window_samples, window_start = {}, 0, 0, time.perf_counter()
                if self.val_set is not None and cfg.eval_every > 0 and p.global_step % cfg.eval_every == 0:
                    self.monitor.log(p.global_step, "val", self.evaluate())
                if cfg.save_every > 0 and p.global_step % cfg.save_every == 0:
                    self.save()
            if p.step_in_epoch == self.steps_per_epoch:
                if self.last_saved != p.global_step:
                    self.save()  # every finished epoch is a resumable point
                p.epoch, p.step_in_epoch = p.epoch + 1, 0
        bar.close()
        if self.last_saved != p.global_step:
            self.save()
        completed = p.global_step >= self.total
        if completed:
            self.finish()
        self.monitor.close()
        return TrainResult(self.run_dir, p.global_step, self.total, last_loss, completed)

    def finish(self) -> None:
        """End of schedule: last validation, final weights, loss plot."""
        every = self.config.eval_every
        evaluated = every > 0 and self.position.global_step % every == 0
        if self.val_set is not None and not evaluated:
            self.monitor.log(self.position.global_step, "val", self.evaluate())
        if self.ctx.is_main:
            final = self.run_dir / FINAL
            if hasattr(self.model, "save_pretrained"):
                self.model.save_pretrained(final)
            else:
                final.mkdir(parents=True, exist_ok=True)
                ckpt.write_safetensors(final / ckpt.WEIGHTS, ckpt.trainable_state_dict(self.model))
            plot_losses(self.run_dir)
        barrier(self.ctx)


def train(
    model: nn.Module,
    train_set: Dataset,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    collate_fn: Callable | None = None,
    val_set: Dataset | None = None,
    resume: bool = False,
    stop_at_step: int | None = None,
    ctx: DistContext | None = None,
    find_unused_parameters: bool = False,
) -> TrainResult:
    """Train ``model`` on ``train_set`` into ``run_dir`` (see the module docstring).

    ``stop_at_step`` stops after that optimizer step with a checkpoint, leaving the
    schedule unchanged, so the run can be continued with ``resume=True`` (jobs cut into
    slices on preemptible machines). Under torchrun, call it on every rank.
    """
    ctx = ctx or init_distributed()
    run_dir = Path(run_dir)
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.clean_incomplete(run_dir)
    barrier(ctx)
    seed_everything(config.seed + ctx.rank)  # release: seed + rank after the model is built
    trainer = Trainer(model, train_set, config, run_dir, ctx, collate_fn, val_set, find_unused_parameters)
    if resume:
        folder = ckpt.latest_checkpoint(run_dir)
        if folder is None:
            log.warning("--resume: no checkpoint in %s, starting from step 0", run_dir / ckpt.CHECKPOINTS)
        else:
            trainer.restore(folder)
    return trainer.run(stop_at_step)
