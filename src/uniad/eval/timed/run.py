"""Score one or two systems' timed tracks with the Java tools started once per system.

The backends are built here (pycocoevalcap's Java PTB tokenizer and METEOR); the metric
modules stay pure. With a second system, REFRAMED's permutation test compares them per
variant and metric.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from uniad.eval.timed.java import meteor_scores
from uniad.eval.timed.layout import ScoringSet
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
