"""``uniad evaluate``: generate ADs for a whole split with a checkpoint, then score them.

Generation is batched and resumable (``predictions.jsonl`` grows per batch; a rerun
generates only what is missing). The output folder gets ``predictions.json``,
``scores.json`` (numbers + settings + dropped samples), ``report.md`` (table, settings,
best/worst examples) and ``per_movie.csv``. On a synthetic world (``world.json`` next to
the annotations, or ``--world``) name and pronoun accuracy are added.

``--describer vlm:FOLDER|openai:URL`` scores a vision-language model instead, on the
frames of ``--videos DIR/<video_id>.mp4`` (see :mod:`uniad.eval.describe_split`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from uniad.commands.options import (
    add_config_options, add_describer_options, add_scoring_options, add_split_options,
    positive_float, positive_int, scoring_options, section_from_flags,
)
from uniad.config import DescriberConfig

# The one model setting evaluation may change: whether the checkpoint's LoRA acts.
EVAL_MODEL_SETTING = "release_lora"

_EPILOG = """\
examples:
  uniad evaluate --checkpoint runs/demo --data world/eval.json --features world/features.h5 \\
      --bank world/charbank.safetensors --out runs/demo/eval
  uniad evaluate --checkpoint runs/mad/final --data mad_eval.json --features mad.h5 \\
      --set generation.num_beams=1 --metrics cider,recall --limit 200 --out runs/mad/eval
  uniad evaluate --describer openai:http://127.0.0.1:8000/v1 \\
      --describer-model Qwen/Qwen2.5-VL-7B-Instruct --data mad_eval.json --videos movies/ \\
      --limit 200 --out runs/qwen/eval
