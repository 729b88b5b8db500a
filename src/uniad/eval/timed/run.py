"""Score one or two systems' timed tracks with the Java tools started once per system.

The backends are built here (pycocoevalcap's Java PTB tokenizer and METEOR); the metric
modules stay pure. With a second system, REFRAMED's permutation test compares them per
variant and metric.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from uniad.eval.timed.gaps import Interval
from uniad.eval.timed.java import meteor_scores
from uniad.eval.timed.layout import ScoringSet, film_set
from uniad.eval.timed.pipeline import METRICS, SetResult, TimedSettings, score_set
from uniad.eval.timed.report import timed_report
from uniad.eval.timed.significance import ROUNDS, SEED, TestResult, permutation_test

log = logging.getLogger(__name__)


def _score(scoring: ScoringSet, settings: TimedSettings) -> SetResult:
    from uniad.text import JavaPTBTokenizer

    return score_set(scoring.units, scoring.cues, JavaPTBTokenizer().tokenize, meteor_scores,
                     settings)


def score_timed(scoring: ScoringSet, settings: TimedSettings = TimedSettings(),
                against: ScoringSet | None = None, rounds: int = ROUNDS,
                seed: int = SEED) -> dict[str, Any]:
    """The report of ``scoring`` (see :func:`timed_report`), with the significance of its
    difference to ``against`` when given."""
    started = time.perf_counter()
    result = _score(scoring, settings)
    notes = list(scoring.notes)
    significance = None
    if against is not None:
        other = _score(against, settings)
        notes += [f"against: {n}" for n in against.notes]
        significance = {}
        for variant, mine in result.variants.items():
            tests: dict[str, TestResult] = {}
            for metric in METRICS:
                x, y = mine.items[metric], other.variants[variant].items[metric]
                if x and y:
                    tests[metric] = permutation_test(x, y, rounds, seed)
            significance[variant] = tests
    report = timed_report(result, settings, notes, significance)
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def score_written_track(track: str | Path, references: Sequence[str | Path],
                        dialogue: str | Path | Sequence[Interval], duration: float | None,
                        out_dir: str | Path | None = None) -> dict[str, Any]:
    """Score a track narration wrote (``ad.json``, SRT or WebVTT) against reference tracks;
    with ``out_dir``, also write ``timed_scores.json`` there."""
    from uniad.io import write_json

    scoring = film_set(Path(track), [Path(r) for r in references],
                       dialogue if not isinstance(dialogue, str) else Path(dialogue), duration)
    report = score_timed(scoring)
    if out_dir is not None:
        report["paths"] = {"timed_scores": str(write_json(Path(out_dir) / "timed_scores.json", report))}
    return report


def summary_line(report: dict[str, Any]) -> str:
    """``timed (REFRAMED, x100): raw CIDEr .. METEOR .. SODA-M .. SODA-T ..; realistic ..``."""
    def variant(name: str) -> str:
        scores = report[name]
        return name + " " + " ".join(
            f"{m} {'-' if scores[m] is None else f'{scores[m]:.1f}'}" for m in METRICS)
    return "timed (REFRAMED, x100): " + "; ".join(variant(v) for v in ("raw", "realistic") if v in report)
