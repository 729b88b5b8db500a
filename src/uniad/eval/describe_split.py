"""Evaluate a training-free describer (``vlm:``/``openai:``) on a split of video files.

Such a describer reads frames, not features, so the split's clips must be videos. The
convention: ``--videos DIR`` holds one file per annotation ``video_id`` (MAD ``movie_id``,
CMD-AD/TV-AD ``key_name``), named ``<video_id>.<ext>`` with ext one of
:data:`VIDEO_SUFFIXES`; each event's ``start``/``end`` are seconds in that file. Every
event is one slot: the describer gets the frames of that span, the event's candidate
characters by name (no portraits: the formats have no photos), its own earlier
predictions for the same video as previous ADs, and a budget of ``words_per_second``
times the span (at least ``min_words``). Predictions go to the same resumable
``predictions.jsonl`` and are scored and reported exactly as ``uniad evaluate`` does for
a checkpoint, so the two reports compare line by line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from uniad.data.schema import ADEvent
from uniad.errors import DataError
from uniad.eval.evaluate import (
    EvalResult, LINES_FILE, check_output_folder, check_run, output_lock, read_lines,
    score_and_report,
)
from uniad.eval.inputs import References
from uniad.eval.scoring import ScoreOptions
from uniad.io import AppendLog
from uniad.narrate.core import NarratedAD, Slot
from uniad.narrate.describe.prompt import CastPortrait
from uniad.narrate.describe.prompted import PromptedDescriber
from uniad.narrate.timeline.timing import fit_text

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".ts")


def find_video(videos: Path, event: ADEvent, data: str | Path) -> Path:
    """The file of ``event.video_id`` in ``videos`` (see the module docstring)."""
    for suffix in VIDEO_SUFFIXES:
        path = videos / f"{event.video_id}{suffix}"
        if path.is_file():
            return path
    names = "|".join(s[1:] for s in VIDEO_SUFFIXES)
    raise DataError(data, f"no video file {event.video_id}.<{names}> in {videos}",
                    record=event.uid, field="video_id")


def evaluate_describer(
    make_describer: Callable[[Path], PromptedDescriber],
    events: list[ADEvent],
    videos: str | Path,
    references: References,
    out_dir: str | Path,
    *,
    data: str | Path,
    options: ScoreOptions | None = None,
    words_per_second: float = 2.5,
    min_words: int = 5,
    limit: int | None = None,
    resume: bool = True,
    settings: dict[str, Any] | None = None,
) -> EvalResult:
    """Describe every event (the first ``limit``), score, and write the report files
    (``uniad.eval.report``). ``make_describer(video)`` is called once, for the first event
    still to describe (never when ``out_dir`` holds them all); that one describer then gets
    each event's ``video`` and ``cast`` set before it describes it."""

    out, videos = Path(out_dir), Path(videos)
    check_output_folder(out)
    chosen = events if limit is None else events[:limit]
    files = {e.video_id: find_video(videos, e, data) for e in chosen}  # all checked first
    with output_lock(out):
        return _describe_locked(make_describer, events, chosen, files, references, out,
                                options or ScoreOptions(), words_per_second, min_words, resume,
                                settings, videos)


def _describe_locked(make_describer, events, chosen, files, references, out, options,
                     words_per_second, min_words, resume, settings, videos) -> EvalResult:
    check_run(out, {"describer": (settings or {}).get("describer"),
                     "words_per_second": words_per_second, "min_words": min_words}, resume)
    done = {r["uid"]: r for r in read_lines(out / LINES_FILE)}
    pending = [e for e in chosen if e.uid not in done]
    describer: PromptedDescriber | None = None
    with AppendLog(out / LINES_FILE) as lines:
        for event in tqdm(sorted(pending, key=lambda e: (e.video_id, e.start)), desc="describing",
                          unit="AD"):
            if describer is None:
                describer = make_describer(files[event.video_id])
            describer.video = files[event.video_id]
            describer.cast = [CastPortrait(c.display_name, c.display_name)
                              for c in (event.refined or event.candidates)]
            earlier = sorted((r for r in done.values() if r["video_id"] == event.video_id
                              and r["start"] < event.start and r["prediction"]),
                             key=lambda r: r["start"])
            previous = [NarratedAD(r["start"], r["end"], r["prediction"]) for r in earlier]
            slot = Slot(event.start, event.end)
            budget = max(min_words, slot.word_budget(words_per_second))
            text = fit_text(describer(slot, budget, previous).text, budget)
            record = {"uid": event.uid, "prediction": text, "reference": event.text,
                      "video_id": event.video_id, "start": event.start, "end": event.end,
                      "context": [r["prediction"] for r in earlier]}
            lines.append([json.dumps(record, ensure_ascii=False)])
            done[event.uid] = record
    records = [done[e.uid] for e in chosen]
    empty = sum(not r["prediction"].strip() for r in records)
    return score_and_report(
        out, records, references, options, notes=(), counts={
            "events": len(events), "left out by --limit": len(events) - len(chosen),
            "empty predictions (SKIP)": empty, "generated in this run": len(pending)},
        settings={**(settings or {}), "words_per_second": words_per_second, "videos": str(videos)},
        generated=len(pending))
