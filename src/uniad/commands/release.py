"""``uniad import-release`` / ``uniad export-release``: the published checkpoints <-> our runs.

``import-release`` turns ``MAD.pt`` (optionally on top of ``LLaMA_AD_pretrain.pt``) into a
run folder that ``uniad evaluate --checkpoint RUN`` reads; ``export-release`` writes a run
back in the release's key names, so both directions can be checked against each other.
"""

from __future__ import annotations

import argparse


def _import(args: argparse.Namespace) -> int:
    from uniad.model.release import import_release  # imports torch

    folder, provenance = import_release(
        args.checkpoint, args.llm, args.out, preset=args.preset,
        ad_pretrained=args.ad_pretrained, overrides=args.set, llm_vocab=args.llm_vocab,
        allow_width=args.allow_width,
    )
    print(f"imported {args.checkpoint} -> {folder}")
    counts = provenance["keys_per_part"]
    for part, count in sorted(counts.items()):
        print(f"  {part:<17} {count:>5} key(s)")
    print(f"  {'total':<17} {sum(counts.values()):>5} key(s)")
    for what, where in provenance.get("absent_from_file", {}).items():
        print(f"  not in the file: {what}: value from {where}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from uniad.model.release import export_release  # imports torch

    path, count = export_release(args.run, args.out, args.name)
    print(f"exported {args.run} -> {path} ({count} keys, release layout with module. prefix)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    imp = subparsers.add_parser(
        "import-release",
        help="convert a published UniAD checkpoint (MAD.pt) into a run folder",
        description="Read a release checkpoint with torch.load(weights_only=True) (a file that "
        "would run code is refused), map every key onto UniAD's modules, check every shape "
        "against the model built for --preset on --llm, and write a run folder "
        "(config.yaml, model.safetensors, llm.json). Any key that cannot be placed, or any "
        "weight left unfilled, is an error that lists them.",
    )
    imp.add_argument("--checkpoint", required=True, metavar="PT",
                     help="release checkpoint ({epoch, name, state_dict, optimizer} or a bare "
                     "state dict), e.g. MAD.pt")
    imp.add_argument("--ad-pretrained", metavar="PT",
                     help="LLaMA_AD_pretrain.pt: its LLM (gpt.*) LoRA and norm weights are "
                     "loaded first and the main checkpoint's override them, as the release does")
    imp.add_argument("--llm", required=True, metavar="DIR",
                     help="folder of the LLM the checkpoint was trained on (Llama-2-7b-hf)")
    imp.add_argument("--preset", default="mad", choices=("mad", "cmdad", "tvad"),
                     help="model and decoding settings of the release (default: mad); "
                     "cmdad/tvad read CMDAD_TVAD.pt (video Q-Former); keys that file lacks "
                     "get the release's construction value and are listed")
    imp.add_argument("--allow-width", action="store_true",
                     help="cmdad/tvad: accept an LLM narrower or wider than 4096 (the release "
                     "hard-codes llama_proj to Llama-2-7B's width); for tiny test checkpoints")
    imp.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    imp.add_argument("--llm-vocab", type=int, metavar="N",
                     help="vocabulary the checkpoint was trained with (default: 32000, Llama-2)")
    imp.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a config setting of the run (repeatable)")
    imp.set_defaults(func=_import)

    exp = subparsers.add_parser(
        "export-release",
        help="write a run folder's weights as a release checkpoint (the reverse of import-release)",
        description="Map a run's model.safetensors back to the release's key names and shapes "
        "and torch.save it as {epoch, name, state_dict} with module.-prefixed keys.",
    )
    exp.add_argument("--run", required=True, metavar="RUN", help="run folder (import-release or train)")
    exp.add_argument("--out", required=True, metavar="PT", help="checkpoint file to write")
    exp.add_argument("--name", help="the checkpoint's name field (default: the run folder's name)")
    exp.set_defaults(func=_export)
