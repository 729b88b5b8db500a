"""The scoring driver: runs the chosen metrics, records how each was computed, writes reports.

Metric modules stay pure; this is where backends are built (tokenizer, similarity model,
coref, judge) and where every choice that affects a number becomes a note in the report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uniad.errors import UniADError
from uniad.eval.inputs import References
from uniad.io import write_json, write_text

log = logging.getLogger(__name__)

ALL_METRICS = ("cider", "bleu", "meteor", "rouge", "spice", "recall", "critic", "judge", "chars")
DEFAULT_METRICS = ("cider", "bleu", "meteor", "rouge")
_COCO = ("bleu", "meteor", "rouge", "cider")


@dataclass
class ScoreOptions:
    metrics: tuple[str, ...] = DEFAULT_METRICS
    tokenizer: str = "auto"  # auto | java | python
    similarity: str = "minilm"  # see uniad.eval.similarity.make_similarity
    recall_ks: tuple[int, ...] = (1, 5)
    recall_window: int = 16
    coref: str = "rule"  # rule | fastcoref:FOLDER
    judge: str = "smollm2"  # smollm2 | FOLDER | openai
    judge_url: str | None = None
    judge_model: str | None = None
    judge_retries: int = 2


@dataclass
class ScoreReport:
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def parse_metrics(text: str) -> tuple[str, ...]:
    names = tuple(m.strip().lower() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown or not names:
        raise UniADError(f"unknown metric(s) {unknown or text!r}; choose from {', '.join(ALL_METRICS)}")
    return names


def _coco(predictions, refs: References, options: ScoreOptions, report: ScoreReport) -> None:
    from uniad.eval.coco import coco_scores, tokenize_pairs
    from uniad.eval.spice import spice_score, spice_unavailable_reason
    from uniad.text import JAVA_MISSING, default_tokenizer, java_available

    tokenizer = default_tokenizer(options.tokenizer)
    report.notes.append(f"tokenizer: {tokenizer.name}")
    wanted = [m for m in _COCO if m in options.metrics]
    if "meteor" in wanted and not java_available():
        wanted.remove("meteor")
        report.notes.append(f"METEOR unavailable: {JAVA_MISSING}")
    texts = {i: refs.texts[i] for i in predictions}
    if wanted:
        report.scores.update(coco_scores(predictions, texts, tokenizer, tuple(wanted)))
    if "spice" in options.metrics:
        reason = spice_unavailable_reason()
        if reason:
            report.notes.append(reason)
        else:
            report.scores.update(spice_score(*tokenize_pairs(predictions, texts, tokenizer)))


def _recall(predictions, refs: References, options: ScoreOptions, report: ScoreReport) -> None:
    from uniad.eval.recall import recall_at_k
    from uniad.eval.similarity import make_similarity

    result = recall_at_k(predictions, refs.texts, refs.groups, make_similarity(options.similarity),
                         options.recall_ks, options.recall_window)
    report.scores.update(result.scores)
    report.notes.append(f"Recall@k/{options.recall_window}: similarity = {result.similarity}; "
                        f"{result.movies} movie(s), {result.short_movies} shorter than N (one window each)")
    if not options.similarity.startswith("bertscore"):
        report.notes.append("Recall@k/N is not comparable with published numbers (they use BERTScore)")


def _critic(predictions, refs: References, options: ScoreOptions, report: ScoreReport) -> None:
    from uniad.eval.coref import RULE_BASED_LIMITS, FastCoref, RuleBasedCoref
    from uniad.eval.critic import critic_score

    if not refs.cast:
        report.notes.append("CRITIC unavailable: references are not an annotation file (no cast names)")
        return
    kind, _, folder = options.coref.partition(":")
    coref = FastCoref(folder) if kind == "fastcoref" else RuleBasedCoref(refs.genders)
    result = critic_score(predictions, refs.texts, refs.groups, refs.cast, coref)
    report.scores.update(result.scores)
    report.counts["CRITIC sentences"] = result.sentences
    report.notes.append(f"CRITIC coref: {RULE_BASED_LIMITS if kind != 'fastcoref' else 'fastcoref'}")


def _judge(predictions, refs: References, options: ScoreOptions, report: ScoreReport) -> None:
    from uniad.eval.llm_judge import WEAK_JUDGE_NOTE, OpenAIChatBackend, judge_scores, local_backend

    backend = (OpenAIChatBackend(options.judge_url, options.judge_model)
               if options.judge == "openai" else local_backend(options.judge))
    result = judge_scores(predictions, refs.texts, backend, options.judge_retries)
    report.scores.update(result.scores)
    report.notes.append(f"LLM judge: {result.judge}, greedy decoding, 0-5 scale; "
                        f"{len(result.unparsed)} unparsed answer(s) left out of the mean"
                        + (f" (e.g. {', '.join(result.unparsed[:3])})" if result.unparsed else ""))
    if options.judge == "smollm2":
        report.notes.append(WEAK_JUDGE_NOTE)


def _chars(predictions, refs: References, options: ScoreOptions, report: ScoreReport) -> None:
    from uniad.eval.characters import character_accuracy

    if not any(refs.named.values()):
        report.notes.append("character accuracy unavailable: references name no characters")
        return
    report.scores.update(character_accuracy(predictions, refs.named))


_RUNNERS = {"coco": _coco, "recall": _recall, "critic": _critic, "judge": _judge, "chars": _chars}


def score(predictions: dict[str, str], refs: References, options: ScoreOptions) -> ScoreReport:
    """All requested metrics on ``predictions`` (ids already checked against ``refs``)."""
    report = ScoreReport(counts={"predictions": len(predictions)})
    groups = ["coco"] if set(options.metrics) & {*_COCO, "spice"} else []
    groups += [m for m in ("recall", "critic", "judge", "chars") if m in options.metrics]
    for group in groups:
        log.info("scoring %s", group)
        _RUNNERS[group](predictions, refs, options, report)
    return report


def report_markdown(report: ScoreReport, title: str = "UniAD scores") -> str:
    lines = [f"# {title}", "", "| metric | score |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in report.scores.items()]
    lines += ["", "Counts: " + ", ".join(f"{k} = {v}" for k, v in report.counts.items()), "", "## Notes", ""]
    lines += [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def write_scores(path: Path, report: ScoreReport | Any, extra: dict[str, Any]) -> None:
    """``scores.json``, the one writer (``uniad score`` and ``uniad evaluate``): numbers,
    counts and notes of ``report`` (a ScoreReport or an EvalResult), then ``extra``."""
    write_json(path, {"scores": report.scores, "counts": report.counts, "notes": report.notes,
                      **extra})


def write_report(report: ScoreReport, out_dir: str | Path, provenance: dict[str, str]) -> None:
    out = Path(out_dir)
    write_scores(out / "scores.json", report, provenance)
    write_text(out / "report.md", report_markdown(report))
