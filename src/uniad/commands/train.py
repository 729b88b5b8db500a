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
    from uniad.train.distributed import cleanup_distributed, init_distributed
    from uniad.train.loop import train
    from uniad.train.monitor import write_run_info

    config = load_config(args.preset, args.config, args.set)
    refuse_existing_file(args.out, "--out")
    ctx = init_distributed(args.device)
    try:
        if ctx.is_main and not args.resume and (Path(args.out) / "checkpoints").is_dir():
            log.warning("%s already holds checkpoints; without --resume training starts "
                        "from step 0", args.out)
        seed = config.train.seed
        train_set = open_split(args.train_data, args.features, args.bank, config.data,
                               training=True, seed=seed)
        val_set = None
        if args.val_data:
            val_set = open_split(args.val_data, args.features, args.bank, config.data,
                                 training=False, seed=seed)
        model, train_set = build_for_training(train_set, config)
        if ctx.is_main:
            data = {"train_data": args.train_data, "val_data": args.val_data,
                    "features": args.features, "bank": args.bank}
            write_run_info(Path(args.out), model.config, data, extra={"world_size": ctx.world_size})
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
                        help="continue from the run folder's latest checkpoint")
    parser.add_argument("--stop-at-step", type=positive_int, default=None, metavar="N",
                        help="stop after optimizer step N with a checkpoint, schedule "
                             "unchanged (continue with --resume)")
    parser.add_argument("--device", default="auto", help="auto (GPU if present), cuda or cpu")
    parser.add_argument("--find-unused-parameters", action="store_true",
                        help="DDP: allow parameters that get no gradient in a step "
                             "(e.g. batches without characters)")
    parser.set_defaults(func=_handler)
