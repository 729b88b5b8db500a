"""``uniad score``: score predicted ADs against references with the paper's metrics.

COCO metrics (CIDEr-D, BLEU, METEOR, ROUGE-L) by default; Recall@k/N, CRITIC, the LLM
judge and character accuracy on request. Every report says how each number was computed
(tokenizer, similarity model, coref, judge), so numbers are never compared blindly.
"""

from __future__ import annotations

import argparse
import json
import sys

from uniad.commands.options import add_scoring_options, scoring_options

_EPILOG = """\
predictions: {id: text} or [{"id": ..., "prediction": ...}, ...]
references:  {id: [texts]} / {id: text}, or an annotation file (MAD, CMD-AD, TV-AD eval JSON;
             ids are then "<video>#<n>", n = the record's position within its video)
metrics:     cider,bleu,meteor,rouge (default) spice recall critic judge chars

examples:
  uniad score --pred preds.json --ref tvad_char_refine_eval.json --json
  uniad score --pred preds.json --ref refs.json --metrics cider,recall --similarity minilm --out runs/score
  uniad score --pred preds.json --ref refs.json --metrics judge --judge openai \\
      --judge-url http://127.0.0.1:8000/v1 --judge-model meta-llama/Llama-2-7b-chat-hf
"""


def _handler(args: argparse.Namespace) -> int:
    from uniad.eval.inputs import check_ids, load_predictions, load_references
    from uniad.eval.scoring import report_markdown, score, write_report
    from uniad.io import refuse_existing_file

    refuse_existing_file(args.out, "--out")  # before any metric runs

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
    p.add_argument("--pred", required=True, help="predictions JSON")
    p.add_argument("--ref", required=True, help="references JSON or annotation file")
    p.add_argument("--json", action="store_true", help="print one JSON object of scores")
    p.add_argument("--out", help="folder for scores.json and report.md")
    p.add_argument("--allow-missing", action="store_true",
                   help="score only the ids that have a prediction (the report says how many were left out)")
    add_scoring_options(p)
    p.set_defaults(func=_handler)
