"""`uniad demo`: pixels in, narration out, on the embedded rendered world, on a CPU.

Steps, each timed: render the world (identities with their own look, casts re-named per
movie, ADs that switch to a pronoun after naming; frames and cast photos through a visual
encoder fitted on such pictures), train UniAD on its training movies with the embedded
SmolLM2 (LoRA + mappers; ``--quick``: the tiny random LLM), evaluate on the held-out
movies (CIDEr; name, pronoun, action and object accuracy), then make the film of an
unseen movie (H.264, cast CSV with photos, spoken dialogue, subtitles, its true AD track)
and narrate it with `uniad narrate`'s path, judging every cue against the truth.
Everything lands in ``--out``; ``demo.json`` and ``demo.md`` hold the numbers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from uniad.commands.options import add_config_options
from uniad.commands.synth import add_world_options, format_size
from uniad.io import write_json

DEMO_MOVIES = 14
# --quick: a world small enough for a smoke test, and the tiny LLM.
QUICK_WORLD = {"movies": 4, "events_min": 8, "events_max": 12,
               "encoder_pictures": 800}
QUICK_STEPS = 120
# Steps per LLM that keep the whole demo under 6 minutes on an idle 2-core CPU (SmolLM2
# takes about 2.1 s per step of 8 samples there; the tiny LLM about 0.1 s).
DEMO_STEPS = {"smollm2": 100, "tiny": 3000}
EXAMPLES = 6
# Held-out ADs the demo writes: SmolLM2 on a 2-core CPU writes about one per second, and
# a hundred and some already tell whether names and pronouns are right (bench learn: all).
EVAL_LIMIT = 128
FILM_SECONDS = 63.0  # nine (line, event) blocks
QUICK_FILM_SECONDS = 21.0


def build_world(args: argparse.Namespace):
    """Step 1: render the world into ``args.out`` (a new temp dir when unset)."""
    from uniad.world.synthetic import RENDERED_WORLD, make_world

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="uniad-demo-"))
    world = {**RENDERED_WORLD, **(QUICK_WORLD if args.quick else {})}
    movies = world.pop("movies", args.movies)
    return make_world(out, movies=movies, seed=args.seed, dim=args.dim,
                      eval_movies=args.eval_movies, **world)


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


def judge_film(film, narration, verdicts) -> dict:
    """Print the narrated film's cues beside the truth; the numbers for demo.json."""
    info = json.loads(narration.paths["json"].read_text())["info"]
    print(f"\nNarrated the {film.duration:.0f} s film of an unseen movie with `uniad narrate`'s "
          f"path ({len(verdicts)} cues; true track: {film.reference}):")
    rows = []
    for v in verdicts:
        j = v.judgement
        subject, action = bool(j and j.correct), bool(j and j.action)
        rows.append({"start": v.cue.start, "end": v.cue.end, "text": v.cue.text,
                     "true": v.event.text if v.event else None, "subject": subject,
                     "action": action, "object": bool(j and j.object)})
        mark = "ok " if v.right else "bad"
        print(f"  {v.cue.start:5.1f}-{v.cue.end:5.1f} s [{mark}] {v.cue.text:<32} "
              f"true: {v.event.text if v.event else '(no event here)'}")
    n = len(rows) or 1
    numbers = {
        "cues": len(rows), "events": len(film.events),
        "right_cues": sum(v.right for v in verdicts),
        "right_rate": round(100.0 * sum(v.right for v in verdicts) / n, 2),
        "subject_rate": round(100.0 * sum(r["subject"] for r in rows) / n, 2),
        "action_rate": round(100.0 * sum(r["action"] for r in rows) / n, 2),
        "object_rate": round(100.0 * sum(r["object"] for r in rows) / n, 2),
        "realistic_pass_rate": round(100.0 * info["realistic_pass_rate"], 2),
        "cue_rows": rows,
    }
    print(f"  right character and action: {numbers['right_cues']}/{len(rows)} cues "
          f"({numbers['right_rate']:.0f}%); realistic rule: {numbers['realistic_pass_rate']:.0f}%")
    numbers["timed"] = timed_scores(film, narration)
    for label, path in narration.paths.items():
        print(f"  {label:<14} {path}")
    return numbers


def timed_scores(film, narration) -> dict | None:
    """REFRAMED's timed scores of the narrated track against the film's true track (the
    dialogue from the film's subtitles), written to ``timed_scores.json`` beside the
    deliverables; None, with the command to run later, where Java (METEOR) is missing."""
    from uniad.eval.timed.pipeline import METRICS
    from uniad.eval.timed.run import score_written_track, summary_line
    from uniad.text import java_available

    if not java_available():
        print(f"  timed scores need Java: uniad score --pred {narration.paths['srt']} --ref "
              f"{film.reference} --dialogue {film.subtitles} --duration {film.duration:g}")
        return None
    report = score_written_track(narration.paths["srt"], [film.reference], str(film.subtitles),
                                 film.duration, narration.paths["srt"].parent)
    print(f"  {summary_line(report)}")
    return {variant: {m: report[variant][m] for m in METRICS}
            for variant in ("raw", "realistic") if variant in report}


