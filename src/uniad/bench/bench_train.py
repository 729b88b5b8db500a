"""Training throughput of the tiny UniAD: samples/s, tokens/s and peak memory per setting.

A small synthetic world (``make_world``, 64-d features) is trained with the ``demo``
preset and ``model.llm=tiny`` (a random 2-layer Llama, hidden size 64, its tokenizer trained
on the split's texts as ``uniad train`` does). What trains is what that preset trains:
LoRA adapters on the attention projections (``train_lora: true``), the two Perceiver
mappers and the two placeholder embeddings; the LLM's own weights stay frozen. The demo
preset has no contrastive pass, so each sample is read once per step.

Each setting runs the real loop (:func:`uniad.train.loop.train`, fed by ``open_split``
and ``collate_samples`` as ``uniad train`` feeds it, on the CPU) for ``warmup + steps``
optimizer steps; only the last ``steps`` are timed. Two hooks observe the loop without
changing it: a global optimizer step post-hook stamps the end of every step, and a
forward pre-hook on the model records which samples each step read. Settings:

- 1 thread and all threads (``torch.set_num_threads``), at each batch size: what
  batching buys (batch B / batch 1, per thread count) and what threads buy (all / 1,
  per batch size);
- ``train.gradient_checkpointing`` on at each batch size (1 thread): memory saved and
  time it costs, as ratios to the same setting without it;
- the data path alone: the loop's DataLoader (same order, ``collate_samples``) with no
  model, in samples/s, so the table shows whether training is data- or compute-bound;
- the contrastive step (:func:`measure_hinge`) four ways, hinge active and inactive: the
  shared pass (one packed LLM call over prompt + AD + previous AD), two LLM passes, the
  release's step (the whole model twice, logits on every position) and the plain step, on
  batches whose samples hold 0-3 characters in turn, as MAD's prompts vary.

Tokens come from the model's own :class:`~uniad.model.sequence.SequenceBuilder`: target
tokens are the AD's ids plus the end token (the positions the loss reads); sequence tokens
are :func:`~uniad.model.sequence.sequence_length` of the whole interleaved sequence
(prompt text, visual slots, target), without the left padding a batch adds (the padding
share is reported separately).

Memory: each setting runs in its own child process so that its peak is its own. The
figure is the peak resident set during the steps minus the resident set once the model is
built (Linux ``/proc/self/clear_refs`` resets the peak there, so the same function also
measures in-process, as the test does). ``tracemalloc`` would miss it: PyTorch allocates
outside Python's allocator.

The table gives the mean and the median step time: on a shared machine the all-threads
settings suffer most from other processes (an intra-op thread waits for a busy core), and
a median far below the mean shows it. The tiny LLM's activations are a small part of the
peak, so gradient checkpointing saves little memory here; its time cost is the figure that
carries over.

Run as ``uniad bench train`` or ``python -m uniad.bench.bench_train [--json OUT]``, or
``uniad bench train [--json OUT]`` (about 2-3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import DataLoader

from uniad.config import UniADConfig, load_config
from uniad.data.dataset import collate_samples
from uniad.data.schema import Sample
from uniad.errors import UniADError
from uniad.model.uniad import previous_ad
from uniad.model.sequence import IGNORE_INDEX, SequenceBuilder, TextSegment, sequence_length
from uniad.train.data import build_for_training
from uniad.train.distributed import epoch_order, init_distributed
from uniad.train.loop import adamw, train
from uniad.world.synthetic import BANK_FILE, FEATURES_FILE, TRAIN_FILE, make_world
from uniad.world.training import open_world_split
from uniad.io import write_json

log = logging.getLogger("bench_train")

FEATURE_DIM = 64  # the demo preset's model.feature_dim


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=12, help="timed optimizer steps per setting (default 12)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before them (default 2)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], help="default: 1 8")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="'all threads' setting (default: the CPU count, here %(default)s)")
    p.add_argument("--movies", type=int, default=6,
                   help="movies in the synthetic world (default 6; the steps must fit one epoch)")
    p.add_argument("--world", type=Path, default=None,
                   help="an existing world folder (`uniad synth`, 64-d) instead of a fresh one")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="extra config override for every setting (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one setting, as JSON
    return p.parse_args(argv)


# -- measuring ------------------------------------------------------------------------
def reset_peak() -> None:
    """Restart the process's peak-RSS count at the current RSS (Linux >= 4.0). Where the
    kernel refuses, the peak stays the process's lifetime peak (fine in a child)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        log.debug("cannot reset the peak RSS; measuring from the process start")


