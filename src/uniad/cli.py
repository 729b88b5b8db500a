"""The ``uniad`` command line.

Each subcommand lives in its own module under ``uniad.commands`` and exposes
``register(subparsers)``; this file only wires them together and turns UniAD's own
errors into one readable message and a non-zero exit instead of a traceback.
Command modules are imported lazily inside their handlers where they need torch, so
``uniad --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from uniad.errors import UniADError
from uniad.runtime import apply_threads

# Order is the order shown in `uniad --help`.
COMMAND_MODULES = [
    "uniad.commands.demo",
    "uniad.commands.synth",
    "uniad.commands.narrate",
    "uniad.commands.render",
    "uniad.commands.data",
    "uniad.commands.train",
    "uniad.commands.evaluate",
    "uniad.commands.score",
    "uniad.commands.bench",
    "uniad.commands.inspect",
    "uniad.commands.release",
]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uniad",
        description=(
            "UniAD: audio description for film and TV from an interleaved multimodal "
            "sequence (video, character bank, story so far) fed to a LoRA-tuned LLM."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--threads", type=_positive_int, default=None, metavar="N",
        help="torch intra-op threads (default: OMP_NUM_THREADS if set, else the cores not "
             "already busy, so a shared machine is not oversubscribed)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    apply_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except UniADError as err:
        print(f"uniad {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
