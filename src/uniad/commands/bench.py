"""`uniad bench NAME`: run one of the benchmarks shipped in :mod:`uniad.bench`.

Benchmarks are modules ``uniad.bench.bench_<NAME>`` with a ``main(argv)``; they are found
by name in the installed package, so `uniad bench` works from a plain (non-editable)
install as well as from a checkout.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from uniad.errors import UniADError

PACKAGE, PREFIX = "uniad.bench", "bench_"


def available() -> list[str]:
    """The benchmark names the installed package holds."""
    package = importlib.import_module(PACKAGE)
    return sorted(m.name[len(PREFIX):] for m in pkgutil.iter_modules(package.__path__)
                  if m.name.startswith(PREFIX))


def run(args: argparse.Namespace) -> int:
    names = available()
    if args.name not in names:
        raise UniADError(f"unknown benchmark '{args.name}' (available: {', '.join(names)})")
    module = importlib.import_module(f"{PACKAGE}.{PREFIX}{args.name}")
    return int(module.main(args.bench_args) or 0)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run a speed/memory benchmark (features, generate, train, learn, metrics, narrate)",
        description=(
            "Run the benchmark uniad.bench.bench_NAME shipped with the package. Each prints "
            "its figures as ratios measured in one run; pass its own options after the name "
            "(e.g. `uniad bench features --help`)."
        ),
    )
    parser.add_argument("name", help="benchmark name, e.g. features, generate, metrics")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="options for the benchmark")
    parser.set_defaults(func=run)
