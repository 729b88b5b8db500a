"""``uniad score``: score predicted ADs against references with the paper's metrics.

Slot mode (one text per given slot): COCO metrics (CIDEr-D, BLEU, METEOR, ROUGE-L) by
default; Recall@k/N, CRITIC, the LLM judge and character accuracy on request. Every report
says how each number was computed (tokenizer, similarity model, coref, judge), so numbers
are never compared blindly.

Track mode (``--dialogue`` or ``--reframed``): a whole AD track of a film scored against
reference tracks and the dialogue with REFRAMED's timed metrics (gap CIDEr / METEOR,
SODA-M / SODA-T; raw and realistic), equal to its evaluation code; see
docs/timed-metrics.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from uniad.commands.options import add_scoring_options, positive_int, scoring_options

_EPILOG = """\
predictions: {id: text} or [{"id": ..., "prediction": ...}, ...]
references:  {id: [texts]} / {id: text}, or an annotation file (MAD, CMD-AD, TV-AD eval JSON;
             ids are then "<video>#<n>", n = the record's position within its video)
metrics:     cider,bleu,meteor,rouge (default) spice recall critic judge chars

track mode:  --pred TRACK --ref TRACK [--ref TRACK2] --dialogue SUBS [--duration S|durations.json]
             (a track is .srt, .vtt, our ad.json or REFRAMED's {"1": {start, end, text}} JSON;
             folders of films with matching file names score a set); --reframed ROOT
             --system NAME reads REFRAMED's layout (meta/, reference_data/, generations/);
             --against scores a second system and runs REFRAMED's permutation test

examples:
  uniad score --pred preds.json --ref tvad_char_refine_eval.json --json
  uniad score --pred ad.srt --ref us.srt --ref uk.srt --dialogue subs.srt --duration 5400 --json
  uniad score --reframed reframedeval --split challenge --system mine --against baseline
  uniad score --pred preds.json --ref refs.json --metrics cider,recall --similarity minilm --out runs/score
  uniad score --pred preds.json --ref refs.json --metrics judge --judge openai \\
      --judge-url http://127.0.0.1:8000/v1 --judge-model meta-llama/Llama-2-7b-chat-hf
"""


def _timed_handler(args: argparse.Namespace) -> int:
    from pathlib import Path

    from uniad.errors import UniADError
    from uniad.eval.timed.layout import folder_set, film_set, read_durations, reframed_set
    from uniad.eval.timed.pipeline import TimedSettings
    from uniad.eval.timed.report import timed_text
    from uniad.eval.timed.run import score_timed
    from uniad.io import refuse_existing_file, write_json
    from uniad.text import JAVA_MISSING, java_available

    refuse_existing_file(args.out, "--out")
    if not java_available():
        raise UniADError(f"track mode needs Java (PTB tokenizer, METEOR): {JAVA_MISSING}")

    def scoring_set(pred: str):
        if args.reframed:
            return reframed_set(Path(args.reframed), args.split, pred)
        if not args.ref:
            raise UniADError("--ref is required with --dialogue (one or two reference tracks)")
        if len(args.ref) > 2:
            raise UniADError("--ref: at most two reference tracks (REFRAMED's reference1/2)")
        durations = read_durations(args.duration)
        paths = [Path(pred), *map(Path, args.ref), Path(args.dialogue)]
        if all(p.is_dir() for p in paths):
            return folder_set(paths[0], paths[1:-1], paths[-1], durations)
        if any(p.is_dir() for p in paths):
            raise UniADError("--pred, --ref and --dialogue must all be files or all be folders")
        if isinstance(durations, dict):
            raise UniADError("--duration: one film takes a number of seconds")
        return film_set(paths[0], paths[1:-1], paths[-1], durations)

    system = args.system if args.reframed else args.pred
    if not system:
        raise UniADError("--system NAME is required with --reframed" if args.reframed
                         else "--pred is required")
    scoring = scoring_set(system)
    against = scoring_set(args.against) if args.against else None
    settings = TimedSettings(soda=not args.skip_soda)
    report = score_timed(scoring, settings, against=against, rounds=args.rounds, seed=args.seed)
    if args.out:
        write_json(Path(args.out) / "timed_scores.json", report)
    if args.json:
        print(json.dumps(report))
    else:
        sys.stdout.write(timed_text(report))
    return 0


def _handler(args: argparse.Namespace) -> int:
    if args.dialogue or args.reframed:
        return _timed_handler(args)
    from uniad.errors import UniADError
    from uniad.eval.inputs import check_ids, load_predictions, load_references
    from uniad.eval.scoring import report_markdown, score, write_report
    from uniad.io import refuse_existing_file

    refuse_existing_file(args.out, "--out")  # before any metric runs
    if not args.pred or not args.ref or len(args.ref) != 1:
        raise UniADError("slot mode takes --pred and one --ref (two --ref need --dialogue: track mode)")
    args.ref = args.ref[0]

    options = scoring_options(args)
    predictions = load_predictions(args.pred)
    refs = load_references(args.ref)
    notes = check_ids(predictions, refs, args.pred, args.ref, args.allow_missing)
    report = score(predictions, refs, options)
    report.notes[:0] = notes + [f"references: {refs.source}"]
    if args.out:
        from dataclasses import asdict

        from uniad import __version__

        write_report(report, args.out, {"predictions": str(args.pred), "references": str(args.ref),
                                        "options": asdict(options), "uniad_version": __version__})
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in report.scores.items()}))
    else:
        sys.stdout.write(report_markdown(report))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score", help="score predicted ADs (CIDEr, BLEU, METEOR, ROUGE-L, Recall@k/N, CRITIC, LLM judge)",
        description=__doc__, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pred", help="predictions JSON; track mode: a generated track or a folder of them")
    p.add_argument("--ref", action="append", default=[],
                   help="references JSON or annotation file; track mode: a reference track or "
                        "folder (give --ref twice for two references)")
    timed = p.add_argument_group("track mode (REFRAMED's timed metrics)")
    timed.add_argument("--dialogue", metavar="SUBS",
                       help="the film's dialogue: SRT, WebVTT or JSON (or a folder of them)")
    timed.add_argument("--duration", metavar="SECONDS|JSON",
                       help="film length in seconds, or a JSON {film: seconds} for folders "
                            "(default: the latest time in the film's files)")
    timed.add_argument("--reframed", metavar="ROOT",
                       help="REFRAMED's data layout: ROOT/meta, ROOT/reference_data, ROOT/generations")
    timed.add_argument("--split", default="challenge",
                       choices=("challenge", "train", "validation", "test"),
                       help="REFRAMED split (with --reframed)")
    timed.add_argument("--system", help="generations folder name (with --reframed)")
    timed.add_argument("--against", metavar="TRACK|SYSTEM",
                       help="a second system (same shape as --pred, or a system name with "
                            "--reframed): REFRAMED's permutation test of the difference")
    timed.add_argument("--skip-soda", action="store_true",
                       help="gap CIDEr / METEOR only: SODA aligns every generated with every "
                            "reference cue of an item (a whole film: #cues x #refs METEOR calls)")
    timed.add_argument("--rounds", type=positive_int, default=10_000,
                       help="permutation rounds (REFRAMED: 10000)")
    timed.add_argument("--seed", type=int, default=2026, help="permutation seed (REFRAMED: 2026)")
    p.add_argument("--json", action="store_true", help="print one JSON object of scores")
    p.add_argument("--out", help="folder for scores.json and report.md")
    p.add_argument("--allow-missing", action="store_true",
                   help="score only the ids that have a prediction (the report says how many were left out)")
    add_scoring_options(p)
    p.set_defaults(func=_handler)
