"""`uniad bench NAME`: run a benchmark from the repository's `benchmarks/` folder.

Benchmarks live outside the package (they are measurements, not library code), so this
command finds the checkout the editable install points at and runs
``benchmarks/bench_<NAME>.py``'s ``main(argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from uniad.errors import UniADError


def _benchmarks_dir() -> Path:
    root = Path(__file__).resolve().parents[3]
    bench = root / "benchmarks"
    if not bench.is_dir():
        raise UniADError(
            f"no benchmarks/ folder next to the package ({root}); benchmarks run from a "
            "source checkout installed with `pip install -e .`"
        )
    return bench


def available() -> list[str]:
    return sorted(p.stem[len("bench_"):] for p in _benchmarks_dir().glob("bench_*.py"))


def run(args: argparse.Namespace) -> int:
    bench = _benchmarks_dir()
    names = available()
    if args.name not in names:
        raise UniADError(f"unknown benchmark '{args.name}' (available: {', '.join(names)})")
    sys.path.insert(0, str(bench.parent))
    module = importlib.import_module(f"benchmarks.bench_{args.name}")
    return int(module.main(args.bench_args) or 0)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run a speed/memory benchmark (features, generate, train, metrics, narrate)",
        description=(
            "Run benchmarks/bench_NAME.py from the source checkout. Each prints its figures "
            "as ratios measured in one run; pass its own options after the name "
            "(e.g. `uniad bench features --help`)."
        ),
    )
    parser.add_argument("name", help="benchmark name, e.g. features, generate, metrics")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="options for the benchmark")
    parser.set_defaults(func=run)