def write_report(path: Path, record: dict) -> Path:
    """demo.md: what ran and the numbers a newcomer reads first."""
    from uniad.io import write_text

    s, f = record["scores"], record["film"]
    pct = lambda v: "-" if v is None else f"{v:.1f} %"  # noqa: E731
    lines = [
        "# uniad demo", "",
        f"LLM `{record['llm']}`, {record['steps']} steps (final loss "
        f"{record['final_loss']:.3f}); world `{record['outputs']['world']}`; "
        f"visual encoder `{record['encoder']}` (fitted on rendered frames).", "",
        "## Held-out movies (unseen name-face pairs)", "",
        "| measure | value | target |", "|---|---:|---:|",
        f"| name accuracy | {pct(s.get('NameAcc'))} | >= 90 % |",
        f"| pronoun accuracy | {pct(s.get('PronounAcc'))} | >= 90 % |",
        f"| action accuracy | {pct(s.get('ActionAcc'))} | >= 80 % |",
        f"| object accuracy | {pct(s.get('ObjectAcc'))} | |",
        f"| CIDEr | {s.get('CIDEr', 0):.1f} | |", "",
        "## The narrated film (an unseen movie, through H.264 and `uniad narrate`)", "",
        f"{f['cues']} cues for {f['events']} true events; right character and action: "
        f"{f['right_cues']} ({f['right_rate']:.1f} %, target >= 80 %); realistic rule "
        f"{f['realistic_pass_rate']:.1f} % (target 100 %).", "",
    ]
    for variant, scores in (f.get("timed") or {}).items():
        lines.append(f"Timed scores against the true track ({variant}, REFRAMED, x100): "
                     + ", ".join(f"{k} {'-' if v is None else f'{v:.1f}'}"
                                 for k, v in scores.items()) + ".")
    lines += ["", "| time (s) | narrated | true | character | action |", "|---|---|---|:-:|:-:|"]
    for r in f["cue_rows"]:
        lines.append(f"| {r['start']:.1f}-{r['end']:.1f} | {r['text']} | {r['true'] or '-'} "
                     f"| {'yes' if r['subject'] else 'no'} | {'yes' if r['action'] else 'no'} |")
    lines += ["", "Time per step: " + ", ".join(f"{k} {v:.1f} s"
                                                for k, v in record["seconds"].items()), ""]
    return write_text(path, "\n".join(lines))


def run_demo(args: argparse.Namespace) -> int:
    """World -> training -> evaluation -> examples -> the film narrated, timed per step."""
    from uniad.world.narration import narrate_film
    from uniad.world.synthetic import load_world_truth
    from uniad.world.training import evaluate_on_world, train_on_world, world_config

    llm = "tiny" if args.quick else args.llm
    timings: dict[str, float] = {}
    started = time.perf_counter()
    summary = build_world(args)
    describe_world(summary)
    out = summary.out_dir
    timings["world"] = time.perf_counter() - started

    config = world_config(llm, _settings(args), world=out)
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
          f"pronoun accuracy {scores.get('PronounAcc', 0):.1f}%, "
          f"action accuracy {scores.get('ActionAcc', 0):.1f}%, "
          f"object accuracy {scores.get('ObjectAcc', 0):.1f}%  (report: {out / 'eval' / 'report.md'})")
    show_examples(result.records, load_world_truth(out))

    lap = time.perf_counter()
    seconds = QUICK_FILM_SECONDS if args.quick else FILM_SECONDS
    film, narration, verdicts = narrate_film(trained.model, out, out / "narration", seconds)
    film_numbers = judge_film(film, narration, verdicts)
    timings["narrate"] = time.perf_counter() - lap

    timings["total"] = time.perf_counter() - started
    print("\nTime per step: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    record = {"llm": llm, "steps": trained.result.global_step,
              "final_loss": trained.result.last_loss, "encoder": trained.model.config.model.visual_encoder,
              "scores": scores, "counts": result.counts, "film": film_numbers,
              "seconds": {k: round(v, 2) for k, v in timings.items()},
              "outputs": {"world": str(out), "run": str(out / "run"), "eval": str(out / "eval"),
                          "film": str(film.video.parent),
                          "narration": {k: str(v) for k, v in narration.paths.items()}}}
    write_json(out / "demo.json", record)
    write_report(out / "demo.md", record)
    print(f"All outputs in {out} (summary: {out / 'demo.json'}, report: {out / 'demo.md'})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="pixels in, narration out: render a world, train, evaluate, narrate a film",
        description=(
            "Render the embedded synthetic world (movies whose casts change names per movie, "
            "ADs that switch to pronouns after naming), train UniAD on features of its frames "
            "with the embedded SmolLM2, evaluate on held-out movies, and narrate the film of "
            "an unseen movie with `uniad narrate`, judged against its true AD track."
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
    add_world_options(parser, movies=DEMO_MOVIES)
    parser.set_defaults(func=run_demo)
