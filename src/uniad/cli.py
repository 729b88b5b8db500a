"""The ``uniad`` command line.

Each subcommand lives in its own module under ``uniad.commands`` and exposes
``register(subparsers)``; this file only wires them together and turns UniAD's own
errors into one readable message and a non-zero exit instead of a traceback.

Exit status (the same for every command, see :data:`EXIT_CODES`): 0 success; 1 the
command ran and found problems in its input (``uniad data validate``); 2 an error the
message explains (bad input, bad setting, unwritable output; also argparse's usage
errors); 3 an internal error, a bug (``-v`` prints its traceback); 130 interrupted.
Command modules are imported lazily inside their handlers where they need torch, so
``uniad --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from uniad.commands.options import positive_int
from uniad.errors import UniADError
from uniad.runtime import apply_threads

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR, EXIT_CRASH, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_PROBLEMS: "the input was checked and problems were found (data validate)",
    EXIT_ERROR: "an error the message explains (input, setting or output)",
    EXIT_CRASH: "an internal error (a bug; -v shows the traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

# Order is the order shown in `uniad --help`.
COMMAND_MODULES = [
    "uniad.commands.demo",
    "uniad.commands.synth",
    "uniad.commands.narrate",
    "uniad.commands.render",
    "uniad.commands.review",
    "uniad.commands.data",
    "uniad.commands.train",
    "uniad.commands.evaluate",
    "uniad.commands.score",
    "uniad.commands.bench",
    "uniad.commands.inspect",
    "uniad.commands.release",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uniad",
        description=(
            "UniAD: audio description for film and TV from an interleaved multimodal "
            "sequence (video, character bank, story so far) fed to a LoRA-tuned LLM."
        ),
        epilog="exit status: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--threads", type=positive_int, default=None, metavar="N",
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
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"uniad {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:  # a file the command wrote or read outside our own checks
        from uniad.io import output_error

        where = err.filename or "a file"
        print(f"uniad {args.command}: error: {output_error(err, where)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # noqa: BLE001 - the last line of defence: a bug, said as one
        if args.verbose:
            traceback.print_exc()
        print(f"uniad {args.command}: internal error (a bug, please report it): "
              f"{type(err).__name__}: {str(err)[:300]}; rerun with -v for the traceback",
              file=sys.stderr)
        return EXIT_CRASH


if __name__ == "__main__":
    sys.exit(main())
