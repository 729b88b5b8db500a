"""Metric cost: CPU and wall time of each metric on 3,000 real-sentence pairs.

The pairs come from the 300 TV-AD sample sentences: ten shuffled rounds, each pairing
every reference with another sentence as the "prediction" (so scores are realistic, not
perfect). The tokenisation cost (Java jar vs the Python stand-in) is timed separately;
the COCO scorers are timed on pre-tokenised text. CPU time includes child processes
(the Java tokenizer and METEOR run as subprocesses). Recall groups the pairs into
"movies" of 100 sentences (one similarity call per movie).

Run as ``uniad bench metrics`` or ``python -m uniad.bench.bench_metrics [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from uniad import text as tokenize
from uniad.errors import UniADError
from uniad.eval.characters import character_accuracy
from uniad.eval.coref import RuleBasedCoref
from uniad.eval.critic import critic_score
from uniad.eval.recall import recall_at_k
from uniad.eval.similarity import EmbeddingSimilarity, LexicalSimilarity, embedded_minilm_folder
from uniad.io import write_json

log = logging.getLogger("bench_metrics")
SAMPLE_IN_SHARED = "data/tvad_sample/tvad_char_refine_eval.sample.json"
_CHECKOUT = Path(__file__).resolve().parents[3]  # src/uniad/bench/ -> the repository
# The project's shared data lives in the checkout's shared/ or beside it (../shared).
SAMPLE = next((p for p in (_CHECKOUT / "shared" / SAMPLE_IN_SHARED, _CHECKOUT.parent / "shared" / SAMPLE_IN_SHARED)
               if p.is_file()), _CHECKOUT.parent / "shared" / SAMPLE_IN_SHARED)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_metrics", description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3000, help="sentence pairs (default 3000)")
    p.add_argument("--sample", type=Path, default=SAMPLE, help="TV-AD eval JSON to draw sentences from")
    p.add_argument("--no-minilm", action="store_true", help="skip the MiniLM similarity")
    p.add_argument("--json", type=Path, help="also write the table as JSON here")
    return p.parse_args(argv)


def build_pairs(records: list[dict], n: int, seed: int = 0):
    """n (id -> prediction, id -> [reference], id -> names) triples from shuffled rounds."""
    rng = random.Random(seed)
    sentences = [r["ad"] for r in records]
    names = [r.get("char_in_ad", []) for r in records]
    preds, refs, named = {}, {}, {}
    while len(preds) < n:
        round_no = len(preds) // len(sentences)
        order = list(range(len(sentences)))
        rng.shuffle(order)
        for j, k in enumerate(order[: n - len(preds)]):
            uid = f"m{(round_no * len(sentences) + j) // 100}#{(round_no * len(sentences) + j) % 100}"
            preds[uid], refs[uid], named[uid] = sentences[k], [sentences[j]], names[j]
    return preds, refs, named


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(label: str, fn: Callable[[], object], rows: list[dict]) -> object:
    wall, cpu = time.perf_counter(), _cpu()
    out = fn()
    rows.append({"metric": label, "cpu_s": _cpu() - cpu, "wall_s": time.perf_counter() - wall})
    log.info("%s: %.2f s CPU", label, rows[-1]["cpu_s"])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    from uniad.eval.coco import meteor_score, tokenize_pairs

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    records = json.loads(args.sample.read_text())["tvad"]
    preds, refs, named = build_pairs(records, args.pairs)
    groups: dict[str, list[str]] = {}
    for uid in preds:
        groups.setdefault(uid.split("#")[0], []).append(uid)
    cast = {m: sorted({n for i in ids for n in named[i]})[:10] for m, ids in groups.items()}
    rows: list[dict] = []
    gts, res = timed("tokenize (python-ptb)", lambda: tokenize_pairs(preds, refs, tokenize.PythonPTBTokenizer()), rows)
    if tokenize.java_available():
        gts, res = timed("tokenize (java-ptb)", lambda: tokenize_pairs(preds, refs, tokenize.JavaPTBTokenizer()), rows)
        timed("METEOR", lambda: meteor_score(gts, res), rows)
    timed("BLEU-1..4", lambda: Bleu(4).compute_score(gts, res, verbose=0), rows)
    timed("ROUGE-L", lambda: Rouge().compute_score(gts, res), rows)
    timed("CIDEr-D", lambda: Cider().compute_score(gts, res), rows)
    timed("R@k/16 (lexical)", lambda: recall_at_k(preds, refs, groups, LexicalSimilarity()), rows)
    if not args.no_minilm:
        try:
            embedded_minilm_folder()
        except UniADError as err:
            log.warning("MiniLM skipped: %s", err)
        else:
            import torch

            torch.set_num_threads(1)
            sim = timed("MiniLM load", EmbeddingSimilarity, rows)
            timed("R@k/16 (MiniLM, 1 thread)", lambda: recall_at_k(preds, refs, groups, sim), rows)
    timed("CRITIC (rule-based coref)", lambda: critic_score(preds, refs, groups, cast, RuleBasedCoref()), rows)
    timed("CharAcc", lambda: character_accuracy(preds, named), rows)

    print(f"\n{len(preds)} pairs, {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'metric':<28}{'CPU s':>9}{'wall s':>9}")
    for r in rows:
        print(f"{r['metric']:<28}{r['cpu_s']:>9.2f}{r['wall_s']:>9.2f}")
    if args.json:
        write_json(args.json, {"pairs": len(preds), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
