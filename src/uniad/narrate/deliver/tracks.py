"""The narrated AD as files people open: SRT, WebVTT (``<track kind="descriptions">``), JSON."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import srt
import webvtt

from uniad.io import write_json as write_json_file, write_text
from uniad.narrate.core import NarratedAD


def _vtt_time(seconds: float) -> str:
    """WebVTT timestamps are ``HH:MM:SS.mmm`` (SRT uses a comma; srt writes those itself)."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def srt_text(text: str) -> str:
    """SRT has no escapes; a ``-->`` in a cue's text is what readers take for a timing
    line, so it is written ``->``."""
    return text.replace("-->", "->")


def vtt_text(text: str) -> str:
    """WebVTT cue text escaped (``&amp;``, ``&lt;``, ``&gt;``): a raw ``<`` starts a tag and
    ``&`` an escape, and the escaped ``-->`` (``--&gt;``) no longer ends the cue."""
    return html.escape(text, quote=False)


def write_srt(ads: Sequence[NarratedAD], path: str | Path) -> Path:
    subs = [
        srt.Subtitle(i + 1, timedelta(seconds=ad.start), timedelta(seconds=ad.end),
                     srt_text(ad.text))
        for i, ad in enumerate(sorted(ads, key=lambda a: a.start))
    ]
    return write_text(path, srt.compose(subs))


def write_vtt(ads: Sequence[NarratedAD], path: str | Path) -> Path:
    """A WebVTT file a browser loads as ``<track kind="descriptions" src="ad.vtt">``
    (see :func:`vtt_document`)."""
    return write_text(path, vtt_document(ads))


def vtt_document(ads: Sequence[NarratedAD]) -> str:
    """The WebVTT document of ``ads`` (the authoring page serves it as edits happen).

    Cue identifiers are ``ad-N``; a cue that needs the video paused (extended AD, meta
    ``pause_s``) is ``ad-N-pause-S`` so a pausing player (or a person) knows how long."""
    def identifier(i: int, ad: NarratedAD) -> str:
        pause = ad.meta.get("pause_s") if ad.meta.get("fit") == "extended" else None
        return f"ad-{i + 1}" + (f"-pause-{pause:.2f}s" if pause else "")

    doc = webvtt.WebVTT(
        captions=[
            webvtt.Caption(start=_vtt_time(ad.start), end=_vtt_time(ad.end), text=vtt_text(ad.text),
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
