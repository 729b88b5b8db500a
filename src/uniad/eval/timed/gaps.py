"""Dialogue gaps and which segments lie in them (REFRAMED's ``utils/spans.py`` arithmetic).

- Gaps run from the clip start to the first subtitle, between subtitles, and from the last
  subtitle to the clip end; a gap is kept when it lasts at least ``min_gap_s`` (1.0 s).
- A segment belongs to a gap when it lies inside the gap widened by ``collar_s`` (1.0 s)
  on both sides; a segment crossing dialogue is in no gap, and one near two close gaps
  may be in both (REFRAMED adds it to each).
- Subtitles must not overlap for the gap rule; overlapping lines are merged first (REFRAMED
  asserts they do not overlap), and lines are clipped to the clip span.
- Overlapping generated segments are cut at the midpoint of their overlap before scoring.
"""

from __future__ import annotations

from collections.abc import Sequence

from uniad.eval.timed.segments import Segment

Gap = tuple[float, float]
Interval = tuple[float, float]


def merge_overlapping(lines: Sequence[Interval]) -> list[Interval]:
    """Dialogue intervals in time order with overlapping lines merged into one; lines
    that only touch (next start == previous end) stay apart, as REFRAMED allows."""
    merged: list[list[float]] = []
    for start, end in sorted(lines):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def clip_lines(lines: Sequence[Interval], start: float, end: float) -> list[Interval]:
    """Each line cut to ``[start, end]``; lines left with no length are dropped."""
    out = []
    for a, b in lines:
        left, right = max(a, start), min(b, end)
        if right > left:
            out.append((left, right))
    return out


def dialogue_gaps(lines: Sequence[Interval], start: float, end: float,
                  min_gap_s: float = 1.0) -> list[Gap]:
    """The gaps of at least ``min_gap_s`` between non-overlapping, time-ordered ``lines``
    inside ``[start, end]``; no dialogue at all makes the whole span one gap."""
    for (_, left_end), (right_start, _) in zip(lines, lines[1:]):
        if right_start < left_end:
            raise ValueError("dialogue lines overlap: merge them first (merge_overlapping)")
    if not lines:
        return [(start, end)]
    if lines[-1][1] > end:
        raise ValueError(f"dialogue runs past the end ({lines[-1][1]} > {end}): clip it first")
    bounds = [(start, lines[0][0])]
    bounds += [(left[1], right[0]) for left, right in zip(lines, lines[1:])]
    bounds.append((lines[-1][1], end))
    return [(a, b) for a, b in bounds if b - a >= min_gap_s]


def in_gap(segment: Segment, gap: Gap, collar_s: float = 1.0) -> bool:
    """Inside the gap widened by the collar on both sides (bounds included)."""
    return segment.start >= gap[0] - collar_s and segment.end <= gap[1] + collar_s


def in_any_gap(segment: Segment, gaps: Sequence[Gap], collar_s: float = 1.0) -> bool:
    return any(in_gap(segment, gap, collar_s) for gap in gaps)


def gap_texts(segments: Sequence[Segment], gaps: Sequence[Gap], collar_s: float = 1.0) -> list[str]:
    """Per gap, the tokens of the segments inside it, in (start, end) order, as one string."""
    tokens: list[list[str]] = [[] for _ in gaps]
    for segment in sorted(segments, key=lambda s: (s.start, s.end)):
        for index, gap in enumerate(gaps):
            if in_gap(segment, gap, collar_s):
                tokens[index] += segment.tokens
    return [" ".join(t) for t in tokens]


def cut_overlaps(segments: Sequence[Segment]) -> list[Segment]:
    """Time-ordered segments made non-overlapping, REFRAMED's way.

    A segment starting before the previous one ends: if both start together the later one
    replaces it; if it ends inside the previous one it is dropped; otherwise both are cut
    at the midpoint of their overlap (repeated while it still overlaps what came before).
    """
    out: list[Segment] = []
    for segment in segments:
        keep = True
        while out and segment.start < out[-1].end:
            previous = out[-1]
            if segment.start == previous.start:
                out.pop()
            elif segment.end <= previous.end:
                keep = False
                break
            else:
                middle = (previous.end + segment.start) / 2.0
                out[-1] = previous.with_times(previous.start, middle)
                segment = segment.with_times(middle, segment.end)
        if keep:
            out.append(segment)
    return out