def resident_kib() -> int:
    """Current resident set in KiB (Linux /proc; ru_maxrss uses the same unit)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def world_paths(world: Path) -> tuple[Path, Path, Path]:
    """A world folder's training annotations, features and bank (``build_for_training``'s)."""
    return world / TRAIN_FILE, world / FEATURES_FILE, world / BANK_FILE


def bench_config(overrides: Sequence[str], batch_size: int, checkpointing: bool, seed: int) -> UniADConfig:
    """The demo preset on the tiny LLM, with the benchmark's batch size and switches.
    ``save_every=0``: no checkpoint falls inside the timed steps."""
    settings = ["model.llm=tiny", f"model.feature_dim={FEATURE_DIM}", *overrides,
                f"train.batch_size={batch_size}", f"train.gradient_checkpointing={checkpointing}",
                f"train.seed={seed}", "train.save_every=0", "train.eval_every=0"]
    return load_config("demo", None, settings)


def sample_tokens(builder: SequenceBuilder, sample: Sample) -> tuple[int, int]:
    """(target tokens, sequence tokens) of one sample as the model lays it out."""
    segments = builder.build(sample)
    target = sum(len(s.ids) for s in segments if isinstance(s, TextSegment) and s.role == "target")
    return target, sequence_length(segments)


def measure_training(
    world: Path,
    *,
    batch_size: int,
    threads: int = 1,
    checkpointing: bool = False,
    steps: int = 12,
    warmup: int = 2,
    overrides: Sequence[str] = (),
    seed: int = 0,
) -> dict:
    """Train ``warmup + steps`` optimizer steps with the real loop; figures of the last ``steps``.

    The clock starts when warm-up step ``warmup`` ends, so the timed span holds exactly
    the timed steps (their data loading included, as in a real run).
    """
    if warmup < 1 or steps < 1:
        raise UniADError("--warmup and --steps must be >= 1 (the warm-up's last step starts the clock)")
    torch.set_num_threads(threads)
    config = bench_config(overrides, batch_size, checkpointing, seed)
    model, dataset = build_for_training(*world_paths(world), config)
    per_step = batch_size * config.train.grad_accum
    if (warmup + steps) * per_step > len(dataset):
        raise UniADError(
            f"{world}: {len(dataset)} training samples hold fewer than {warmup + steps} steps of "
            f"{per_step} (an epoch end would save a checkpoint inside the timed steps); lower "
            "--steps/--warmup or use a bigger world (--movies)"
        )
    batches: list[list[Sample]] = []  # every batch the model read, in order
    stamps: list[tuple[float, int]] = []  # (end time, batches read so far) per optimizer step
    peak = {"kib": 0}

    def on_forward(module, args) -> None:
        batches.append(args[0])

    def on_step(optimizer, args, kwargs) -> None:
        stamps.append((time.perf_counter(), len(batches)))
        if len(stamps) == warmup + steps:
            peak["kib"] = peak_kib()  # before the loop's closing checkpoint

    baseline = resident_kib()
    reset_peak()
    forward_hook = model.register_forward_pre_hook(on_forward)
    step_hook = register_optimizer_step_post_hook(on_step)
    try:
        with tempfile.TemporaryDirectory(prefix="bench_train_") as run_dir:
            train(model, dataset, config.train, run_dir, collate_fn=collate_samples,
                  stop_at_step=warmup + steps, ctx=init_distributed("cpu"))
    finally:
        forward_hook.remove()
        step_hook.remove()
    (start, first), (end, last) = stamps[warmup - 1], stamps[-1]
    timed = batches[first:last]
    counts = [[sample_tokens(model.builder, s) for s in batch] for batch in timed]
    flat = [c for batch in counts for c in batch]
    target, sequence = sum(t for t, _ in flat), sum(n for _, n in flat)
    padded = sum(len(batch) * max(n for _, n in batch) for batch in counts)
    seconds, samples = end - start, len(flat)
    durations = sorted(b[0] - a[0] for a, b in zip(stamps[warmup - 1:], stamps[warmup:]))
    parameters = model.parameter_counts()["all"]
    return {
        "kind": "train",
        "batch_size": batch_size,
        "threads": threads,
        "gradient_checkpointing": checkpointing,
        "steps": steps,
        "samples": samples,
        "seconds": seconds,
        "seconds_per_step": seconds / steps,
        # Robust to a neighbour's burst of load on a shared machine; the rates use the mean.
        "seconds_per_step_median": durations[len(durations) // 2],
        "samples_per_s": samples / seconds,
        "target_tokens_per_s": target / seconds,
        "sequence_tokens_per_s": sequence / seconds,
        "mean_target_tokens": target / samples,
        "mean_sequence_tokens": sequence / samples,
        "padding_share": 1 - sequence / padded,  # of the positions the batches' LLM calls read
        "peak_extra_mib": max(0, peak["kib"] - baseline) / 1024,
        "baseline_rss_mib": baseline / 1024,
        "trainable_parameters": parameters["trainable"],
        "parameters": parameters["total"],
    }


def measure_data(
    world: Path,
    *,
    batch_size: int,
    samples: int | None = None,
    warmup: int = 2,
    overrides: Sequence[str] = (),
    seed: int = 0,
) -> dict:
    """The loop's data path alone: its DataLoader (epoch-0 order, ``collate_samples``,
    ``train.num_workers``) read for ``samples`` samples (default: the rest of the epoch)
    after ``warmup`` batches, no model. Reading is fast, so a whole epoch keeps the timed
    span long enough to measure."""
    config = bench_config(overrides, batch_size, False, seed)
    dataset = open_world_split(world, config, "train")
    if samples is None:
        samples = len(dataset) - warmup * batch_size
    need = warmup * batch_size + samples
    if need > len(dataset):
        raise UniADError(f"{world}: {len(dataset)} training samples, the data pass needs {need}")
    order = epoch_order(len(dataset), init_distributed("cpu"), config.train.seed, 0)[:need]
    loader = DataLoader(dataset, batch_size=batch_size, sampler=order, collate_fn=collate_samples,
                        num_workers=config.train.num_workers)
    baseline = resident_kib()
    reset_peak()
    read, start = 0, 0.0
    for i, batch in enumerate(loader):
        if i == warmup:
            start = time.perf_counter()
        if i >= warmup:
            read += len(batch)
    seconds = time.perf_counter() - start
    return {
        "kind": "data",
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "gradient_checkpointing": False,
        "samples": read,
        "seconds": seconds,
        "samples_per_s": read / seconds,
        "peak_extra_mib": max(0, peak_kib() - baseline) / 1024,
        "baseline_rss_mib": baseline / 1024,
    }


# The release's slot counts: 30 video tokens and 30 per character, so that the prompt the
# negative pass re-reads (150-300 positions in the release) outweighs the targets as there.
RELEASE_SLOTS = ("model.num_latents=30", "model.num_char_tokens=30")
STEPS_COMPARED = ("shared", "separate", "release", "plain")
# Characters per sample in the contrastive bench, cycled over a batch: MAD's events list 0-3
# characters (the oracle-filtered ad_chars_in_chars), each adding a name and its slots, so
# prompts differ by up to ~3 x 38 positions; the synthetic world lists 1 almost always.
CHARACTER_SPREAD = (0, 1, 2, 3)


def spread_characters(batch: list[Sample], pool: list, spread: Sequence[int] = CHARACTER_SPREAD) -> list[Sample]:
    """``batch`` with sample i given ``spread[i % len(spread)]`` characters, taken in turn
    from ``pool`` (the split's character entries), so prompt lengths vary as on MAD."""
    out, taken = [], 0
    for i, sample in enumerate(batch):
        n = spread[i % len(spread)]
        chars = [pool[(taken + j) % len(pool)] for j in range(n)]
        taken += n
        out.append(dataclasses.replace(sample, characters=chars))
    return out


def release_ce(model, samples: list[Sample]) -> torch.Tensor:
    """One forward of the release's ``VideoCaptionModel``: the whole model (mappers, the
    padded rows, the LLM), logits ``[B, L, V+2]`` on every position as its LM head gives
    them, then the shifted CE, token-averaged over the batch, on the target's labels."""
    segments = [model.builder.build(s) for s in samples]
    batch = model.encode(segments, model.visual_embeddings(samples, segments))
    llm = model.llm.get_base_model()
    hidden = llm.get_decoder()(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                               position_ids=batch.position_ids).last_hidden_state
    logits = llm.get_output_embeddings()(hidden)
    if model.config.model.placeholder_logits:
        logits = torch.cat([logits, hidden @ model.placeholders.to(hidden.dtype).T], dim=-1)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), batch.labels[:, 1:].flatten(), ignore_index=IGNORE_INDEX)


