"""From OCR readings to on-screen text worth reading out, and the cues that read it.

Guidelines (DCMP, Ofcom, Netflix) ask AD to read out text that matters: title cards,
signs, captions, letters. Three filters keep only that:

- **persistence**: a text must be read (nearly) the same on ``min_frames`` consecutive
  scanned frames; one-frame readings are mostly OCR noise on textured backgrounds;
- **burnt-in subtitles**: text in the bottom band of the frame (``subtitle_band``) is
  where subtitles live; the viewer hears that dialogue, so it is never read out;
- **dialogue**: text whose words are the words of a subtitle line spoken at that moment
  (``dialogue``, within ``DIALOGUE_SLACK`` seconds) is the dialogue shown on screen,
  wherever it sits; a sign reading "EXIT" stays even if someone says "exit" a minute later.

A cue ("Title: THE LAST TRAIN.", "A sign reads: EXIT.") is placed in the first slot that
ends after the text appears (starting no earlier than the text), within that slot's word
budget; the rest of the slot stays free for the describer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import Literal

from uniad.narrate.core import NarratedAD, Slot
from uniad.narrate.media.ocr import FrameText, TextBlock
from uniad.narrate.timeline.subtitles import Cue as Line  # a dialogue line
from uniad.narrate.timeline.timing import cue_duration, cut_to_budget, word_budget, word_count


CUE_PREFIX = {"title": "Title:", "sign": "A sign reads:"}
DIALOGUE_SLACK = 1.0  # seconds: subtitle files and burnt-in subtitles drift by about this


@dataclass(frozen=True)
class ScreenText:
    """A text that stayed on screen from ``start`` to ``end`` (scan times)."""

    start: float
    end: float
    text: str
    kind: Literal["title", "sign"]
    confidence: float


def normalise(text: str) -> str:
    """Lower case, letters and digits only: what two readings of one text share."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def similar(a: str, b: str, threshold: float = 0.8) -> bool:
    """Two readings of the same text (OCR drops or swaps a letter between frames)."""
    return SequenceMatcher(None, normalise(a), normalise(b)).ratio() >= threshold


def in_subtitle_band(block: TextBlock, frame: FrameText, band: float) -> bool:
    """Whether ``block`` sits in the bottom ``band`` of the frame, where subtitles go."""
    _, top, _, _ = block.box
    return top >= frame.height * (1 - band)


def is_dialogue(text: str, dialogue: Sequence[Line], threshold: float = 0.8) -> bool:
    """Whether most words of ``text`` are words of one dialogue line (fuzzy per word)."""
    words = normalise(text).split()
    if not words:
        return False
    for _, _, line in dialogue:
        spoken = normalise(line).split()
        hits = sum(any(similar(w, s, threshold) for s in spoken) for w in words)
        if hits / len(words) >= 0.6:
            return True
    return False


@dataclass
class _Track:
    readings: list[tuple[float, TextBlock, bool]]  # time, block, plain frame

    @property
    def last(self) -> float:
        return self.readings[-1][0]

    def best(self) -> ScreenText:
        """The most confident reading; a title when most frames were plain."""
        _, block, _ = max(self.readings, key=lambda r: r[1].confidence)
        plain = sum(p for _, _, p in self.readings) * 2 > len(self.readings)
        mean = sum(r[1].confidence for r in self.readings) / len(self.readings)
        return ScreenText(self.readings[0][0], self.last, block.text,
                          "title" if plain else "sign", round(mean, 1))


