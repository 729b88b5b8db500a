"""`uniad inspect`: see exactly what the LLM reads, or where a model's parameters are.

Two modes:

- ``--data ANN --features H5 [--bank BANK] --index N``: one sample's interleaved sequence
  in words (``[prompt] Possible characters: ... <char x30> ... Describe <video x30> :``),
  with its length by part, built by the same dataset and sequence builder as training.
- ``--model SPEC``: parameter counts by part (frozen LLM, LoRA, each mapper, the new
  embeddings). The architecture is built on the meta device, so ``--model llama2-7b
  --preset mad`` shows the paper's 7B split without any weights: the trainable parameters
  are the two mapper towers (~812.6 M), not LoRA (~16.8 M).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from uniad.commands.options import add_config_options, add_split_options
from uniad.config import UniADConfig, load_config
from uniad.errors import UniADError

PARTS = (
    ("llm", "frozen LLM"),
    ("lora", "LoRA"),
    ("video_mapper", "video mapper"),
    ("character_mapper", "character mapper"),
    ("new_embeddings", "new embeddings"),
)


def _config(args: argparse.Namespace) -> UniADConfig:
    return load_config(args.preset, args.config, args.set)


def _millions(n: int) -> str:
    return f"{n / 1e6:,.1f} M"


def parameter_table(counts: dict[str, dict[str, int]]) -> str:
    """Markdown table of :meth:`UniAD.parameter_counts`, one row per part plus totals."""
    rows = ["| part | parameters | trainable |", "|---|---:|---:|"]
    for key, label in PARTS:
        c = counts[key]
        rows.append(f"| {label} | {c['total']:,} ({_millions(c['total'])}) | {c['trainable']:,} |")
    everything = counts["all"]
    rows.append(f"| **total trainable** | | **{everything['trainable']:,} ({_millions(everything['trainable'])})** |")
    rows.append(f"| **total** | **{everything['total']:,} ({_millions(everything['total'])})** | |")
    return "\n".join(rows)


def inspect_model(args: argparse.Namespace) -> int:
    from uniad.model.uniad import UniAD

    if (Path(args.model) / "llm.json").is_file():  # a trained UniAD checkpoint
        model = UniAD.from_pretrained(args.model)
        source = f"checkpoint {args.model}"
    else:
        config = _config(args)
        config.model.llm = args.model
        model = UniAD.build(config, meta=True)  # sizes only: no weights are loaded
        source = f"LLM '{args.model}'" + (f", preset {args.preset}" if args.preset else "")
    print(f"UniAD parameters ({source}, mapper={model.config.model.mapper}, "
          f"train_lora={model.config.model.train_lora}):\n")
    print(parameter_table(model.parameter_counts()))
    return 0


def inspect_sample(args: argparse.Namespace) -> int:
    from uniad.model.llm import load_llm
    from uniad.model.sequence import EmbedSegment, SequenceBuilder, describe
    from uniad.data.splits import open_split

    config = _config(args)
    dataset = open_split(args.data, args.features, args.bank, config.data,
                         training=args.split == "train", seed=config.train.seed)
    spec = args.llm or config.model.llm
    _, tokenizer = load_llm(spec, corpus=[e.text for e in dataset.events], meta=True)
    if tokenizer is None:
        raise UniADError(f"LLM '{spec}' has no tokenizer; pass --llm (smollm2, tiny or a model folder)")
    if not 0 <= args.index < len(dataset):
        raise UniADError(f"--index {args.index} is out of range: {args.data} gives {len(dataset)} samples")
    sample = dataset[args.index]
    segments = SequenceBuilder(tokenizer, config.model).build(sample, with_target=sample.target is not None)
    sizes: Counter[str] = Counter()
    for seg in segments:
        sizes[seg.role] += seg.num_tokens if isinstance(seg, EmbedSegment) else len(seg.ids)
    print(f"sample {sample.sample_id} ({args.split} split, LLM '{spec}', "
          f"prompt_style {config.model.prompt_style}):\n")
    print(describe(segments))
    print(f"\n{sum(sizes.values())} positions: " + ", ".join(f"{role} {n}" for role, n in sizes.items()))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.model:
        return inspect_model(args)
    missing = [flag for flag, value in (("--data", args.data), ("--features", args.features),
                                        ("--index", args.index)) if value is None]
    if missing:
        raise UniADError(f"give --model SPEC, or a sample with {', '.join(missing)}")
    return inspect_sample(args)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show one sample's interleaved sequence, or a model's parameters by part",
        description=(
            "Show what the LLM reads for one sample (--data/--features/--index), or count a "
            "model's parameters by part (--model SPEC: an LLM spec or a UniAD checkpoint)."
        ),
    )
    parser.add_argument("--model", metavar="SPEC",
                        help="count parameters: llama2-7b, smollm2, tiny, an LLM folder or a checkpoint")
    add_split_options(parser, required=False)
    parser.add_argument("--index", type=int, help="which sample of the annotation file")
    parser.add_argument("--split", choices=("train", "eval"), default="eval",
                        help="frame sampling and character source of this split (default eval)")
    parser.add_argument("--llm", metavar="SPEC", help="tokenizer's LLM (default: the config's model.llm)")
    add_config_options(parser)
    parser.set_defaults(func=run)