"""


def _describer_handler(args: argparse.Namespace, describer: DescriberConfig, options) -> int:
    """``--describer vlm:|openai:``: frames from ``--videos``, no checkpoint or features."""
    from uniad.data.formats import read_annotations
    from uniad.errors import UniADError
    from uniad.eval.describe_split import evaluate_describer
    from uniad.eval.inputs import load_references
    from uniad.narrate.describe.choose import prompted_describer

    if not args.videos:
        raise UniADError(f"--describer {describer.describer} reads frames: pass --videos DIR "
                         "holding <video_id>.mp4 (or .mkv, ...) for each video of --data")
    device = _device(args)

    def make(video):  # called once, for the first event to describe: one model for all videos
        return prompted_describer(describer, video, None, [], [], device=device)

    annotations = read_annotations(args.data)
    result = evaluate_describer(
        make, annotations.events, args.videos, load_references(args.data, annotations),
        args.out, data=args.data, options=options, words_per_second=args.words_per_second,
        limit=args.limit, resume=not args.no_resume,
        settings={"describer": describer.describer, "describer_model": describer.describer_model,
                  "data": str(args.data), "device": device})
    table = ", ".join(f"{k} {v:.2f}" for k, v in result.scores.items())
    print(f"{len(result.records)} samples ({result.generated_now} generated now): {table}; "
          f"report in {Path(args.out) / 'report.md'}")
    return 0


def _device(args: argparse.Namespace) -> str:
    """``--device``, with ``auto`` meaning the GPU when there is one."""
    if args.device != "auto":
        return args.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _handler(args: argparse.Namespace) -> int:
    from uniad.config import load_config
    from uniad.errors import DataError, UniADError

    # Every setting is checked first, before a file, model or video is read.
    describer = section_from_flags(args, DescriberConfig)
    batch = [] if args.batch_size is None else [f"generation.batch_size={args.batch_size}"]
    load_config(overrides=args.set + batch)
    options = scoring_options(args)
    model_keys = [s for s in args.set if s.strip().startswith("model.")
                  and not s.strip().startswith(f"model.{EVAL_MODEL_SETTING}=")]
    if model_keys:
        raise UniADError(f"--set {model_keys[0]}: model settings come from the checkpoint; "
                         f"only data.*, generation.* and model.{EVAL_MODEL_SETTING} can be "
                         "changed at evaluation")
    if not args.data:
        raise UniADError("--data (the annotation file of the split) is needed")
    if describer.kind != "uniad":
        return _describer_handler(args, describer, options)
    if not args.checkpoint or not args.features:
        raise UniADError("--checkpoint, --data and --features are needed (or --describer "
                         "vlm:/openai: with --data and --videos)")

    from uniad.data.formats import read_annotations
    from uniad.data.splits import open_split
    from uniad.eval.evaluate import check_output_folder, evaluate
    from uniad.eval.inputs import load_references
    from uniad.model.folder import CONFIG_FILE, checkpoint_dir
    from uniad.model.uniad import UniAD
    from uniad.world.accuracy import WorldScorer
    from uniad.world.synthetic import WORLD_FILE, load_world_truth

    # Every check before the model loads: checkpoint files, output folder, data.
    ckpt = checkpoint_dir(args.checkpoint)
    config = load_config(path=ckpt / CONFIG_FILE, overrides=args.set + batch)
    check_output_folder(Path(args.out))
    annotations = read_annotations(args.data)  # parsed once, for the dataset and the references
    dataset = open_split(args.data, args.features, args.bank, config.data, training=False,
                         seed=config.train.seed, read=annotations)
    dataset.features.check_width(config.model.feature_dim)
    if dataset.unreadable and not args.skip_unreadable:
        reasons = dict(dataset.dropped)
        first = dataset.unreadable[0]
        raise DataError(args.features, f"{len(dataset.unreadable)} of {len(dataset.events) + len(dataset.dropped)} "
                        f"events of {args.data} have no usable features (first: {reasons[first]}); "
                        "scores on the rest would not compare with full-split numbers: fix the "
                        "store, or pass --skip-unreadable (they are then listed in scores.json)",
                        record=first)
    references = load_references(args.data, annotations)
    import torch

    device = _device(args)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    model = UniAD.from_pretrained(ckpt, llm=args.llm, device=device, dtype=dtype)
    model.to(dtype)  # the mappers and placeholders too, not only the LLM
    model.config.model.release_lora = config.model.release_lora  # the one model.* --set
    model.apply_release_lora()
    world = args.world or (Path(args.data).parent if (Path(args.data).parent / WORLD_FILE).is_file() else None)
    scorers = [WorldScorer(load_world_truth(world))] if world else []
    result = evaluate(
        model, dataset, args.out, generation=config.generation, options=options, scorers=scorers,
        references=references, limit=args.limit,
        resume=not args.no_resume,
        settings={"checkpoint": str(ckpt), "llm": model.llm_spec, "data": str(args.data),
                  "features": str(args.features), "bank": args.bank and str(args.bank),
                  "world": world and str(world), "device": device, "dtype": args.dtype},
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
    p.add_argument("--checkpoint", default=None,
                   help="a save_pretrained folder, or a run folder holding final/ (--describer uniad)")
    add_describer_options(p, portraits=False)
    p.add_argument("--videos", default=None, metavar="DIR",
                   help="for vlm:/openai:, one video per video_id: DIR/<video_id>.mp4 (.mkv, .mov, ...)")
    p.add_argument("--words-per-second", type=positive_float, default=2.5,
                   help="word budget per second of each event (vlm:/openai:)")
    add_split_options(p, data_help="annotation file of the split (MAD, CMD-AD, TV-AD)", required=False)
    p.add_argument("--world", default=None,
                   help="synthetic world folder for name/pronoun accuracy (default: the data's folder "
                        "when it holds world.json)")
    p.add_argument("--out", required=True, help="output folder (reused to resume)")
    add_config_options(p, preset=False,
                       set_help="override a data.*, generation.* or model.release_lora setting "
                                "of the checkpoint's config")
    p.add_argument("--batch-size", default=None, metavar="N",
                   help="samples per generate call (generation.batch_size; the ADs do not depend on it)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="evaluate only the first N samples")
    add_scoring_options(p)
    p.add_argument("--llm", default=None, help="load this LLM instead of the one recorded in the checkpoint")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cuda or cpu")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="weights and activations (default float32, as the release; bfloat16 "
                        "halves memory and speeds up a GPU, but the ids can differ)")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="score the events whose features are usable and list the others, instead "
                        "of refusing a split with missing, empty or malformed feature windows")
    p.add_argument("--no-resume", action="store_true", help="discard earlier predictions and start over")
    p.set_defaults(func=_handler)
