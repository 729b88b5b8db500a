"""The dialogue lines of a subtitle file, with their text: what a VLM prompt quotes.

:mod:`uniad.narrate.timeline.subtitles` parses the file (SRT or WebVTT; a malformed file fails naming
the file and line); here each line's text is put on one line for a prompt.
"""

from __future__ import annotations

from pathlib import Path

from uniad.narrate.timeline.subtitles import Cue as Line, read_subtitle_cues


def read_dialogue(path: str | Path) -> list[Line]:
    """``(start, end, text)`` of every subtitle, in time order, text on one line."""
    return sorted((a, b, " ".join(t.split())) for a, b, t in read_subtitle_cues(path))


def around(lines: list[Line], start: float, end: float, window: float = 10.0,
           most: int = 2) -> tuple[list[str], list[str]]:
    """The last ``most`` lines ending within ``window`` s before ``start`` and the first
    ``most`` starting within ``window`` s after ``end``."""
    before = [t for a, b, t in lines if start - window <= b <= start]
    after = [t for a, b, t in lines if end <= a <= end + window]
    return before[-most:], after[:most]
