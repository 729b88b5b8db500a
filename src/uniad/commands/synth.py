"""`uniad synth`: write a synthetic world (annotations, features, bank, ground truth).

The world is the project's embedded dataset: small movies in the real on-disk formats in
which naming needs the character bank and pronouns need the context (see
``uniad.world.synthetic``). Same seed, same files.
"""

from __future__ import annotations

import argparse


def add_world_options(parser: argparse.ArgumentParser, movies: int) -> None:
    """Options shared by `uniad synth` and `uniad demo` (the demo builds a world too)."""
    parser.add_argument("--movies", type=int, default=movies,
                        help=f"number of movies (default {movies})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--dim", type=int, default=64, help="feature width D (default 64)")
    parser.add_argument("--eval-movies", type=int, default=None,
                        help="movies held out for evaluation (default: 20%%, at least 1)")


def format_size(num_bytes: int) -> str:
    if num_bytes < 1024:
        return f"{num_bytes} B"
    if num_bytes < 1024 ** 2:
        return f"{num_bytes / 1024:.1f} KiB"
    return f"{num_bytes / 1024 ** 2:.1f} MiB"


def run(args: argparse.Namespace) -> int:
    from uniad.world.synthetic import RENDERED_WORLD, make_world

    summary = make_world(args.out, movies=args.movies, seed=args.seed, dim=args.dim,
                         eval_movies=args.eval_movies, **(RENDERED_WORLD if args.render else {}))
    print(f"wrote a synthetic world to {summary.out_dir} in {summary.seconds:.2f} s: "
          f"{len(summary.train_movies)} training movies ({summary.train_events} ADs), "
          f"{len(summary.eval_movies)} held-out movies ({summary.eval_events} ADs)")
    for path in summary.files:
        print(f"  {path.name:<22} {format_size(path.stat().st_size):>10}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic world in the real formats (MAD JSON, HDF5, bank)",
        description=(
            "Generate movies whose casts are re-named per movie and whose ADs use pronouns "
            "after a naming AD, written as train.json / eval.json (MAD formats), "
            "features.h5 (5 fps), charbank.safetensors and world.json (ground truth)."
        ),
    )
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--render", action="store_true",
                        help="the rendered world of `uniad demo`: frames and cast photos drawn "
                             "and encoded by a fitted CLIP tower (encoder/, photos/, casts/)")
    add_world_options(parser, movies=20)
    parser.set_defaults(func=run)
