"""The narrated AD as files people open: SRT, WebVTT (``<track kind="descriptions">``), JSON.

Also :func:`fit_text`, the last-resort shortening of an AD to its slot's word budget (the
pipeline first asks the model for a shorter sentence; cutting text is the fallback).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import srt
import webvtt

from uniad.io import write_json as write_json_file, write_text


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


def _vtt_time(seconds: float) -> str:
    """WebVTT timestamps are ``HH:MM:SS.mmm`` (SRT uses a comma; srt writes those itself)."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def write_srt(ads: Sequence[NarratedAD], path: str | Path) -> Path:
    subs = [
        srt.Subtitle(i + 1, timedelta(seconds=ad.start), timedelta(seconds=ad.end), ad.text)
        for i, ad in enumerate(sorted(ads, key=lambda a: a.start))
    ]
    return write_text(path, srt.compose(subs))


def write_vtt(ads: Sequence[NarratedAD], path: str | Path) -> Path:
    """A WebVTT file a browser loads as ``<track kind="descriptions" src="ad.vtt">``
    (see :func:`vtt_text`)."""
    return write_text(path, vtt_text(ads))


def vtt_text(ads: Sequence[NarratedAD]) -> str:
    """The WebVTT document of ``ads`` (the authoring page serves it as edits happen).

    Cue identifiers are ``ad-N``; a cue that needs the video paused (extended AD, meta
    ``pause_s``) is ``ad-N-pause-S`` so a pausing player (or a person) knows how long."""
    def identifier(i: int, ad: NarratedAD) -> str:
        pause = ad.meta.get("pause_s") if ad.meta.get("fit") == "extended" else None
        return f"ad-{i + 1}" + (f"-pause-{pause:.2f}s" if pause else "")

    doc = webvtt.WebVTT(
        captions=[
            webvtt.Caption(start=_vtt_time(ad.start), end=_vtt_time(ad.end), text=ad.text,
                           identifier=identifier(i, ad))
            for i, ad in enumerate(sorted(ads, key=lambda a: a.start))
        ]
    )
    return doc.content


def write_json(
    ads: Sequence[NarratedAD], path: str | Path, info: dict[str, Any] | None = None
) -> Path:
    """Every AD with its slot times, text, named characters and scores, plus run ``info``
    (video, checkpoint, encoder...) so the file says where it came from."""
    payload = {
        "info": info or {},
        "ads": [
            {**asdict(ad), "characters": list(ad.characters)}
            for ad in sorted(ads, key=lambda a: a.start)
        ],
    }
    return write_json_file(path, payload)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=—|–|-\s)")


# Words a cut sentence must not end on: articles, possessives, prepositions, conjunctions.
_DANGLING = frozenset(
    "a an the his her their its my your our this that these those of to in on at by for "
    "with from into onto over under and or but as than who which while".split()
)


def _words(text: str) -> int:
    return len(text.split())


def _longest_prefix(pieces: list[str], max_words: int) -> str:
    """The most leading pieces that together fit ``max_words`` (empty if none does)."""
    kept: list[str] = []
    for piece in pieces:
        if _words(" ".join(kept + [piece])) > max_words:
            break
        kept.append(piece)
    return " ".join(kept)


def _close(text: str) -> str:
    """End a cut at a full stop: AD is read aloud, a dangling comma sounds broken."""
    text = text.rstrip(" ,;:—–-")
    return text if text.endswith((".", "!", "?")) else text + "."


def fit_text(text: str, max_words: int) -> str:
    """Shorten ``text`` to at most ``max_words`` words, cutting where a listener won't notice.

    Prefer whole sentences; else whole clauses of the first sentence (cut at , ; : or a
    dash); else the first ``max_words`` words. Cuts end with a full stop.
    """
    text = " ".join(text.split())
    if max_words <= 0:
        return ""
    if _words(text) <= max_words:
        return text
    sentences = _SENTENCE_END.split(text)
    kept = _longest_prefix(sentences, max_words)
    if kept:
        return kept
    kept = _longest_prefix(_CLAUSE_END.split(sentences[0]), max_words)
    if kept:
        return _close(kept)
    words = text.split()[:max_words]
    while len(words) > 1 and words[-1].lower().strip(",;:") in _DANGLING:
        words.pop()  # "Tom hangs up his." reads as broken; "Tom hangs up." does not
    return _close(" ".join(words))
