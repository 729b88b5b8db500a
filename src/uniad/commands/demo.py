"""`uniad demo`: show a newcomer the whole pipeline on the embedded synthetic world.

For now the demo builds the world and shows what it holds: the casts (one face, a new
name in every movie), ADs that name a character and then refer to them by pronoun, and
the files in the real formats. Training, evaluation and narration are appended as steps
of :func:`run_demo` by later stages.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from uniad.commands.synth import add_world_options, format_size

# --quick: a world small enough for a smoke test in a couple of seconds.
QUICK_WORLD = {"movies": 5, "events_min": 12, "events_max": 20}


def build_world(args: argparse.Namespace):
    """Step 1: write the synthetic world into ``args.out`` (a new temp dir when unset)."""
    from uniad.data.synthetic import make_world

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="uniad-demo-"))
    extra = {k: v for k, v in QUICK_WORLD.items() if k != "movies"} if args.quick else {}
    movies = QUICK_WORLD["movies"] if args.quick else args.movies
    return make_world(out, movies=movies, seed=args.seed, dim=args.dim,
                      eval_movies=args.eval_movies, **extra)


def _recast_example(world: dict) -> str | None:
    """One identity played under different names in several movies, as a sentence."""
    roles: dict[int, list[tuple[str, dict]]] = {}
    for movie_id, movie in world["movies"].items():
        for member in movie["cast"]:
            roles.setdefault(member["identity"], []).append((movie_id, member))
    identity, appearances = max(roles.items(), key=lambda kv: len(kv[1]))
    if len(appearances) < 2:
        return None
    first = appearances[0][1]
    shown = ", ".join(f"'{m['role']}' in {mid}" for mid, m in appearances[:4])
    return (f"face #{identity} ({first['gender']}, actor {first['name']}) appears in "
            f"{len(appearances)} movies: {shown}")


def describe_world(summary) -> None:
    """Print what the world holds: sizes, a recast face, a name-then-pronoun run, files."""
    from uniad.data.formats import read_mad_train
    from uniad.data.synthetic import TRAIN_FILE, load_world, load_world_truth

    world = load_world(summary.out_dir)
    truth = load_world_truth(summary.out_dir)
    print(f"Synthetic world in {summary.out_dir} (built in {summary.seconds:.2f} s)")
    print(f"  movies: {len(summary.train_movies)} for training, {len(summary.eval_movies)} "
          f"held out ({', '.join(summary.eval_movies)})")
    print(f"  ADs: {summary.train_events} training, {summary.eval_events} held out; "
          f"{summary.pronoun_events / summary.events:.0%} use a pronoun")
    recast = _recast_example(world)
    if recast:
        print(f"  naming needs the bank: {recast}")

    events = read_mad_train(summary.out_dir / TRAIN_FILE)
    movie = events[0].video_id
    story = [e for e in events if e.video_id == movie]
    # Start at the AD that names the subject of the movie's first pronoun AD.
    first_pronoun = next((i for i, e in enumerate(story) if truth[e.uid].uses_pronoun), 1)
    start = max(0, first_pronoun - 1)
    cast = ", ".join(f"{c['role']} ({c['gender']})" for c in world["movies"][movie]["cast"])
    print(f"\nADs of {movie} (cast: {cast}):")
    for event in story[start:start + 6]:
        t = truth[event.uid]
        why = f"pronoun: previous AD is about {t.subject_name}" if t.uses_pronoun else "names"
        print(f"  {event.start:7.1f}-{event.end:6.1f} s  {event.text:<34} [{why}]")

    print("\nFiles (real formats):")
    for path in summary.files:
        print(f"  {path.name:<22} {format_size(path.stat().st_size):>10}")


def run_demo(args: argparse.Namespace) -> int:
    """The demo as a list of steps; later stages add training, evaluation, narration."""
    summary = build_world(args)
    describe_world(summary)
    print("\nNext steps (training a tiny UniAD, evaluating with and without the bank and "
          "the context, narrating) are added to this demo by later stages.")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="build the synthetic world and show what UniAD learns from it",
        description=(
            "Build the embedded synthetic world (movies whose casts change names per movie, "
            "ADs that switch to pronouns after naming) and walk through it."
        ),
    )
    parser.add_argument("--out", default=None, help="output folder (default: a new temp dir)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a tiny world ({QUICK_WORLD['movies']} movies) for a smoke test")
    add_world_options(parser, movies=20)
    parser.set_defaults(func=run_demo)
