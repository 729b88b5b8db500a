"""What an evaluation produced (:class:`EvalResult`) and the files it leaves for people:
predictions.json, scores.json, report.md, per_movie.csv.

Best and worst examples are ranked by per-sample CIDEr-D (the same pooled computation as
the corpus score, so a sample's number is comparable with the table above it); ties keep
dataset order.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from uniad.eval.scoring import ScoreReport, report_markdown, write_scores
from uniad.io import write_json, write_text

class SampleScorer(Protocol):
    """Scores predictions against truth only its owner knows (``uniad.world``'s subjects).

    ``judge`` returns one judgement per uid it can check; ``summarise`` turns any subset of
    them into numbers (each label in ``labels`` plus its count ``"<label> n"``), used for
    the whole split and per movie; ``note`` says where the numbers come from.
    """

    labels: tuple[str, ...]
    note: str

    def judge(self, predictions: Mapping[str, str]) -> Mapping[str, Any]: ...

    def summarise(self, judgements: Iterable[Any]) -> dict[str, float | int]: ...


#: each extra scorer with its judgements, uid -> judgement
Judged = Sequence[tuple[SampleScorer, Mapping[str, Any]]]

EXAMPLES = 5  # best and worst examples shown in report.md
_SHOWN_DROPS = 50  # dropped samples listed in report.md (scores.json lists all)


@dataclass
class EvalResult:
    """What an evaluation produced; ``records`` are the prediction lines, in dataset order."""

    out_dir: Path
    scores: dict[str, float]
    counts: dict[str, int]
    notes: list[str]
    settings: dict[str, Any]
    records: list[dict[str, Any]]
    sample_cider: dict[str, float] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    without_context: list[str] = field(default_factory=list)  # kept with fewer previous clips
    generated_now: int = 0

    @property
    def predictions(self) -> dict[str, str]:
        return {r["uid"]: r["prediction"] for r in self.records}


def write_outputs(result: EvalResult, judged: Judged = ()) -> None:
    """predictions.json, scores.json, report.md and per_movie.csv into ``result.out_dir``."""
    out = result.out_dir
    write_json(out / "predictions.json", result.predictions, indent=1)
    write_scores(out / "scores.json", result, {
        "settings": result.settings,
        "dropped": [{"uid": uid, "reason": why} for uid, why in result.dropped],
        "kept_without_previous_clip": result.without_context,
    })
    write_text(out / "report.md", report_text(result))
    write_per_movie(out / "per_movie.csv", result, judged)


def _example(record: dict, cider: float) -> list[str]:
    context = " / ".join(record.get("context") or []) or "(none)"
    return [
        f"**{record['uid']}** ({record['video_id']}, {record['start']:g}-{record['end']:g} s), "
        f"CIDEr {cider:.1f}",
        "",
        f"- context: {context}",
        f"- reference: {record['reference']}",
        f"- generated: {record['prediction'] or '(empty)'}",
        "",
    ]


def report_text(result: EvalResult, examples: int = EXAMPLES) -> str:
    """The Markdown report: metric table, counts and notes, settings, dropped samples,
    best and worst examples beside their reference and previous-AD context."""
    lines = [report_markdown(ScoreReport(result.scores, result.notes, result.counts),
                             "UniAD evaluation").rstrip(), "", "## Settings", "", "```json",
             json.dumps(result.settings, indent=2), "```", ""]
    if result.dropped:
        lines += [f"## Dropped samples ({len(result.dropped)})", ""]
        lines += [f"- {uid}: {why}" for uid, why in result.dropped[:_SHOWN_DROPS]]
        if len(result.dropped) > _SHOWN_DROPS:
            lines.append(f"- ... {len(result.dropped) - _SHOWN_DROPS} more in scores.json")
        lines.append("")
    if result.without_context:
        lines += [f"## Kept without a previous clip ({len(result.without_context)})", "",
                  ", ".join(result.without_context[:_SHOWN_DROPS])
                  + (f", ... {len(result.without_context) - _SHOWN_DROPS} more in scores.json"
                     if len(result.without_context) > _SHOWN_DROPS else ""), ""]
    ranked = sorted(result.records, key=lambda r: -result.sample_cider[r["uid"]])
    n = min(examples, len(ranked) // 2 or len(ranked))
    for title, chosen in (("Best", ranked[:n]), ("Worst", ranked[::-1][:n])):
        lines += [f"## {title} {len(chosen)} examples (per-sample CIDEr-D)", ""]
        for record in chosen:
            lines += _example(record, result.sample_cider[record["uid"]])
    return "\n".join(lines)


def per_movie_rows(result: EvalResult, judged: Judged = ()) -> list[dict[str, object]]:
    """One row per movie: sample count, mean per-sample CIDEr-D and each extra scorer's
    numbers (with synthetic truth: name/pronoun accuracy; empty where the movie has no
    such event)."""
    by_movie: dict[str, list[str]] = {}
    for record in result.records:
        by_movie.setdefault(record["video_id"], []).append(record["uid"])
    rows = []
    for movie, uids in by_movie.items():
        row: dict[str, object] = {
            "movie": movie, "n": len(uids),
            "CIDEr": round(sum(result.sample_cider[u] for u in uids) / len(uids), 4),
        }
        for scorer, judgements in judged:
            numbers = scorer.summarise(judgements[u] for u in uids if u in judgements)
            for label in scorer.labels:
                row[label] = round(numbers[label], 4) if label in numbers else ""
                row[f"{label} n"] = numbers[f"{label} n"]
        rows.append(row)
    return rows


def write_per_movie(path: Path, result: EvalResult, judged: Judged = ()) -> None:
    rows = per_movie_rows(result, judged)
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["movie", "n", "CIDEr"])
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, handle.getvalue())
