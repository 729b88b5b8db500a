"""Dialogue from the user's subtitle file (SRT or WebVTT): the cues narration must not
talk over, and the lines a prompted describer reads around a slot."""

from __future__ import annotations

import ast
import codecs
import html
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
    text = decode_text(path)
    if path.suffix.lower() == ".vtt":
        return _vtt_cues(path, text)
    return _srt_cues(path, text)


# Byte order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))


def decode_text(path: Path) -> str:
    """The text of a subtitle file, decoded by its byte order mark (UTF-8, UTF-16 or UTF-32,
    as Windows subtitle tools save them), else as UTF-8; anything else is refused naming
    the file and the first undecodable byte, not read as mojibake."""
    data = path.read_bytes()
    encoding, skip = "utf-8", 0
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, skip = name, len(bom)
            break
    try:
        return data[skip:].decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not {encoding.upper()} text (byte {exc.start + skip} cannot be "
                              "decoded): save it as UTF-8, or as UTF-16/32 with a byte order "
                              "mark") from None


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
        captions = webvtt.from_string(text, strict=True)
    except MalformedFileError as exc:
        raise DataError(path, "not WebVTT: line 1 must be 'WEBVTT'") from exc
    except MalformedCaptionError as exc:
        line = _vtt_error_line(text, str(exc))
        where = f" at line {line}" if line else ""
        raise DataError(path, f"malformed WebVTT cue{where} ({exc})") from exc
    # Caption.start_in_seconds drops the milliseconds: read the exact timestamps instead.
    # Cue text is HTML-like: webvtt-py drops the tags, the escapes (&amp; ...) are ours to undo.
    return [
        (c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000,
         html.unescape(c.text))
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
