"""``uniad evaluate``: generate ADs for a whole split with a checkpoint, then score them.

Generation is batched and resumable (``predictions.jsonl`` grows per batch; a rerun
generates only what is missing). The output folder gets ``predictions.json``,
``scores.json`` (numbers + settings + dropped samples), ``report.md`` (table, settings,
best/worst examples) and ``per_movie.csv``. On a synthetic world (``world.json`` next to
the annotations, or ``--world``) name and pronoun accuracy are added.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from uniad.commands.options import (
    add_config_options, add_scoring_options, add_split_options, positive_int, scoring_options,
)

_EPILOG = """\
examples:
  uniad evaluate --checkpoint runs/demo --data world/eval.json --features world/features.h5 \\
      --bank world/charbank.safetensors --out runs/demo/eval
  uniad evaluate --checkpoint runs/mad/final --data mad_eval.json --features mad.h5 \\
      --set generation.num_beams=1 --metrics cider,recall --limit 200 --out runs/mad/eval
"""


def _handler(args: argparse.Namespace) -> int:
    import torch

    from uniad.config import load_config
    from uniad.world.synthetic import WORLD_FILE, load_world_truth
    from uniad.world.accuracy import WorldScorer
    from uniad.errors import DataError, UniADError
    from uniad.eval.evaluate import check_output_folder, evaluate
    from uniad.eval.inputs import load_references
    from uniad.model.folder import CONFIG_FILE, checkpoint_dir
    from uniad.model.uniad import UniAD
    from uniad.train.data import open_split

    model_keys = [s for s in args.set if s.strip().startswith("model.")]
    if model_keys:
        raise UniADError(f"--set {model_keys[0]}: model settings come from the checkpoint; "
                         "only data.* and generation.* can be changed at evaluation")
    # Every check before the model loads: settings, checkpoint files, output folder, data.
    ckpt = checkpoint_dir(args.checkpoint)
    batch = [] if args.batch_size is None else [f"generation.batch_size={args.batch_size}"]
    config = load_config(path=ckpt / CONFIG_FILE, overrides=args.set + batch)
    check_output_folder(Path(args.out))
    options = scoring_options(args)
    dataset = open_split(args.data, args.features, args.bank, config.data, training=False,
                         seed=config.train.seed)
    dataset.features.check_width(config.model.feature_dim)
    if dataset.unreadable and not args.skip_unreadable:
        reasons = dict(dataset.dropped)
        first = dataset.unreadable[0]
        raise DataError(args.features, f"{len(dataset.unreadable)} of {len(dataset.events) + len(dataset.dropped)} "
                        f"events of {args.data} have no usable features (first: {reasons[first]}); "
                        "scores on the rest would not compare with full-split numbers: fix the "
                        "store, or pass --skip-unreadable (they are then listed in scores.json)",
                        record=first)
    references = load_references(args.data)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model = UniAD.from_pretrained(ckpt, llm=args.llm, device=device)
    world = args.world or (Path(args.data).parent if (Path(args.data).parent / WORLD_FILE).is_file() else None)
    scorers = [WorldScorer(load_world_truth(world))] if world else []
    result = evaluate(
        model, dataset, args.out, generation=config.generation, options=options, scorers=scorers,
        references=references, limit=args.limit,
        resume=not args.no_resume,
        settings={"checkpoint": str(ckpt), "llm": model.llm_spec, "data": str(args.data),
                  "features": str(args.features), "bank": args.bank and str(args.bank),
                  "world": world and str(world), "device": device},
    )
    table = ", ".join(f"{k} {v:.2f}" for k, v in result.scores.items())
    print(f"{len(result.records)} samples ({result.generated_now} generated now): {table}; "
          f"report in {Path(args.out) / 'report.md'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="generate ADs for a split with a checkpoint and score them (resumable)",
        description=__doc__, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="a save_pretrained folder, or a run folder holding final/")
    add_split_options(p, data_help="annotation file of the split (MAD, CMD-AD, TV-AD)")
    p.add_argument("--world", default=None,
                   help="synthetic world folder for name/pronoun accuracy (default: the data's folder "
                        "when it holds world.json)")
    p.add_argument("--out", required=True, help="output folder (reused to resume)")
    add_config_options(p, preset=False,
                       set_help="override a data.* or generation.* setting of the checkpoint's config")
    p.add_argument("--batch-size", default=None, metavar="N",
                   help="samples per generate call (generation.batch_size)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="evaluate only the first N samples")
    add_scoring_options(p)
    p.add_argument("--llm", default=None, help="load this LLM instead of the one recorded in the checkpoint")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cuda or cpu")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="score the events whose features are usable and list the others, instead "
                        "of refusing a split with missing, empty or malformed feature windows")
    p.add_argument("--no-resume", action="store_true", help="discard earlier predictions and start over")
    p.set_defaults(func=_handler)