def release_step(model, batch: list[Sample]) -> torch.Tensor:
    """The release's ``train_one_epoch`` step: :func:`release_ce` twice, the second time
    with the previous AD as the target, and Python's ``max(CE_neg*-1 - CE_pos*-1, 0)`` on
    the two batch-level CEs (inactive: a constant, so backward reaches the first pass only)."""
    negatives = [dataclasses.replace(s, target=previous_ad(s) or s.target) for s in batch]
    ce = release_ce(model, batch)
    ce_neg = release_ce(model, negatives)
    return ce + max(ce - ce_neg, torch.tensor(0.0))


def loss_of(model, batch: list[Sample], name: str) -> torch.Tensor:
    """One of :data:`STEPS_COMPARED`'s losses: ``shared`` (the negative scored in the
    positive's pass), ``separate`` (its own LLM pass, mappers once), ``release`` (the whole
    model twice, :func:`release_step`) or ``plain`` (no contrastive term)."""
    cfg = model.config.model
    cfg.contrastive_loss = name in ("shared", "separate")
    cfg.negative_pass = "separate" if name == "separate" else "shared"
    return release_step(model, batch) if name == "release" else model(batch)["loss"]


def position_figures(builder: SequenceBuilder, batches: Sequence[list[Sample]]) -> dict:
    """Positions per sample (prompt + AD, the release's row before padding), the padding
    share of the release's rows (each batch padded to its longest, both passes), and the
    negatives' share of the shared step's packed rows (prompt + AD + previous AD)."""
    rows = [[sequence_length(builder.build(s)) for s in batch] for batch in batches]
    negatives = [sum(len(seg.ids) for seg in builder.target_segments(previous_ad(s) or ""))
                 for batch in batches for s in batch if previous_ad(s)]
    flat = [n for batch in rows for n in batch]
    padded = sum(len(batch) * max(batch) for batch in rows)
    return {"mean_sequence_tokens": sum(flat) / max(1, len(flat)),
            "min_sequence_tokens": min(flat, default=0), "max_sequence_tokens": max(flat, default=0),
            "release_padding_share": 1 - sum(flat) / max(1, padded),
            "negative_share": sum(negatives) / max(1, sum(flat) + sum(negatives))}


