"""The COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) through pycocoevalcap.

Scores are pycocoevalcap's own scorers on PTB-tokenised text, reported x100 as the UniAD
paper does, so our numbers are the numbers every captioning paper computes. Like the
release, every prediction is scored against its references in one pool (CIDEr's IDF is
computed on the whole pool). The tokenizer is passed in (Java PTB or the Python stand-in);
the caller records which one was used.
"""

from __future__ import annotations

from uniad.errors import UniADError
from uniad.text import JAVA_MISSING, Tokenizer, java_available

COCO_METRICS = ("bleu", "meteor", "rouge", "cider")


def tokenize_pairs(
    predictions: dict[str, str], references: dict[str, list[str]], tokenizer: Tokenizer
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Tokenise predictions and references in one tokenizer call (one Java start)."""
    ids = list(predictions)
    flat = [predictions[i] for i in ids]
    for i in ids:
        flat.extend(references[i])
    tokens = tokenizer.tokenize(flat)
    res = {i: [tokens[n]] for n, i in enumerate(ids)}
    gts, pos = {}, len(ids)
    for i in ids:
        gts[i] = tokens[pos:pos + len(references[i])]
        pos += len(references[i])
    return gts, res


def coco_scores(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    tokenizer: Tokenizer,
    metrics: tuple[str, ...] = COCO_METRICS,
) -> dict[str, float]:
    """BLEU-1..4 / METEOR / ROUGE-L / CIDEr (x100) of ``predictions`` against ``references``.

    Raises UniADError when METEOR is asked for without Java (its scorer is a Java program).
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    if set(predictions) != set(references):
        raise UniADError("predictions and references must have the same ids")
    if not predictions:
        raise UniADError("nothing to score: no predictions")
    unknown = set(metrics) - set(COCO_METRICS)
    if unknown:
        raise UniADError(f"unknown COCO metric(s) {sorted(unknown)}; known: {COCO_METRICS}")
    gts, res = tokenize_pairs(predictions, references, tokenizer)
    scores: dict[str, float] = {}
    if "bleu" in metrics:
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        scores.update({f"BLEU-{n + 1}": 100.0 * b for n, b in enumerate(bleu)})
    if "meteor" in metrics:
        scores["METEOR"] = 100.0 * meteor_score(gts, res)
    if "rouge" in metrics:
        scores["ROUGE-L"] = 100.0 * float(Rouge().compute_score(gts, res)[0])
    if "cider" in metrics:
        scores["CIDEr"] = 100.0 * float(Cider().compute_score(gts, res)[0])
    return scores


def meteor_score(gts: dict[str, list[str]], res: dict[str, list[str]]) -> float:
    """pycocoevalcap's METEOR 1.5 (a Java subprocess), closed after use."""
    if not java_available():
        raise UniADError(f"METEOR unavailable: {JAVA_MISSING}")
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    try:
        return float(scorer.compute_score(gts, res)[0])
    finally:
        del scorer  # its __del__ stops the Java process
