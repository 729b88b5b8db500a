"""The timed scores as a JSON-ready dict and as text a person reads.

Scores are x100 as REFRAMED prints them (its tables round to one decimal; we keep full
precision). Each variant also says how many cues it scored, how many gaps, the speaking
rate, which cues the realistic filter dropped and why, and what the overlap cut changed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from uniad.eval.timed.aggregate import movie_means
from uniad.eval.timed.pipeline import METRICS, SetResult, TimedSettings, VariantResult
from uniad.eval.timed.realistic import wpm_summary
from uniad.eval.timed.significance import ALPHA, TestResult

PARTS = {
    "gap CIDEr / METEOR, SODA-M / SODA-T, raw and realistic": "ran",
    "sentence / element splitting (REFRAMED's SaT models)": "off: cues are scored whole",
    "QEval / QEval-T (questions answered by an LLM)": "off: not implemented; reference "
                                                      "questions are ignored",
}


def _variant(result: VariantResult) -> dict[str, Any]:
    out: dict[str, Any] = {name: result.scores[name] for name in METRICS}
    out.update({
        "cues": result.cues,
        "scored_gaps": result.scored_gaps,
        "cider_gaps": result.cider_gaps,
        "wpm": result.wpm,
        "cues_without_words": result.wordless,
        "overlap_cut": {"shortened": result.shortened, "removed": result.removed},
    })
    if result.dropped:
        out["dropped"] = [
            {"film": film, "cue": d.index + 1, "start": d.segment.start, "end": d.segment.end,
             "text": d.segment.text, "reason": d.reason, "detail": d.detail}
            for film, d in result.dropped]
        out["dropped_counts"] = dict(Counter(d.reason for _, d in result.dropped))
    return out


def timed_report(result: SetResult, settings: TimedSettings, notes: list[str],
                 significance: dict[str, dict[str, TestResult]] | None = None) -> dict[str, Any]:
    """``{"raw": {...}, "realistic": {...}, "wpm": ..., "films": ..., ...}``."""
    report: dict[str, Any] = {v: _variant(r) for v, r in result.variants.items()}
    cues = [s for segments in result.raw_cues.values() for s in segments]
    report["wpm"] = wpm_summary(cues, settings.max_wpm)
    films = {}
    for variant, r in result.variants.items():
        for metric, scores in r.items.items():
            for movie, value in movie_means(scores).items():
                films.setdefault(movie, {}).setdefault(variant, {})[metric] = value
    if len(films) > 1:
        report["films"] = films
    if significance:
        report["significance"] = {
            variant: {metric: {"p": t.p_value, "paired": t.paired, "difference": t.difference,
                               "significant": t.p_value < ALPHA}
                      for metric, t in tests.items()}
            for variant, tests in significance.items()}
    report["parts"] = dict(PARTS)
    if not settings.soda:
        report["parts"]["gap CIDEr / METEOR, SODA-M / SODA-T, raw and realistic"] = (
            "gap CIDEr / METEOR ran; SODA skipped (--skip-soda)")
    report["settings"] = {"collar_s": settings.collar_s, "min_gap_s": settings.min_gap_s,
                          "cider_max_gap_s": settings.cider_max_gap_s,
                          "max_wpm": settings.max_wpm, "soda_t_tolerance_s": settings.tolerance_s}
    notes = list(notes)
    if result.references_without_words:
        notes.append(f"{result.references_without_words} reference cue(s) without words left out")
    report["notes"] = notes
    return report


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def timed_text(report: dict[str, Any]) -> str:
    """A short table and the filter's account, for the terminal."""
    variants = [v for v in ("raw", "realistic") if v in report]
    lines = ["| variant | " + " | ".join(METRICS) + " | cues | WPM |",
             "|---|" + "---:|" * (len(METRICS) + 2)]
    for v in variants:
        r = report[v]
        lines.append(f"| {v} | " + " | ".join(_number(r[m]) for m in METRICS)
                     + f" | {r['cues']} | {_number(r['wpm'])} |")
    wpm = report["wpm"]
    lines += ["", f"cues: {wpm['cues']}, words/min mean {_number(wpm['mean'])}, median "
                  f"{_number(wpm['median'])}, max {_number(wpm['max'])}, "
                  f"{wpm['at_or_over_limit']} at or over the limit"]
    for item in report.get("realistic", {}).get("dropped", []):
        lines.append(f"dropped {item['film']} cue {item['cue']} ({item['start']:.3f}-"
                     f"{item['end']:.3f} s, {item['reason']}): {item['detail']}")
    for variant, tests in report.get("significance", {}).items():
        for metric, t in tests.items():
            lines.append(f"{variant} {metric}: difference {t['difference']:+.2f}, p = {t['p']:.4f} "
                         f"({'paired' if t['paired'] else 'unpaired'})")
    lines += [f"{part}: {state}" for part, state in report["parts"].items()]
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"