def measure_hinge(
    world: Path,
    *,
    batch_size: int,
    steps: int = 12,
    warmup: int = 2,
    overrides: Sequence[str] = (),
    seed: int = 0,
) -> dict:
    """The contrastive training step (the release recipe: one hinge on batch-level CEs) with
    the hinge inactive and active, three ways, alternated on the same batch: ``shared`` (the
    negative scored in the positive's pass), ``separate`` (a second LLM pass), ``release``
    (the release's step: the whole model twice, :func:`release_step`) and ``plain`` (no
    contrastive term). The release's slot counts (:data:`RELEASE_SLOTS`) make the prompt as
    long, relative to the targets, as in the release, and samples get 0-3 characters in turn
    (:data:`CHARACTER_SPREAD`), so prompt lengths vary as on MAD. Rates are from the median
    step time. The learning rate is 0 so the margins keep their sign over the timed steps.
    Also recorded: the positions per sample, the share of the release's padded rows that is
    padding, and the share of the shared step's packed row that the negatives take (the most
    a backward without them could save when the hinge is inactive)."""
    config = bench_config([*overrides, *RELEASE_SLOTS, "model.contrastive_loss=true"],
                          batch_size, False, seed)
    model, dataset = build_for_training(*world_paths(world), config)
    model.train()
    optimizer = adamw([p for p in model.parameters() if p.requires_grad], 0.0, config.train.weight_decay)
    found: dict[str, list[Sample]] = {}
    pool = [c for i in range(min(len(dataset), 64)) for c in dataset[i].characters]
    for start in range(0, len(dataset) - batch_size + 1, batch_size):
        batch = spread_characters([dataset[i] for i in range(start, start + batch_size)], pool)
        with torch.no_grad():
            margin = model(batch).get("margin")
        if margin is not None:
            found.setdefault("active" if float(margin) > 0 else "inactive", batch)
        if len(found) == 2:
            break
    result: dict = {"kind": "hinge", "batch_size": batch_size, "threads": torch.get_num_threads(),
                    "gradient_checkpointing": False, "character_spread": list(CHARACTER_SPREAD),
                    **position_figures(model.builder, [b for _, b in sorted(found.items())])}
    for state, batch in sorted(found.items()):
        seconds: dict[str, list[float]] = {name: [] for name in STEPS_COMPARED}
        for i in range(warmup + steps):
            for name in STEPS_COMPARED:
                start = time.perf_counter()
                optimizer.zero_grad()
                loss_of(model, batch, name).backward()
                optimizer.step()
                if i >= warmup:
                    seconds[name].append(time.perf_counter() - start)
        for name, times in seconds.items():
            # The median step: on a shared machine other processes take the cores in bursts,
            # and the variants alternate step by step, so a burst hits one of them only.
            result[f"{state}_{name}_samples_per_s"] = batch_size / statistics.median(times)
    return result


