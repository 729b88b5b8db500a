"""Command-line options shared by several commands, declared once.

Settings are not re-declared per command: ``--preset/--config/--set`` resolve through
:func:`uniad.config.load_config`, and a config section becomes flags with
:func:`add_section_flags` (``ScreenTextConfig.ocr_fps`` -> ``--ocr-fps``), whose values go
through the same converter and range checks as ``--set``, and whose errors name the flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any

from uniad.config import DescriberConfig, PRESETS, coerce, flag_names, section_flags


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


def add_section_flags(parser: argparse.ArgumentParser, cls: type,
                      skip: Collection[str] = ()) -> None:
    """One flag per field of the config section ``cls`` (but the fields in ``skip``);
    values stay text until :func:`flag_values` converts them under the flag's name. A
    boolean field is a switch (``--extended``, ``--no-portraits``)."""
    for f in section_flags(cls):
        if f.field in skip:
            continue
        if f.switch:
            parser.add_argument(f.flag, dest=f.field, action="store_const", const=not f.default,
                                default=None, help=f.help)
        else:
            parser.add_argument(f.flag, dest=f.field, default=None, choices=f.choices,
                                metavar=f.metavar or (None if f.choices else f.field.upper()),
                                help=f.help)


def flag_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` the user gave as flags, each converted and range-checked
    under the flag's own name (``--min-gap must be >= 0.3, got -1.0``)."""
    return {f.field: coerce(getattr(args, f.field), f.hint, f.flag)
            for f in section_flags(cls) if getattr(args, f.field, None) is not None}


def section_from_flags(args: argparse.Namespace, cls: type) -> Any:
    """The section ``cls`` the flags ask for, with its cross-field rules checked; every
    message names the flags."""
    return cls(**flag_values(args, cls)).validate(flag_names(cls))


def section_overrides(args: argparse.Namespace, cls: type, section: str) -> list[str]:
    """``--set``-style overrides for the section flags the user gave (checked first under
    the flags' names)."""
    return [f"{section}.{name}={value}" for name, value in flag_values(args, cls).items()]


def _positive(convert: Any, what: str, zero: bool = False) -> Any:
    """An argparse type: ``convert``'s value, finite and > 0 (``zero``: >= 0), else a usage
    error (exit 2)."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (0 <= value if zero else 0 < value) or not value < float("inf"):
            raise argparse.ArgumentTypeError(
                f"must be a finite number {'>=' if zero else '>'} 0, got {text}")
        return value
    return parse


positive_int = _positive(int, "a whole number")  # counts: --limit, --stop-at-step
non_negative_int = _positive(int, "a whole number", zero=True)  # --judge-retries
positive_float = _positive(float, "a number")  # rates: --fps


def add_describer_options(parser: argparse.ArgumentParser, portraits: bool = True) -> None:
    """Who writes the ADs (``uniad narrate`` and ``uniad evaluate``): the flags of
    :class:`~uniad.config.DescriberConfig` (``portraits``: also ``--no-portraits``, for
    commands that have a cast)."""
    add_section_flags(parser, DescriberConfig, skip=() if portraits else ("portraits",))


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
    parser.add_argument("--judge-retries", type=non_negative_int, default=2, help="re-asks for an unparsable answer")


def scoring_options(args: argparse.Namespace) -> Any:
    """The :class:`~uniad.eval.scoring.ScoreOptions` of :func:`add_scoring_options`' flags."""
    from uniad.eval.scoring import ScoreOptions, parse_metrics

    return ScoreOptions(
        metrics=parse_metrics(args.metrics), tokenizer=args.tokenizer, similarity=args.similarity,
        recall_ks=tuple(args.recall_k), recall_window=args.recall_n, coref=args.coref,
        judge=args.judge, judge_url=args.judge_url, judge_model=args.judge_model,
        judge_retries=args.judge_retries,
    )
