"""The dialogue lines of a subtitle file, with their text: what a VLM prompt quotes.

:mod:`uniad.narrate.slots` reads only the times (where AD may speak); describers that
take the surrounding dialogue need the words too. The file is first read by
:func:`~uniad.narrate.slots.read_subtitle_intervals`, so a malformed file fails with the
same message (file and line) whichever reader meets it first.
"""

from __future__ import annotations

from pathlib import Path

import srt
import webvtt

from uniad.narrate.slots import read_subtitle_intervals

Line = tuple[float, float, str]


def read_dialogue(path: str | Path) -> list[Line]:
    """``(start, end, text)`` of every subtitle, in time order, text on one line."""
    path = Path(path)
    read_subtitle_intervals(path)  # validates, naming the file and line
    if path.suffix.lower() == ".vtt":
        lines = [(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000,
                  c.text) for c in webvtt.read(str(path), encoding="utf-8-sig")]
    else:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        lines = [(s.start.total_seconds(), s.end.total_seconds(), s.content)
                 for s in srt.parse(text)]
    return sorted((a, b, " ".join(t.split())) for a, b, t in lines)


def around(lines: list[Line], start: float, end: float, window: float = 10.0,
           most: int = 2) -> tuple[list[str], list[str]]:
    """The last ``most`` lines ending within ``window`` s before ``start`` and the first
    ``most`` starting within ``window`` s after ``end``."""
    before = [t for a, b, t in lines if start - window <= b <= start]
    after = [t for a, b, t in lines if end <= a <= end + window]
    return before[-most:], after[:most]