def track_texts(
    frames: Iterable[FrameText],
    dialogue: Sequence[Line] = (),
    min_frames: int = 2,
    subtitle_band: float = 0.2,
    max_skip: int = 1,
    repeat_after: float = 60.0,
) -> list[ScreenText]:
    """Texts read on at least ``min_frames`` scanned frames, subtitles and dialogue removed.

    Readings on successive frames join one text when they are :func:`similar`; a text may
    be missed on up to ``max_skip`` frames in between (a passing shadow, a blur). A text
    seen again less than ``repeat_after`` s after it was last seen (the sign in a
    shot/reverse-shot) is the same text, read out once.
    """
    open_tracks: list[_Track] = []
    done: list[_Track] = []
    step = None
    previous_time = None
    for frame in frames:
        if previous_time is not None and step is None:
            step = frame.time - previous_time
        previous_time = frame.time
        horizon = frame.time - (max_skip + 1) * (step or 1.0) - 1e-6
        done += [t for t in open_tracks if t.last < horizon]
        open_tracks = [t for t in open_tracks if t.last >= horizon]
        spoken = [line for line in dialogue
                  if line[0] - DIALOGUE_SLACK <= frame.time <= line[1] + DIALOGUE_SLACK]
        for block in frame.blocks:
            if in_subtitle_band(block, frame, subtitle_band) or is_dialogue(block.text, spoken):
                continue
            match = next((t for t in open_tracks if t.last < frame.time
                          and similar(t.readings[-1][1].text, block.text)), None)
            if match is None:
                open_tracks.append(_Track([(frame.time, block, frame.plain)]))
            else:
                match.readings.append((frame.time, block, frame.plain))
    found = sorted((t.best() for t in done + open_tracks if len(t.readings) >= min_frames),
                   key=lambda s: s.start)
    kept: list[ScreenText] = []
    for text in found:
        seen = next((i for i, k in enumerate(kept) if similar(k.text, text.text)
                     and text.start - k.end < repeat_after), None)
        if seen is None:
            kept.append(text)
        else:
            kept[seen] = replace(kept[seen], end=max(kept[seen].end, text.end))
    return kept


def cue_text(text: ScreenText) -> str:
    """What the narrator says: ``Title: THE LAST TRAIN.``"""
    body = text.text.strip().rstrip(".")
    return f"{CUE_PREFIX[text.kind]} {body}."


def place_cues(
    texts: Sequence[ScreenText],
    slots: Sequence[Slot],
    words_per_second: float = 2.5,
    min_gap: float = 1.5,
    max_delay: float = 10.0,
) -> tuple[list[NarratedAD], list[Slot]]:
    """Cues for ``texts`` in ``slots``, and the slots' time left for the describer.

    A text's cue goes into the first free slot that ends after the text appears and starts
    at most ``max_delay`` s after it disappears, starting at ``max(slot start, text
    start)``; it is cut to the words that fit before the slot ends (a reading never runs
    into dialogue) and needs room for its prefix and one word. Words are counted and timed
    as the planner does (:mod:`uniad.narrate.timeline.timing`: PTB tokens), so a read-out keeps its
    words when it is planned. It takes the time its words need at ``words_per_second``;
    the parts of the slot before and after it that
    are at least ``min_gap`` long stay free.
    """
    free = sorted(slots, key=lambda s: s.start)
    cues: list[NarratedAD] = []
    for text in texts:
        said = cue_text(text)
        prefix = word_count(CUE_PREFIX[text.kind])
        for i, slot in enumerate(free):
            start = max(slot.start, text.start)
            if slot.end <= text.start or slot.start > text.end + max_delay:
                continue
            budget = word_budget(slot.end - start, 60.0 * words_per_second)
            if budget < prefix + 1:
                continue
            spoken = cut_to_budget(said, budget)
            # Rounded up to the millisecond: the planner must find the same words' time.
            end = min(slot.end, math.ceil(1000 * (start + cue_duration(spoken, 60.0 * words_per_second))) / 1000)
            cues.append(NarratedAD(round(start, 3), round(end, 3), spoken, (),
                                   {"source": "screen_text", "word_budget": budget,
                                    "screen_text": text.text, "kind": text.kind,
                                    "seen": [text.start, text.end],
                                    "ocr_confidence": text.confidence,
                                    "cut": spoken != said}))
            rest = [Slot(round(a, 3), round(b, 3)) for a, b in ((slot.start, start),
                                                                 (end, slot.end))
                    if b - a >= min_gap]
            free[i:i + 1] = rest
            break
    return cues, free


def texts_during(texts: Sequence[ScreenText], slot: Slot, lead: float = 2.0) -> list[ScreenText]:
    """The texts on screen during ``slot`` or at most ``lead`` s before it: what a
    describer may be told is written on screen."""
    return [t for t in texts if t.start < slot.end and t.end >= slot.start - lead]
