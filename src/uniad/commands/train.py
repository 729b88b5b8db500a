"""`uniad train`: train UniAD from annotations + features (+ bank), plain or under torchrun.

The same command line runs on one process and under ``torchrun --nproc_per_node N``
(any number of nodes); see ``uniad.train.loop`` for what a run folder holds.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from uniad.commands.options import add_config_options, add_split_options, positive_int

log = logging.getLogger(__name__)


def _handler(args: argparse.Namespace) -> int:
    from uniad.config import load_config
    from uniad.io import refuse_existing_file
    from uniad.data.dataset import collate_samples
    from uniad.data.splits import open_split
    from uniad.train.data import build_for_training
    from uniad.train.init import initialise
    from uniad.train.distributed import cleanup_distributed, init_distributed
    from uniad.runtime import retune_threads
    from uniad.train.loop import train
    from uniad.train.monitor import write_run_info

    overrides = [*(TRAIN_LLM_ADAPTERS if args.train_lora_norms else ()), *args.set]
    config = load_config(args.preset, args.config, overrides)
    refuse_existing_file(args.out, "--out")
    check_run_folder(Path(args.out), resume=args.resume, overwrite=args.overwrite, init=args.init)
    ctx = init_distributed(args.device)
    try:
        if ctx.is_main and args.overwrite and not args.resume:
            clear_run(Path(args.out))
        model, train_set = build_for_training(args.train_data, args.features, args.bank, config)
        val_set = None
        if args.val_data:
            val_set = open_split(args.val_data, args.features, args.bank, config.data,
                                 training=False, seed=config.train.seed)
        extra: dict = {"world_size": ctx.world_size}
        if args.init:
            extra["init"] = initialise(model, args.init, config.train.init_parts)
        if ctx.is_main:
            data = {"train_data": args.train_data, "val_data": args.val_data,
                    "features": args.features, "bank": args.bank}
            write_run_info(Path(args.out), model.config, data, extra=extra)
        if ctx.world_size == 1:  # several processes on one machine share the cores: keep theirs
            retune_threads()
        result = train(
            model, train_set, config.train, args.out,
            collate_fn=collate_samples, val_set=val_set, resume=args.resume,
            stop_at_step=args.stop_at_step, ctx=ctx,
            find_unused_parameters=args.find_unused_parameters,
        )  # fmt: skip
        if ctx.is_main:
            where = (f"{result.run_dir}/final" if result.completed
                     else f"{result.run_dir}/checkpoints (continue with --resume)")
            print(f"trained {result.global_step}/{result.total_steps} steps, "
                  f"last loss {result.last_loss}; weights in {where}")
    finally:
        cleanup_distributed()
    return 0


TRAIN_LLM_ADAPTERS = ("model.train_lora=true", "model.train_norms=true")  # if_finutune_GPT 1


def check_run_folder(out: Path, *, resume: bool, overwrite: bool, init: str | None) -> None:
    """Refuse, before any work, to train from step 0 over a run (its checkpoints would mix
    with the new ones) unless ``--overwrite``, and to resume a run that started from an
    ``--init`` without it (the weights the checkpoints do not hold would differ)."""
    from uniad.errors import UniADError
    from uniad.train.checkpoint import CHECKPOINTS
    from uniad.train.init import check_source
    from uniad.train.monitor import RUN_INFO

    if init is not None:
        check_source(Path(init))
    holds_run = (out / CHECKPOINTS).is_dir() or (out / "final").is_dir()
    if holds_run and not resume and not overwrite:
        raise UniADError(f"--out {out}: already holds a training run; continue it with --resume, "
                         "or start again from step 0 with --overwrite")
    info = out / RUN_INFO
    if resume and info.is_file():
        import json

        try:
            recorded = json.loads(info.read_text(encoding="utf-8")).get("init")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded and not init:
            raise UniADError(f"--resume: {out} started from --init {recorded.get('source')}; "
                             "give the same --init to resume it")


def clear_run(out: Path) -> None:
    """``--overwrite``: what a run writes as it goes (checkpoints, metrics, final weights)."""
    import shutil

    from uniad.train.checkpoint import CHECKPOINTS
    from uniad.train.monitor import METRICS, TENSORBOARD

    for name in (CHECKPOINTS, "final", METRICS, TENSORBOARD):
        path = out / name
        if path.is_dir():
            log.warning("--overwrite: removing %s", path)
            shutil.rmtree(path)
        elif path.is_file():
            log.warning("--overwrite: removing %s", path)
            path.unlink()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train UniAD (plain or under torchrun), resumable",
        description=(
            "Train the mappers and adapters of UniAD on AD annotations, video features and a "
            "character bank. Run it directly or under `torchrun --nproc_per_node N`. The run "
            "folder gets config.yaml, run.json, metrics.jsonl, tensorboard/, loss.png, "
            "checkpoints/step_*/ (atomic; `latest` names the newest) and final/."
        ),
    )
    add_config_options(parser)
    add_split_options(parser, "--train-data", "training annotations (MAD / CMD-AD / TV-AD JSON)")
    parser.add_argument("--val-data", default=None,
                        help="validation annotations (loss every train.eval_every steps)")
    parser.add_argument("--out", required=True, help="run folder (created)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run folder's latest checkpoint (give the "
                             "run's --init again: it sets the weights the checkpoint does not hold)")
    parser.add_argument("--overwrite", action="store_true",
                        help="train from step 0 into a run folder that already holds a run")
    parser.add_argument("--init", default=None, metavar="SOURCE",
                        help="start from a release checkpoint (LLaMA_AD_pretrain.pt, MAD.pt, "
                             "CMDAD_TVAD.pt; read with weights_only) or a UniAD run folder; "
                             "train.init_parts says which parts it may fill, every key is placed "
                             "or refused by name, run.json records file, sha256 and keys per part")
    parser.add_argument("--train-lora-norms", action="store_true",
                        help="train the LLM's LoRA and RMSNorm weights too (the release's "
                             "--if_finutune_GPT 1; the mad preset freezes them, as the seed's "
                             "command does)")
    parser.add_argument("--stop-at-step", type=positive_int, default=None, metavar="N",
                        help="stop after optimizer step N with a checkpoint, schedule "
                             "unchanged (continue with --resume)")
    parser.add_argument("--device", default="auto", help="auto (GPU if present), cuda or cpu")
    parser.add_argument("--find-unused-parameters", action="store_true",
                        help="DDP: allow parameters that get no gradient in a step "
                             "(e.g. batches without characters)")
    parser.set_defaults(func=_handler)
