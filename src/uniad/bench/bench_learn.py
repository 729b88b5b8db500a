"""The learnability proof: does UniAD learn to name characters, use context, read pixels?

On a synthetic world (DESIGN.md, :mod:`uniad.world.synthetic`; by default the rendered
one, whose features come from pictures) every idea of the paper is necessary to score
well: naming needs the character bank (names are re-drawn per movie, so only matching
frames against the exemplars tells who is who), choosing a pronoun needs the context (the
reference says "She" exactly when the previous AD was about the same character), and the
action and object are only in the frames. Four models train with the same budget, then
write ADs for held-out movies (unseen name-face pairs):

- ``full``: the paper's sequence (characters + exemplar tokens, previous AD, previous clip);
- ``no bank``: without the character lines and exemplars (``model.use_characters=false``);
- ``no context``: without the previous AD and the previous clip;
- ``shuffled frames``: every event shows another event's frames
  (:func:`uniad.world.ablations.shuffle_event_frames`), in training and evaluation.

Reported per model: name accuracy (references that name their subject whose generation
names the same character), pronoun accuracy (references that use a pronoun whose
generation uses the right one), action and object accuracy, CIDEr, and the chance levels
(a name among the movie's cast; an action, an object among the world's). Targets: full
>= 90 / 90 / 80 % (names / pronouns / actions); no bank at chance on names; no context
clearly lower on pronouns; shuffled frames at chance on actions and objects.

Run: ``uniad bench learn [--llm tiny|smollm2] [--steps N] [--world-kind rendered|vector]
[--out DIR] [--json OUT]``.
Everything each model wrote (run folder, predictions, report.md) stays under ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from uniad.io import write_json, write_text
from uniad.runtime import apply_threads
from uniad.world.ablations import shuffle_event_frames
from uniad.world.synthetic import RENDERED_WORLD, load_world, make_world, world_params
from uniad.world.training import (
    LLM_SETTINGS, chance_name_accuracy, evaluate_on_world, train_on_world, world_config,
)


VARIANTS: dict[str, list[str]] = {
    "full": [],
    "no bank": ["model.use_characters=false"],
    "no context": ["model.use_context_ads=false", "model.use_previous_video=false"],
    "shuffled frames": [],  # the world changes, not the model
}
SHUFFLED = "shuffled frames"
# Steps per LLM within a 2-core CPU's budget (--steps overrides): the tiny model needs a
# few thousand to learn the lookup; SmolLM2 takes about 2.1 s per step of 8 samples there,
# and learns names, actions and objects from pixels in the demo's 100.
DEFAULT_STEPS = {"tiny": 8000, "smollm2": 100}
# Movies per world kind: the vector world is cheap enough for many (too many name-face
# pairs to memorise); a rendered world encodes every frame, so it stays at the demo's size.
DEFAULT_MOVIES = {"rendered": 14, "vector": 600}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_learn", description=__doc__.split("\n\n")[0])
    p.add_argument("--llm", choices=sorted(LLM_SETTINGS), default="tiny")
    p.add_argument("--steps", type=int, default=None,
                   help=f"optimizer steps per model (default: {DEFAULT_STEPS})")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated subset of: {', '.join(VARIANTS)}")
    p.add_argument("--world-kind", choices=("rendered", "vector"), default="rendered",
                   help="rendered: features of drawn frames (the demo's world); vector: the "
                        "fast feature-vector world")
    p.add_argument("--movies", type=int, default=None,
                   help=f"movies in the world (default {DEFAULT_MOVIES})")
    p.add_argument("--eval-movies", type=int, default=None,
                   help="held-out movies (default: 20%% of a rendered world, 20 of a vector one)")
    p.add_argument("--events", default=None,
                   help="ADs per movie, min,max (default: 20,30 rendered, 10,16 vector)")
    p.add_argument("--world", type=Path, default=None, help="reuse this world folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="extra setting for every model (repeatable)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: a temp dir)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def run_variant(name: str, args: argparse.Namespace, world: Path, out: Path) -> dict:
    """Train one model of the table and evaluate it on the held-out movies."""
    steps = args.steps or DEFAULT_STEPS[args.llm]
    settings = [f"train.max_steps={steps}",
                f"train.seed={args.seed}", *VARIANTS[name], *args.set]
    folder = out / name.replace(" ", "_")
    if name == SHUFFLED:
        world = shuffle_event_frames(world, folder / "world", seed=args.seed)
    config = world_config(args.llm, settings, world=world)
    trained = train_on_world(world, config, folder / "run")
    started = time.perf_counter()
    result = evaluate_on_world(trained.model, world, folder / "eval")
    return {
        "variant": name, "settings": settings,
        "name_accuracy": result.scores.get("NameAcc"),
        "pronoun_accuracy": result.scores.get("PronounAcc"),
        "action_accuracy": result.scores.get("ActionAcc"),
        "object_accuracy": result.scores.get("ObjectAcc"),
        "cider": result.scores.get("CIDEr"),
        "name_events": result.counts.get("NameAcc n"),
        "pronoun_events": result.counts.get("PronounAcc n"),
        "steps": trained.result.global_step, "final_loss": trained.result.last_loss,
        "train_samples": trained.train_samples,
        "train_seconds": round(trained.seconds, 1),
        "eval_seconds": round(time.perf_counter() - started, 1),
        "report": str(folder / "eval" / "report.md"),
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: list[dict], chance: dict[str, float], llm: str, kind: str) -> str:
    lines = [f"LLM: {llm}; {kind} world; chance: name {chance['name']:.1f}% (guessing among "
             f"the cast), action {chance['action']:.1f}%, object {chance['object']:.1f}%", "",
             "| model | name acc. % | pronoun acc. % | action acc. % | object acc. % | CIDEr "
             "| steps | final loss | train s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        loss = "-" if r["final_loss"] is None else f"{r['final_loss']:.3f}"
        lines.append(f"| {r['variant']} | {_fmt(r['name_accuracy'])} | {_fmt(r['pronoun_accuracy'])} "
                     f"| {_fmt(r['action_accuracy'])} | {_fmt(r['object_accuracy'])} "
                     f"| {_fmt(r['cider'])} | {r['steps']} | {loss} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def chance_levels(world: Path) -> dict[str, float]:
    """Percent right by guessing: a name among the cast, an action, an object."""
    params = world_params(load_world(world))
    return {"name": chance_name_accuracy(world), "action": 100.0 / len(params.actions),
            "object": 100.0 / len(params.objects)}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads:  # through the runtime, so training keeps it rather than re-choosing
        apply_threads(args.threads)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    out = args.out or Path(tempfile.mkdtemp(prefix="uniad-bench-learn-"))
    out.mkdir(parents=True, exist_ok=True)
    world = args.world
    if world is None:
        world = out / "world"
        rendered = args.world_kind == "rendered"
        kind = dict(RENDERED_WORLD) if rendered else {}
        if args.events:
            kind["events_min"], kind["events_max"] = (int(x) for x in args.events.split(","))
        elif not rendered:
            kind["events_min"], kind["events_max"] = 10, 16
        eval_movies = args.eval_movies if args.eval_movies or rendered else 20
        make_world(world, movies=args.movies or DEFAULT_MOVIES[args.world_kind], seed=args.seed,
                   eval_movies=eval_movies, **kind)
    rows = [run_variant(v, args, world, out) for v in variants]
    chance = chance_levels(world)
    text = table(rows, chance, args.llm, args.world_kind)
    print(text)
    write_text(out / "table.md", text + "\n")
    record = {"benchmark": "learn", "llm": args.llm, "world": str(world),
              "world_kind": args.world_kind,
              "chance_name_accuracy": chance["name"], "chance": chance, "rows": rows,
              "machine": {"platform": platform.platform(), "threads": torch.get_num_threads()}}
    write_json(out / "results.json", record)
    if args.json:
        write_json(args.json, record)
    print(f"\nall outputs in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
