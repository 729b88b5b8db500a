"""Where audio description may speak: the gaps between dialogue.

AD must never talk over dialogue, so a slot is a stretch of the timeline with no speech,
shrunk by a small safety margin on each side that touches speech and kept only when it is
long enough to say something (``min_gap``). Speech comes from subtitles when the user has
them (exact and cheap), else from the soundtrack's energy.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from uniad.errors import DataError

Interval = tuple[float, float]

MARGIN = 0.2  # seconds kept free between dialogue and AD on each side


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


def slots_between(
    speech: Iterable[Interval], duration: float, min_gap: float = 1.5, margin: float = MARGIN
) -> list[Slot]:
    """The complement of ``speech`` within ``[0, duration]``, each side next to speech
    moved inwards by ``margin``, keeping slots of at least ``min_gap`` seconds."""
    slots: list[Slot] = []
    cursor, after_speech = 0.0, False
    for start, end in merge(speech) + [(duration, duration)]:
        start, end = min(max(start, 0.0), duration), min(max(end, 0.0), duration)
        gap_start = cursor + (margin if after_speech else 0.0)
        gap_end = start - (margin if start < duration else 0.0)
        if gap_end - gap_start >= min_gap:
            slots.append(Slot(round(gap_start, 3), round(gap_end, 3)))
        cursor, after_speech = max(cursor, end), True
    return slots


# --- subtitles ------------------------------------------------------------------------


Cue = tuple[float, float, str]


def read_subtitle_cues(path: str | Path) -> list[Cue]:
    """``(start, end, text)`` of each cue of an SRT or WebVTT file (chosen by extension,
    ``.vtt`` = WebVTT). Parse errors name the file and the line where parsing stopped."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "subtitle file not found")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.suffix.lower() == ".vtt":
        return _vtt_cues(path, text)
    return _srt_cues(path, text)


def read_subtitle_intervals(path: str | Path) -> list[Interval]:
    """Dialogue intervals of an SRT or WebVTT file (see :func:`read_subtitle_cues`)."""
    return [(a, b) for a, b, _ in read_subtitle_cues(path)]


def _srt_cues(path: Path, text: str) -> list[Cue]:
    try:
        subs = list(srt.parse(text))
    except srt.SRTParseError as exc:
        line = text.count("\n", 0, exc.expected_start) + 1
        raise DataError(
            path, f"not valid SRT near line {line}: {exc.unmatched_content.strip()[:80]!r}"
        ) from exc
    return [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in subs]


def _vtt_cues(path: Path, text: str) -> list[Cue]:
    try:
        captions = webvtt.read(str(path), encoding="utf-8-sig", strict=True)
    except MalformedFileError as exc:
        raise DataError(path, "not WebVTT: line 1 must be 'WEBVTT'") from exc
    except MalformedCaptionError as exc:
        line = _vtt_error_line(text, str(exc))
        where = f" at line {line}" if line else ""
        raise DataError(path, f"malformed WebVTT cue{where} ({exc})") from exc
    # Caption.start_in_seconds drops the milliseconds: read the exact timestamps instead.
    return [
        (c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.text)
        for c in captions
    ]


def _vtt_error_line(text: str, message: str) -> int | None:
    """1-based line of the cue block webvtt-py rejected.

    webvtt-py reports the block's lines but not their position (its message reads
    ``Invalid cue block ['00:00:0x.000 --> ...', 'text']``), so we find the block in the file.
    """
    match = re.search(r"(\[.*\])", message, re.S)
    if not match:
        return None
    try:
        block = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return None
    lines = text.splitlines()
    for i in range(len(lines)):
        if lines[i : i + len(block)] == block:
            return i + 1
    return None


# --- audio ----------------------------------------------------------------------------


def speech_intervals(
    samples: np.ndarray,
    sample_rate: int,
    frame_s: float = 0.02,
    hangover_s: float = 0.2,
    min_silence_s: float = 0.3,
    floor_db: float = -60.0,
    contrast_db: float = 10.0,
) -> list[Interval]:
    """Stretches of audible sound, by frame energy.

    Method: RMS level of 20 ms frames in dB; the threshold adapts to the recording, halfway
    between its quiet level (10th percentile) and its loud level (95th percentile), but never
    below ``floor_db`` (so digital silence is silent); a recording whose quiet and loud
    levels differ by less than ``contrast_db`` has no pauses to find, and only
    ``floor_db`` separates sound from silence. A frame above the threshold is active;
    activity is held for ``hangover_s`` after the last active frame (speech has short dips
    between words) and silences shorter than ``min_silence_s`` are bridged.

    This is an energy detector, not a speech classifier: music and loud effects count as
    "speech" too, which errs on the safe side (AD is placed only in quiet stretches); it is
    the ``--gaps energy`` alternative to voice activity (:mod:`uniad.narrate.vad`).
    Hand-written on purpose: auditok (PyPI) does the same energy detection but with a fixed
    threshold that would need tuning per film.
    """
    hop = max(1, round(frame_s * sample_rate))
    n = len(samples) // hop
    if n == 0:
        return []
    frames = samples[: n * hop].astype(np.float64).reshape(n, hop)
    level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-10)
    quiet, loud = np.percentile(level, 10), np.percentile(level, 95)
    if loud - quiet < contrast_db:  # one steady level: all sound or all silence
        threshold = floor_db
    else:
        threshold = max(floor_db, (quiet + loud) / 2)
    active = level > threshold
    # Hangover: each active frame keeps the next ``hangover`` frames active.
    hang = round(hangover_s / frame_s)
    if hang:
        held = np.convolve(active.astype(np.int32), np.ones(hang + 1, np.int32))[:n] > 0
        active = active | held
    return bridge_gaps(_runs(active, frame_s), min_silence_s)  # too short to hold any AD


def _runs(active: np.ndarray, frame_s: float) -> list[Interval]:
    """Start/end times of the runs of True in a boolean frame array."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(s * frame_s, e * frame_s) for s, e in zip(starts, ends)]


def split_long_slots(slots: Sequence[Slot], max_len: float) -> list[Slot]:
    """Split slots longer than ``max_len`` so each AD covers one moment of the video.

    A 40 s silent stretch is several shots; narrating it with one sentence would describe
    only its start. Pieces are equal so none falls under the original minimum.
    """
    out: list[Slot] = []
    for slot in slots:
        pieces = max(1, math.ceil(slot.duration / max_len - 1e-9))
        step = slot.duration / pieces
        out += [
            Slot(round(slot.start + i * step, 3), round(slot.start + (i + 1) * step, 3))
            for i in range(pieces)
        ]
    return out
