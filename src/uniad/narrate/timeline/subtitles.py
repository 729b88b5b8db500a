"""Dialogue from the user's subtitle file (SRT or WebVTT): the cues narration must not
talk over, and the lines a prompted describer reads around a slot."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from uniad.errors import DataError
from uniad.narrate.core import Interval

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
