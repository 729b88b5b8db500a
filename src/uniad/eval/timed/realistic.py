"""REFRAMED's "realistic" filter: what a track could actually be spoken as.

Applied to the raw cues in this order (REFRAMED ``preprocessing.realistic_segments``):
1. drop a cue spoken at ``max_wpm`` (300) words per minute or faster: its PTB token count
   (punctuation removed, as pycocoevalcap's Java tokenizer counts them) over its duration;
2. drop a cue that lies in no dialogue gap (with the collar);
3. in time order, drop a cue that starts before the previous *kept* cue ends, so the
   earlier cue wins an overlap.
Every drop is returned with its reason so a report can say why a cue did not count.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from uniad.eval.timed.gaps import Gap, in_any_gap
from uniad.eval.timed.segments import Segment

MAX_WPM = 300.0


@dataclass(frozen=True)
class Dropped:
    """A cue the filter removed: its position in the input, the cue and why."""

    index: int
    segment: Segment
    reason: str  # "rate" | "dialogue" | "overlap"
    detail: str


def words_per_minute(segment: Segment) -> float:
    """PTB tokens per minute of the cue's own duration (the duration must be > 0)."""
    if segment.duration <= 0:
        raise ValueError(f"cue {segment.start}..{segment.end} has no duration")
    return len(segment.tokens) / segment.duration * 60.0


def realistic_filter(segments: Sequence[Segment], gaps: Sequence[Gap], collar_s: float = 1.0,
                     max_wpm: float = MAX_WPM) -> tuple[list[Segment], list[Dropped]]:
    """The cues kept by the three rules above, in input order, and the ones dropped."""
    dropped: list[Dropped] = []
    candidates: list[tuple[int, Segment]] = []
    for index, segment in enumerate(segments):
        wpm = words_per_minute(segment)
        if wpm >= max_wpm:
            dropped.append(Dropped(index, segment, "rate", f"{wpm:.1f} words/min >= {max_wpm:g}"))
        elif not in_any_gap(segment, gaps, collar_s):
            dropped.append(Dropped(index, segment, "dialogue",
                                   f"not inside a dialogue gap (collar {collar_s:g} s)"))
        else:
            candidates.append((index, segment))
    kept: list[Segment] = []
    for index, segment in candidates:
        if kept and segment.start < kept[-1].end:
            dropped.append(Dropped(index, segment, "overlap",
                                   f"starts at {segment.start:.3f} s before the previous kept "
                                   f"cue ends ({kept[-1].end:.3f} s)"))
        else:
            kept.append(segment)
    dropped.sort(key=lambda d: d.index)
    return kept, dropped


def wpm_summary(segments: Sequence[Segment], max_wpm: float = MAX_WPM) -> dict[str, float | int | None]:
    """Per-cue speaking rates of a track: how many cues, their mean/median/max WPM and how
    many reach the ``max_wpm`` limit (cues without duration are left out)."""
    rates = [words_per_minute(s) for s in segments if s.duration > 0]
    if not rates:
        return {"cues": 0, "mean": None, "median": None, "max": None, "at_or_over_limit": 0}
    return {"cues": len(rates), "mean": statistics.fmean(rates), "median": statistics.median(rates),
            "max": max(rates), "at_or_over_limit": sum(r >= max_wpm for r in rates)}


def track_wpm(segments: Sequence[Segment]) -> float | None:
    """REFRAMED's words-per-minute of one item: all tokens over all cue minutes."""
    minutes = sum(s.duration for s in segments) / 60.0
    if not segments or minutes <= 0:
        return None
    return sum(len(s.tokens) for s in segments) / minutes