# -- orchestration ----------------------------------------------------------------------
def settings(args: argparse.Namespace) -> list[dict]:
    """Every measured setting, in table order."""
    runs = [{"kind": "train", "batch_size": b, "threads": t, "checkpointing": False}
            for t in sorted({1, args.threads}) for b in args.batch_sizes]
    runs += [{"kind": "train", "batch_size": b, "threads": 1, "checkpointing": True}
             for b in args.batch_sizes]
    runs.append({"kind": "data", "batch_size": max(args.batch_sizes), "threads": 1})
    runs.append({"kind": "hinge", "batch_size": max(args.batch_sizes), "threads": 1})
    return runs


def run_child(args: argparse.Namespace) -> dict:
    """Child mode: one setting, in this fresh process."""
    spec = json.loads(args.child)
    common = dict(overrides=args.set, seed=args.seed, warmup=args.warmup)
    torch.set_num_threads(spec["threads"])
    if spec["kind"] == "data":
        return measure_data(args.world, batch_size=spec["batch_size"], **common)
    if spec["kind"] == "hinge":
        return measure_hinge(args.world, batch_size=spec["batch_size"], steps=args.steps, **common)
    return measure_training(args.world, batch_size=spec["batch_size"], threads=spec["threads"],
                            checkpointing=spec["checkpointing"], steps=args.steps, **common)


