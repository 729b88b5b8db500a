"""Command-line options shared by several commands, declared once.

Settings are not re-declared per command: ``--preset/--config/--set`` resolve through
:func:`uniad.config.load_config`, and a config section becomes flags with
:func:`add_section_flags` (``NarrateConfig.min_gap`` -> ``--min-gap``), whose values go
through the same converter and range checks as ``--set``.
"""

from __future__ import annotations

import argparse
from typing import Any

from uniad.config import PRESETS, section_flags


def add_config_options(parser: argparse.ArgumentParser, *, preset: bool = True,
                       set_help: str = "override one setting (repeatable)") -> None:
    """``--preset`` and ``--config`` (when ``preset``) and the repeatable ``--set``."""
    if preset:
        parser.add_argument("--preset", choices=PRESETS, default=None, help="settings preset")
        parser.add_argument("--config", default=None, help="YAML file overriding the preset")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help=set_help)


def add_split_options(parser: argparse.ArgumentParser, data_flag: str = "--data",
                      data_help: str = "annotation file (MAD, CMD-AD or TV-AD JSON)",
                      required: bool = True) -> None:
    """What :func:`uniad.data.splits.open_split` opens: annotations, features and a bank."""
    parser.add_argument(data_flag, required=required, metavar="ANN", help=data_help)
    parser.add_argument("--features", required=required, metavar="H5", help="video features (HDF5)")
    parser.add_argument("--bank", default=None, metavar="BANK",
                        help="character bank (.safetensors, cast .json or legacy .pth.tar); "
                             "omitted: no characters")


def add_section_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of the config section ``cls``; values stay text until
    :func:`section_overrides` hands them to the config's converter."""
    for flag, name, help_text in section_flags(cls):
        parser.add_argument(flag, dest=name, default=None, metavar=name.upper(), help=help_text)


def section_overrides(args: argparse.Namespace, cls: type, section: str) -> list[str]:
    """``--set``-style overrides for the section flags the user gave."""
    out = []
    for _, name, _ in section_flags(cls):
        value: Any = getattr(args, name, None)
        if value is not None:
            out.append(f"{section}.{name}={value}")
    return out


def _positive(convert: Any, what: str) -> Any:
    """An argparse type: ``convert``'s value, finite and > 0, else a usage error (exit 2)."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
        return value
    return parse


positive_int = _positive(int, "a whole number")  # counts: --limit, --stop-at-step
positive_float = _positive(float, "a number")  # rates: --fps


def add_describer_options(parser: argparse.ArgumentParser) -> None:
    """Who writes the ADs (``uniad narrate`` and ``uniad evaluate``, one declaration):
    ``--describer`` and the settings of a ``vlm:``/``openai:`` describer."""
    parser.add_argument("--describer", default="uniad", metavar="uniad|vlm:FOLDER|openai:URL",
                        help="who writes the ADs: the UniAD --checkpoint (default), a local "
                             "image-text-to-text model folder (Qwen2.5-VL, SmolVLM, ...), or an "
                             "OpenAI-compatible server, e.g. openai:http://127.0.0.1:8000/v1")
    parser.add_argument("--describer-model", default=None, metavar="NAME",
                        help="model name sent to an openai: server (default: $UNIAD_OPENAI_MODEL)")
    parser.add_argument("--api-key", default=None,
                        help="key for an openai: server (default: $OPENAI_API_KEY; local "
                             "servers need none)")
    parser.add_argument("--frames-per-slot", type=positive_int, default=4, metavar="N",
                        help="frames a vlm:/openai: describer sees per slot")


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """The metric options ``uniad score`` and ``uniad evaluate`` share (one declaration)."""
    parser.add_argument("--metrics", default="cider,bleu,meteor,rouge",
                        help="comma-separated: cider bleu meteor rouge spice recall critic judge chars")
    parser.add_argument("--tokenizer", choices=("auto", "java", "python"), default="auto",
                        help="PTB tokenizer: Java (exact COCO) when installed, else the Python stand-in")
    parser.add_argument("--similarity", default="minilm",
                        help="Recall similarity: minilm (embedded), embedding:FOLDER, bertscore[:FOLDER], lexical")
    parser.add_argument("--recall-k", type=positive_int, nargs="+", default=[1, 5],
                        help="k values of Recall@k/N")
    parser.add_argument("--recall-n", type=positive_int, default=16, help="window N of Recall@k/N")
    parser.add_argument("--coref", default="rule", help="CRITIC coreference: rule or fastcoref:FOLDER")
    parser.add_argument("--judge", default="smollm2", help="LLM judge: smollm2, a model FOLDER, or openai")
    parser.add_argument("--judge-url", help="OpenAI-compatible base URL (.../v1) for --judge openai")
    parser.add_argument("--judge-model", help="model name for --judge openai")
    parser.add_argument("--judge-retries", type=int, default=2, help="re-asks for an unparsable answer")


def scoring_options(args: argparse.Namespace) -> Any:
    """The :class:`~uniad.eval.scoring.ScoreOptions` of :func:`add_scoring_options`' flags."""
    from uniad.eval.scoring import ScoreOptions, parse_metrics

    return ScoreOptions(
        metrics=parse_metrics(args.metrics), tokenizer=args.tokenizer, similarity=args.similarity,
        recall_ks=tuple(args.recall_k), recall_window=args.recall_n, coref=args.coref,
        judge=args.judge, judge_url=args.judge_url, judge_model=args.judge_model,
        judge_retries=args.judge_retries,
    )
