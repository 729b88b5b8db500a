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


def checkpoint_dir(path: str | Path) -> Path:
    """``RUN/final`` when ``path`` is a run folder, else ``path`` itself."""
    folder = Path(path)
    return folder / "final" if (folder / "final").is_dir() else folder


def _describer_handler(args: argparse.Namespace) -> int:
    """``--describer vlm:|openai:``: frames from ``--videos``, no checkpoint or features."""
    from uniad.data.formats import read_annotations
    from uniad.errors import UniADError
    from uniad.eval.describe_split import evaluate_describer
    from uniad.eval.inputs import load_references
    from uniad.eval.scoring import ScoreOptions, parse_metrics
    from uniad.narrate.describers import parse_describer, prompted_describer

    kind, target = parse_describer(args.describer)
    if not args.videos:
        raise UniADError(f"--describer {args.describer} reads frames: pass --videos DIR "
                         "holding <video_id>.mp4 (or .mkv, ...) for each video of --data")
    device = args.device if args.device != "auto" else ("cuda" if _cuda() else "cpu")
    shared = {}

    def make(video):
        if "model" in shared:  # one model for all videos; only the video changes
            describer = shared["model"]
            describer.video = video
            return describer
        shared["model"] = prompted_describer(kind, target, video, None, [], [],
                                             model_name=args.describer_model,
                                             api_key=args.api_key,
                                             frames=args.frames_per_slot, device=device)
        return shared["model"]

    options = ScoreOptions(metrics=parse_metrics(args.metrics), tokenizer=args.tokenizer,
                           similarity=args.similarity, coref=args.coref, judge=args.judge)
    result = evaluate_describer(
        make, read_annotations(args.data).events, args.videos, load_references(args.data),
        args.out, data=args.data, options=options, words_per_second=args.words_per_second,
        limit=args.limit, resume=not args.no_resume,
        settings={"describer": args.describer, "describer_model": args.describer_model,
                  "data": str(args.data), "device": device})
    table = ", ".join(f"{k} {v:.2f}" for k, v in result.scores.items())
    print(f"{len(result.records)} samples ({result.generated_now} generated now): {table}; "
          f"report in {Path(args.out) / 'report.md'}")
    return 0


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _handler(args: argparse.Namespace) -> int:
    import torch

    from uniad.config import load_config
    from uniad.data.synthetic import WORLD_FILE, load_world_truth
    from uniad.errors import UniADError
    from uniad.eval.evaluate import evaluate
    from uniad.eval.inputs import load_references
    from uniad.eval.scoring import ScoreOptions, parse_metrics
    from uniad.model.uniad import CONFIG_FILE, UniAD
    from uniad.train.data import open_split

    if args.describer != "uniad":
        return _describer_handler(args)
    if not args.checkpoint or not args.features:
        raise UniADError("--checkpoint and --features are needed (or --describer vlm:/openai: "
                         "with --videos)")
    model_keys = [s for s in args.set if s.strip().startswith("model.")
                  and not s.strip().startswith(f"model.{EVAL_MODEL_SETTING}=")]
    if model_keys:
        raise UniADError(f"--set {model_keys[0]}: model settings come from the checkpoint; "
                         f"only data.*, generation.* and model.{EVAL_MODEL_SETTING} can be "
                         "changed at evaluation")
    ckpt = checkpoint_dir(args.checkpoint)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    model = UniAD.from_pretrained(ckpt, llm=args.llm, device=device, dtype=dtype)  # checks the folder
    model.to(dtype)  # the mappers and placeholders too, not only the LLM
    config = load_config(path=ckpt / CONFIG_FILE, overrides=args.set)
    model.config.model.release_lora = config.model.release_lora
    model.apply_release_lora()
    dataset = open_split(args.data, args.features, args.bank, config.data, training=False,
                         seed=config.train.seed)
    world = args.world or (Path(args.data).parent if (Path(args.data).parent / WORLD_FILE).is_file() else None)
    truth = load_world_truth(world) if world else None
    options = ScoreOptions(metrics=parse_metrics(args.metrics), tokenizer=args.tokenizer,
                           similarity=args.similarity, coref=args.coref, judge=args.judge)
    result = evaluate(
        model, dataset, args.out, generation=config.generation, options=options, truth=truth,
        references=load_references(args.data), batch_size=args.batch_size, limit=args.limit,
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
    p.add_argument("--describer", default="uniad", metavar="uniad|vlm:FOLDER|openai:URL",
                   help="a vision-language describer instead of a checkpoint; reads frames from --videos")
    p.add_argument("--videos", default=None, metavar="DIR",
                   help="for vlm:/openai:, one video per video_id: DIR/<video_id>.mp4 (.mkv, .mov, ...)")
    p.add_argument("--describer-model", default=None, help="model name for an openai: server")
    p.add_argument("--api-key", default=None, help="key for an openai: server (default $OPENAI_API_KEY)")
    p.add_argument("--frames-per-slot", type=int, default=4, help="frames a vlm:/openai: describer sees")
    p.add_argument("--words-per-second", type=float, default=2.5,
                   help="word budget per second of each event (vlm:/openai:)")
    p.add_argument("--data", required=True, help="annotation file of the split (MAD, CMD-AD, TV-AD)")
    p.add_argument("--features", default=None, help="video features (HDF5; --describer uniad)")
    p.add_argument("--bank", default=None, help="character bank (safetensors); none: no characters")
    p.add_argument("--world", default=None,
                   help="synthetic world folder for name/pronoun accuracy (default: the data's folder "
                        "when it holds world.json)")
    p.add_argument("--out", required=True, help="output folder (reused to resume)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a data.*, generation.* or model.release_lora setting of the "
                        "checkpoint's config")
    p.add_argument("--batch-size", type=int, default=None, help="samples per generate call")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples")
    p.add_argument("--metrics", default="cider,bleu,meteor,rouge",
                   help="comma-separated: cider bleu meteor rouge spice recall critic judge chars")
    p.add_argument("--tokenizer", choices=("auto", "java", "python"), default="auto",
                   help="PTB tokenizer for the COCO metrics")
    p.add_argument("--similarity", default="minilm", help="Recall@k/N similarity (see `uniad score`)")
    p.add_argument("--coref", default="rule", help="CRITIC coreference: rule or fastcoref:FOLDER")
    p.add_argument("--judge", default="smollm2", help="LLM judge: smollm2 or a model FOLDER")
    p.add_argument("--llm", default=None, help="load this LLM instead of the one recorded in the checkpoint")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cuda or cpu")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="weights and activations (default float32, as the release; bfloat16 "
                        "halves memory and speeds up a GPU, but the ids can differ)")
    p.add_argument("--no-resume", action="store_true", help="discard earlier predictions and start over")
    p.set_defaults(func=_handler)