def spawn(args: argparse.Namespace, spec: dict) -> dict:
    """Run one setting in a fresh interpreter so its memory peak is not another's."""
    argv = ["--world", str(args.world), "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--seed", str(args.seed), "--batch-sizes", *map(str, args.batch_sizes)]
    argv += [x for item in args.set for x in ("--set", item)]
    command = [sys.executable, "-m", "uniad.bench.bench_train", *argv, "--child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"setting {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def label_threads(threads: int) -> str:
    return "1 thread" if threads == 1 else f"{threads} threads"


def label(r: dict) -> str:
    if r["kind"] == "data":
        return f"data path only (DataLoader + collate), batch {r['batch_size']}"
    checkpointing = ", grad. checkpointing" if r["gradient_checkpointing"] else ""
    return f"train, batch {r['batch_size']}, {label_threads(r['threads'])}{checkpointing}"


def ratios(results: list[dict]) -> list[tuple[str, str, float]]:
    """The figures the issue asks for, each from two settings of this run, as
    ``(key, what it compares, ratio)``."""
    find = {(r["batch_size"], r["threads"], r["gradient_checkpointing"]): r
            for r in results if r["kind"] == "train"}
    plain = sorted((t, b) for b, t, checkpointing in find if not checkpointing)
    out: list[tuple[str, str, float]] = []
    for t, b in plain:
        b0 = min(b for t0, b in plain if t0 == t)
        if b != b0:
            out.append((f"batching_b{b}_vs_b{b0}_t{t}",
                        f"samples/s, batch {b} / batch {b0}, {label_threads(t)}",
                        find[(b, t, False)]["samples_per_s"] / find[(b0, t, False)]["samples_per_s"]))
    for t, b in plain:
        if t != 1 and (b, 1, False) in find:
            out.append((f"threads_t{t}_vs_t1_b{b}", f"samples/s, {t} threads / 1 thread, batch {b}",
                        find[(b, t, False)]["samples_per_s"] / find[(b, 1, False)]["samples_per_s"]))
    for (b, t, checkpointing), r in sorted(find.items()):
        if checkpointing and (b, t, False) in find:
            base = find[(b, t, False)]
            out.append((f"checkpointing_memory_b{b}_t{t}",
                        f"peak extra memory, grad. checkpointing on / off, batch {b}",
                        r["peak_extra_mib"] / max(base["peak_extra_mib"], 1e-9)))
            out.append((f"checkpointing_time_b{b}_t{t}", f"s/step, grad. checkpointing on / off, batch {b}",
                        r["seconds_per_step"] / base["seconds_per_step"]))
    for data in (r for r in results if r["kind"] == "data"):
        b = data["batch_size"]
        if (b, 1, False) in find:
            # Training reads its data inside the timed steps, so this is the share of a
            # training step spent getting data: near 0 means compute-bound.
            out.append((f"data_share_b{b}_t1", f"train samples/s / data-path samples/s, batch {b}",
                        find[(b, 1, False)]["samples_per_s"] / data["samples_per_s"]))
    for hinge in (r for r in results if r["kind"] == "hinge"):
        for state in ("inactive", "active"):
            if f"{state}_shared_samples_per_s" not in hinge:
                continue
            for other, words in (("release", "the release's step (whole model twice)"),
                                 ("separate", "two LLM passes, mappers once"),
                                 ("plain", "the plain step (no contrastive term)")):
                out.append((f"hinge_{state}_shared_vs_{other}",
                            f"samples/s, contrastive step, hinge {state}: one shared pass / "
                            f"{words}, batch {hinge['batch_size']}",
                            hinge[f"{state}_shared_samples_per_s"] / hinge[f"{state}_{other}_samples_per_s"]))
    return out


def print_table(args: argparse.Namespace, results: list[dict], figures: list[tuple[str, str, float]]) -> None:
    first = next(r for r in results if r["kind"] == "train")
    where = f"{args.movies} synthetic movies" if args.world_made else str(args.world)
    print(f"\nTraining the tiny UniAD (demo preset, model.llm=tiny; {first['trainable_parameters']:,} "
          f"of {first['parameters']:,} parameters train) on {where}: {args.steps} timed steps after "
          f"{args.warmup} warm-up, CPU, {platform.machine()}, {os.cpu_count()} cores\n")
    print("| setting | samples/s | target tok/s | sequence tok/s | s/step (median) | padding | "
          "peak extra memory | vs batch 1, 1 thread |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = first["samples_per_s"]
    for r in results:
        if r["kind"] == "hinge":
            continue
        if r["kind"] == "data":
            print(f"| {label(r)} | {r['samples_per_s']:.0f} | - | - | - | - | "
                  f"{r['peak_extra_mib']:.1f} MiB | - |")
            continue
        print(f"| {label(r)} | {r['samples_per_s']:.2f} | {r['target_tokens_per_s']:.0f} | "
              f"{r['sequence_tokens_per_s']:.0f} | {r['seconds_per_step']:.3f} ({r['seconds_per_step_median']:.3f}) | "
              f"{100 * r['padding_share']:.0f}% | {r['peak_extra_mib']:.1f} MiB | "
              f"{r['samples_per_s'] / base:.2f}x |")
    print(f"\nMean tokens per sample: {first['mean_target_tokens']:.1f} target (AD + end token), "
          f"{first['mean_sequence_tokens']:.1f} in the whole sequence (prompt text + visual slots + "
          "target). Padding: share of the positions a batch's LLM call reads that are left padding. "
          "Rates use the mean step time; a median far below the mean means other processes "
          "took the cores during some steps.\n")
    for hinge in (r for r in results if r["kind"] == "hinge"):
        spread = "-".join(str(n) for n in (min(hinge["character_spread"]), max(hinge["character_spread"])))
        print(f"Contrastive step, batch {hinge['batch_size']}, samples/s: release slot counts, {spread} "
              f"characters per sample in turn, {hinge['min_sequence_tokens']}-{hinge['max_sequence_tokens']} "
              f"positions per sample (mean {hinge['mean_sequence_tokens']:.0f}); padding is "
              f"{100 * hinge['release_padding_share']:.0f}% of the release's rows, the negatives "
              f"{100 * hinge['negative_share']:.0f}% of the shared step's packed row.\n")
        print("| hinge | shared pass (packed) | two LLM passes | release step (model twice, logits everywhere) | plain step |")
        print("|---|---:|---:|---:|---:|")
        for state in ("inactive", "active"):
            if f"{state}_shared_samples_per_s" in hinge:
                print(f"| {state} | " + " | ".join(f"{hinge[f'{state}_{name}_samples_per_s']:.2f}"
                                                   for name in STEPS_COMPARED) + " |")
        print()
    print("| ratio | value |")
    print("|---|---:|")
    for _, what, value in figures:
        print(f"| {what} | {value:.2f} |")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="bench_train_world_") as tmp:
        args.world_made = args.world is None
        if args.world_made:
            args.world = Path(tmp)
            make_world(args.world, movies=args.movies, seed=args.seed, dim=FEATURE_DIM, eval_movies=1)
        results = []
        for spec in settings(args):
            log.info("running %s ...", spec)
            results.append(spawn(args, spec))
    figures = ratios(results)
    print_table(args, results, figures)
    if args.json:
        summary = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                                if k not in ("json", "child")},
                   "machine": {"arch": platform.machine(), "cpus": os.cpu_count(),
                               "torch": torch.__version__},
                   "results": results, "ratios": {key: value for key, _, value in figures}}
        write_json(args.json, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
