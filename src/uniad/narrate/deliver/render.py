"""Re-speak and re-mix an edited AD track without the model: ``uniad render``.

A describer reviews ``ad.html``, edits ``ad.json`` (or the SRT/WebVTT) and rebuilds every
deliverable in seconds. The edited texts go through the same planning, fitting and
writing as a narration (:mod:`plan`, :mod:`deliver`), with a describer that answers
each gap with the edited text; it has no shorter version, so a text that cannot be fitted
is dropped (or extended) and reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from uniad.config import NarrationConfig
from uniad.errors import DataError
from uniad.narrate.core import Description, NarratedAD, Slot
from uniad.narrate.deliver.deliverables import write_deliverables
from uniad.narrate.deliver.plan import plan_cues
from uniad.narrate.deliver.speech import make_engine
from uniad.narrate.media.video import probe
from uniad.narrate.timeline.gaps import speech_spans
from uniad.narrate.timeline.subtitles import read_subtitle_cues

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditedCue:
    """One edited description and the gap it may use."""

    gap: Slot
    text: str
    characters: tuple[str, ...] = ()
    widen: bool = False  # the gap is only the cue's own span: it may grow into free time
    extended: bool = False  # marked extended (`uniad review`): it may pause the video


class EditedScript:
    """A :class:`~uniad.narrate.core.Describer` that answers with the edited texts."""

    avoids = False  # an edited text is what the editor wrote: never asked for another

    def __init__(self, cues: Sequence[EditedCue]) -> None:
        self.by_start = {round(c.gap.start, 3): c for c in cues}

    def __call__(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD],
                 avoid: Sequence[str] = ()) -> Description:
        cue = self.by_start[round(slot.start, 3)]
        return Description(cue.text, cue.characters,
                           {"edited": True, **({"extended": True} if cue.extended else {})})


def read_edited(path: str | Path) -> tuple[list[EditedCue], dict[str, Any]]:
    """The edited cues of ``ad.json``, ``.srt`` or ``.vtt`` and (JSON only) its run info.

    A JSON cue keeps its recorded gap while its start stays inside it; a moved cue, and
    every SRT/WebVTT cue, starts from its own span (see :func:`widen_gaps`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    if path.suffix.lower() != ".json":
        spoken = [(i + 1, a, b, t) for i, (a, b, t) in enumerate(read_subtitle_cues(path))
                  if t.strip()]
        refuse_overlaps(path, [(n, a, b) for n, a, b, _ in spoken], "cue")
        return [EditedCue(Slot(a, b), t, widen=True) for _, a, b, t in spoken], {}
    payload = read_ad_json(path)
    cues = edited_cues(payload, path)
    refuse_overlaps(path, [(i, float(ad["start"]), float(ad["end"]))
                           for i, ad in enumerate(payload["ads"]) if str(ad["text"]).strip()],
                    "record")
    return cues, payload.get("info", {})


def read_ad_json(path: Path) -> Any:
    """The parsed ``ad.json`` (a BOM allowed), its encoding or syntax errors named."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def edited_cues(payload: Any, path: str | Path) -> list[EditedCue]:
    """The cues of an ``ad.json`` payload (read from ``path``, named in errors) as
    :func:`read_edited` takes them, overlaps not refused: `uniad review` shows its draft's
    overlaps as verdicts and asks the same of it."""
    cues = []
    ads = payload.get("ads", []) if isinstance(payload, dict) else None
    if not isinstance(ads, list):
        raise DataError(path, "expected an object with a list 'ads' (ad.json from `uniad narrate`)",
                        field="ads")
    for i, ad in enumerate(ads):
        if not isinstance(ad, dict):
            raise DataError(path, "an AD must be an object with start, end and text", record=i)
        for key in ("start", "end", "text"):
            if key not in ad:
                raise DataError(path, f"missing '{key}'", record=i, field=key)
        try:
            start, end = float(ad["start"]), float(ad["end"])
        except (TypeError, ValueError):
            raise DataError(path, f"start and end must be seconds, got {ad['start']!r}..{ad['end']!r}",
                            record=i, field="start") from None
        if not end > start >= 0:
            raise DataError(path, f"times must satisfy 0 <= start < end, got {start}..{end}",
                            record=i, field="start")
        meta = ad.get("meta") or {}
        gap = meta.get("gap")
        if gap and gap[0] <= start < gap[1]:
            end = max(end, float(gap[1]))
        characters = ad.get("characters", [])
        if not (isinstance(characters, list) and all(isinstance(c, str) for c in characters)):
            raise DataError(path, f"expected a list of names, got {characters!r:.60}",
                            record=i, field="characters")
        if str(ad["text"]).strip():
            cues.append(EditedCue(Slot(start, end), str(ad["text"]),
                                  tuple(characters), widen=not gap or end > gap[1],
                                  extended=bool(meta.get("extended"))))
    return cues


def refuse_overlaps(path: Path, spans: Sequence[tuple[int, float, float]], kind: str) -> None:
    """Refuse two cues that overlap in time (``(number, start, end)`` each), naming both:
    a player would show both and two voices would speak at once, and which one the editor
    meant to keep is theirs to say."""
    ordered = sorted(spans, key=lambda s: (s[1], s[2]))
    for (n1, a1, b1), (n2, a2, b2) in zip(ordered, ordered[1:]):
        if a2 < b1:
            raise DataError(path, f"{kind} {n1} ({a1:g}-{b1:g} s) and {kind} {n2} "
                                  f"({a2:g}-{b2:g} s) overlap: shorten or move one of them")


def widen_gaps(
    cues: Sequence[EditedCue], dialogue: Sequence[tuple[float, float]], duration: float,
    pad: float,
) -> list[EditedCue]:
    """Cues without a recorded gap may run on until the next cue, the next dialogue (less
    ``pad``) or the end of the video, so an edit can be longer than the cue it replaces."""
    cues = sorted(cues, key=lambda c: c.gap.start)
    out = []
    for i, cue in enumerate(cues):
        if cue.widen:
            limits = [duration] + [a - pad for a, _ in dialogue if a - pad >= cue.gap.end]
            if i + 1 < len(cues):
                limits.append(cues[i + 1].gap.start)
            end = max(cue.gap.end, min(limits))
            cue = replace(cue, gap=Slot(cue.gap.start, round(end, 3)))
        out.append(cue)
    return out


def render_edited(
    script: str | Path,
    out_dir: str | Path,
    video: str | Path | None = None,
    narration: NarrationConfig | None = None,
    speak: bool = True,
    mix: bool = True,
) -> dict[str, Path]:
    """Every deliverable of an edited track (see :func:`write_deliverables`); ``video``
    defaults to the one ``ad.json`` records. Overlapping cues are refused, naming both."""
    settings = (narration or NarrationConfig()).validate()
    cues, info = read_edited(script)
    video = video or info.get("video")
    if not video:
        raise DataError(script, "no video recorded: pass --video", field="info.video")
    video = Path(video)
    if not video.is_file():
        raise DataError(video, "video file not found")
    meta = probe(video)
    dialogue = ([tuple(span) for span in info["dialogue"]] if "dialogue" in info
                else speech_spans(video, meta, settings, info.get("subtitles")))
    cues = widen_gaps(cues, dialogue, meta.duration, settings.pad_s)
    engine = make_engine(settings.voice) if speak else None
    plan = plan_cues([c.gap for c in cues], EditedScript(cues), settings, engine)
    run_info = {**info, "video": str(video), "rendered_from": str(script)}
    return write_deliverables(plan, video, out_dir, meta.duration, dialogue, settings,
                              run_info, has_audio=meta.has_audio, mix=mix and speak)
