"""``uniad score``: score predicted ADs against references with the paper's metrics.

COCO metrics (CIDEr-D, BLEU, METEOR, ROUGE-L) by default; Recall@k/N, CRITIC, the LLM
judge and character accuracy on request. Every report says how each number was computed
(tokenizer, similarity model, coref, judge), so numbers are never compared blindly.
"""

from __future__ import annotations

import argparse
import json
import sys

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
    from uniad.eval.scoring import ScoreOptions, parse_metrics, report_markdown, score, write_report
    from uniad.io import refuse_existing_file

    refuse_existing_file(args.out, "--out")  # before any metric runs

    options = ScoreOptions(
        metrics=parse_metrics(args.metrics), tokenizer=args.tokenizer, similarity=args.similarity,
        recall_ks=tuple(args.recall_k), recall_window=args.recall_n, coref=args.coref,
        judge=args.judge, judge_url=args.judge_url, judge_model=args.judge_model,
        judge_retries=args.judge_retries,
    )
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
    p.add_argument("--metrics", default="cider,bleu,meteor,rouge", help="comma-separated metric names")
    p.add_argument("--json", action="store_true", help="print one JSON object of scores")
    p.add_argument("--out", help="folder for scores.json and report.md")
    p.add_argument("--allow-missing", action="store_true",
                   help="score only the ids that have a prediction (the report says how many were left out)")
    p.add_argument("--tokenizer", choices=("auto", "java", "python"), default="auto",
                   help="PTB tokenizer: Java (exact COCO) when installed, else the Python stand-in")
    p.add_argument("--similarity", default="minilm",
                   help="Recall similarity: minilm (embedded), embedding:FOLDER, bertscore[:FOLDER], lexical")
    p.add_argument("--recall-k", type=int, nargs="+", default=[1, 5], help="k values of Recall@k/N")
    p.add_argument("--recall-n", type=int, default=16, help="window N of Recall@k/N")
    p.add_argument("--coref", default="rule", help="CRITIC coreference: rule or fastcoref:FOLDER")
    p.add_argument("--judge", default="smollm2", help="LLM judge: smollm2, a model FOLDER, or openai")
    p.add_argument("--judge-url", help="OpenAI-compatible base URL (…/v1) for --judge openai")
    p.add_argument("--judge-model", help="model name for --judge openai")
    p.add_argument("--judge-retries", type=int, default=2, help="re-asks for an unparsable answer")
    p.set_defaults(func=_handler)
