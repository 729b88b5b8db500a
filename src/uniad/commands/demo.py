"""`uniad demo`: the whole path on the embedded synthetic world, on a CPU, in minutes.

Steps, each timed: build the world (casts re-named per movie, ADs that switch to a
pronoun after naming), train UniAD on its training movies with the embedded SmolLM2
(LoRA + mappers; ``--quick``: the tiny random LLM), evaluate on the held-out movies
(CIDEr, character-name and pronoun accuracy), show generated ADs beside their
references, and narrate a sample film made with ffmpeg (slots, SRT/WebVTT, speech, mix).
Everything lands in ``--out``; ``demo.json`` holds the scores and the time per step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from uniad.commands.options import add_config_options
from uniad.commands.synth import add_world_options, format_size
from uniad.io import write_json

# --quick: a world small enough for a smoke test in a couple of seconds, and the tiny LLM.
QUICK_WORLD = {"movies": 5, "events_min": 12, "events_max": 20}
QUICK_STEPS = 300
# Steps per LLM that keep the whole demo under 10 minutes on a 2-core CPU (SmolLM2 takes
# about 4 s per step of 8 samples there; the tiny LLM about 0.1 s).
DEMO_STEPS = {"smollm2": 100, "tiny": 3000}
EXAMPLES = 6
# Held-out ADs the demo writes: SmolLM2 on a 2-core CPU writes about one per second, and
# a hundred and some already tell whether names and pronouns are right (bench learn: all).
EVAL_LIMIT = 128
NARRATION_SECONDS = 30.0


def build_world(args: argparse.Namespace):
    """Step 1: write the synthetic world into ``args.out`` (a new temp dir when unset)."""
    from uniad.world.synthetic import make_world

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
    from uniad.world.synthetic import TRAIN_FILE, load_world, load_world_truth

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


def _settings(args: argparse.Namespace) -> list[str]:
    """Training settings for the demo: its step budget and the user's --set."""
    steps = args.steps or (QUICK_STEPS if args.quick else DEMO_STEPS[args.llm])
    return [f"train.max_steps={steps}", *args.set]


def show_examples(records: list[dict], truth: dict, count: int = EXAMPLES) -> None:
    """A few held-out ADs, generated beside reference, marked by the name/pronoun check."""
    from uniad.world.accuracy import judge

    print(f"\nGenerated vs reference ({count} of {len(records)} held-out ADs):")
    step = max(1, len(records) // count)
    for record in records[::step][:count]:
        verdict = judge(record["prediction"], truth[record["uid"]])
        mark = "ok " if verdict.correct else "bad"
        print(f"  [{verdict.kind:<7} {mark}] {record['reference']:<34} -> {record['prediction']}")


def run_demo(args: argparse.Namespace) -> int:
    """World -> training -> evaluation -> examples -> narration, with a time per step."""
    from uniad.world.synthetic import load_world_truth
    from uniad.world.narration import narrate_sample
    from uniad.world.training import evaluate_on_world, train_on_world, world_config

    llm = "tiny" if args.quick else args.llm
    timings: dict[str, float] = {}
    started = time.perf_counter()
    summary = build_world(args)
    describe_world(summary)
    out = summary.out_dir
    timings["world"] = time.perf_counter() - started

    config = world_config(llm, _settings(args))
    print(f"\nTraining UniAD with LLM '{llm}' for {config.train.max_steps} steps of "
          f"{config.train.batch_size} samples (run folder {out / 'run'}) ...")
    trained = train_on_world(out, config, out / "run")
    timings["train"] = trained.seconds

    lap = time.perf_counter()
    result = evaluate_on_world(trained.model, out, out / "eval", limit=args.eval_limit or None)
    timings["evaluate"] = time.perf_counter() - lap
    scores = {k: round(v, 2) for k, v in result.scores.items()}
    print(f"\nHeld-out movies ({len(result.records)} ADs): CIDEr {scores.get('CIDEr', 0):.1f}, "
          f"name accuracy {scores.get('NameAcc', 0):.1f}%, "
          f"pronoun accuracy {scores.get('PronounAcc', 0):.1f}%  (report: {out / 'eval' / 'report.md'})")
    show_examples(result.records, load_world_truth(out))

    lap = time.perf_counter()
    narration = narrate_sample(trained.model, out / "narration", seconds=NARRATION_SECONDS)
    timings["narrate"] = time.perf_counter() - lap
    print(f"\nNarrated a {NARRATION_SECONDS:.0f} s sample film made with ffmpeg "
          f"({len(narration.ads)} ADs in the gaps between its dialogue):")
    for ad in narration.ads:
        print(f"  {ad.start:5.1f}-{ad.end:5.1f} s  {ad.text}")
    print("  (the demo model learned synthetic features, not real frames: these ADs show "
          "the path, not understanding)")
    for label, path in narration.paths.items():
        print(f"  {label:<8} {path}")

    timings["total"] = time.perf_counter() - started
    print("\nTime per step: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    record = {"llm": llm, "steps": trained.result.global_step, "final_loss": trained.result.last_loss,
              "scores": scores, "counts": result.counts,
              "seconds": {k: round(v, 2) for k, v in timings.items()},
              "outputs": {"world": str(out), "run": str(out / "run"), "eval": str(out / "eval"),
                          "narration": {k: str(v) for k, v in narration.paths.items()}}}
    write_json(out / "demo.json", record)
    print(f"All outputs in {out} (summary: {out / 'demo.json'})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the whole path on the synthetic world: train, evaluate, narrate a sample film",
        description=(
            "Build the embedded synthetic world (movies whose casts change names per movie, "
            "ADs that switch to pronouns after naming), train UniAD on it with the embedded "
            "SmolLM2, evaluate on held-out movies, and narrate a sample film made with ffmpeg."
        ),
    )
    parser.add_argument("--out", default=None, help="output folder (default: a new temp dir)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: a {QUICK_WORLD['movies']}-movie world, the tiny "
                             f"random LLM, {QUICK_STEPS} steps")
    parser.add_argument("--llm", choices=sorted(DEMO_STEPS), default="smollm2",
                        help="the LLM to train (default smollm2, the embedded pretrained one)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"optimizer steps (default {DEMO_STEPS}; --quick {QUICK_STEPS})")
    parser.add_argument("--eval-limit", type=int, default=EVAL_LIMIT, metavar="N",
                        help=f"held-out ADs to generate and score (default {EVAL_LIMIT}; 0: all)")
    add_config_options(parser, preset=False, set_help="override one training setting (repeatable)")
    add_world_options(parser, movies=20)
    parser.set_defaults(func=run_demo)
