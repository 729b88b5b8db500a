"""The vocabulary every wing of narration speaks, at the bottom of ``narrate/``.

An :data:`Interval` of the timeline and its arithmetic, a :class:`Slot` where AD may
speak, what a :class:`Describer` says about a slot (:class:`Description`), the
:class:`NarratedAD` as placed on the timeline, and the stage clock ``ad.json`` reports.
The model is reached through one callable so that narration (gaps, timing, speech,
deliverables) needs no torch and tests drive it with a stub; ``uniad narrate`` wraps
UniAD's generate in a describer that reads the slot's frames from the feature store and
the cast from the bank.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

Interval = tuple[float, float]


@dataclass(frozen=True)
class Slot:
    """A stretch of the timeline where AD may speak."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def word_budget(self, words_per_second: float = 2.5) -> int:
        """Words that fit when read at ``words_per_second`` (2.5 w/s = 150 wpm, the usual
        pace of professional AD)."""
        return max(0, math.floor(self.duration * words_per_second))


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or touching intervals."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def bridge_gaps(intervals: Iterable[Interval], max_gap: float) -> list[Interval]:
    """Merge intervals separated by less than ``max_gap`` seconds."""
    half = max_gap / 2
    widened = merge((a - half, b + half) for a, b in intervals)
    return [(a + half, b - half) for a, b in widened]


def runs(active: np.ndarray, frame_s: float) -> list[Interval]:
    """Start/end times of the runs of True in a boolean frame array."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(s * frame_s, e * frame_s) for s, e in zip(starts, ends)]


@dataclass(frozen=True)
class NarratedAD:
    """One AD as narrated: when, what, who it names, and provenance (scores, slot, rate)."""

    start: float
    end: float
    text: str
    characters: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.end > self.start >= 0:
            raise ValueError(
                f"AD times must satisfy 0 <= start < end, got {self.start}..{self.end}"
            )
        # Whatever a describer or an editor wrote, every writer gets one line of plain text.
        object.__setattr__(self, "text", one_line(str(self.text)))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` as one line of plain text: control characters and line breaks become
    spaces, runs of spaces one. A blank line would end an SRT or WebVTT cue early, and a
    NUL or escape byte makes the DAPT document invalid XML."""
    return " ".join(_CONTROL.sub(" ", text).split())


@dataclass(frozen=True)
class Description:
    """What a describer says about one slot."""

    text: str
    characters: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)  # scores, beam, ...


class Describer(Protocol):
    """Describe ``slot`` in at most ``max_words`` words (a request: the model may exceed it).
    ``previous`` holds the ADs narrated so far, oldest first (UniAD's context). An empty
    ``text`` is a SKIP (nothing worth saying). ``avoid`` holds texts it must not repeat word
    for word: the repeat guard of :func:`uniad.narrate.deliver.plan.ask` passes the previous
    AD there and asks again, but only of a describer whose ``avoids`` is True (one that
    can steer away from them; asking the others again would cost a call for the same
    answer). A plain function ``(slot, max_words, previous)`` is a describer that does not."""

    avoids: bool

    def __call__(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD],
                 avoid: Sequence[str] = ()) -> Description:
        ...


class StageClock:
    """``lap(name)`` records the seconds since the previous lap (or since creation)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._last, 3)
        self._last = now
