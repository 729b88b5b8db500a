"""Descriptions planned to realistic timing, spoken to fit: gaps -> cues with their facts.

For each gap: a word budget at ``plan_wpm`` (PTB tokens, as the REFRAMED rule counts),
one request to the describer (which may answer SKIP, an empty text, or use fewer words), a
repeat guard, a cut to the budget, then speech fitted into the gap (:mod:`fit`). A cue
starts at its gap's start and lasts as long as its words at ``plan_wpm`` or its speech,
whichever is longer, so by construction it stays inside its gap, never overlaps the
previous cue and reads at most ``plan_wpm`` (< 300). Every cue's ``meta`` records its
words, WPM, gap, fit status, rate and tempo for ``ad.json``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from uniad.config import NarrationConfig
from uniad.narrate.core import Describer, NarratedAD, Slot
from uniad.narrate.deliver.fit import Fitted, fit_speech
from uniad.narrate.deliver.speech import TTSEngine
from uniad.narrate.timeline.timing import cue_duration, cut_to_budget, word_budget, word_count, wpm

log = logging.getLogger(__name__)

MIN_WORDS = 2  # a gap that holds fewer PTB tokens than this gets no description


def normalise(text: str) -> str:
    """Text compared by the repeat guard: lower case, letters and digits only."""
    return " ".join(re.findall(r"\w+", text.lower()))


def ask(describe: Describer, slot: Slot, budget: int, previous: Sequence[NarratedAD]
        ) -> tuple[str, Any]:
    """The describer's text for ``slot`` cut to ``budget``, never a word-for-word repeat of
    the previous description: a repeat is asked again with it banned (describers that
    ``avoids``), and a repeat that survives becomes a SKIP. Returns (text, Description)."""
    found = describe(slot, budget, previous)
    if found.text.strip().strip(".").upper() == "SKIP":  # a prompted model's literal SKIP
        return "", found
    text = cut_to_budget(found.text, budget)
    if text and word_count(found.text) > budget:  # over budget: one shorter request
        again = describe(slot, max(MIN_WORDS, 2 * budget - word_count(found.text)), previous)
        if again.text.strip():
            found, text = again, cut_to_budget(again.text, budget)
    last = normalise(previous[-1].text) if previous else None
    if text and normalise(text) == last:
        if getattr(describe, "avoids", False):  # a plain function cannot steer away
            found = describe(slot, budget, previous, avoid=(previous[-1].text,))
            text = cut_to_budget(found.text, budget)
        if normalise(text) == last:
            log.info("AD at %.2f s skipped: it repeats the previous one (%r)", slot.start, text)
            text = ""
    return text, found


@dataclass
class Plan:
    """The planned cues; ``speech[i]`` is ``cues[i]``'s fitted speech (when spoken);
    ``dropped`` the descriptions no fitting step could place (the overflow report)."""

    cues: list[NarratedAD] = field(default_factory=list)
    speech: list[Fitted] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def normal(self) -> list[NarratedAD]:
        """The cues of the normal track: those spoken within their gap (no pause)."""
        return [c for c in self.cues if c.meta.get("fit") != "extended"]


def plan_cues(
    slots: Sequence[Slot],
    describe: Describer,
    settings: NarrationConfig,
    engine: TTSEngine | None = None,
) -> Plan:
    """One cue per gap the describer fills; with an ``engine``, each cue's speech fitted
    (see :mod:`uniad.narrate.deliver.fit`). "extended" cues (``settings.extended``, or a
    description whose ``meta["extended"]`` a describer set, as `uniad review` does) need the
    video paused for ``meta["pause_s"]`` seconds and belong to the extended track only."""
    plan = Plan()
    for slot in tqdm(slots, desc="describe", unit="gap"):
        budget = word_budget(slot.duration, settings.plan_wpm)
        if budget < MIN_WORDS:
            continue
        text, found = ask(describe, slot, budget, plan.cues)
        if not text:
            continue
        fitted = None
        if engine is not None:
            marked = bool(found.meta.get("extended"))  # keep these words: pause for them
            fitted = fit_speech(
                engine, text, slot.start, slot.duration,
                rephrase=None if marked else
                lambda words: ask(describe, slot, min(words, budget), plan.cues)[0],
                max_rate_gain=settings.max_rate_gain, max_tempo=settings.max_tempo,
                extended=settings.extended or marked,
            )
            text = fitted.text
        spoken_s = fitted.speech.duration if fitted and fitted.speech else 0.0
        end = min(slot.end, slot.start + cue_duration(text, settings.plan_wpm, spoken_s))
        meta = {
            **found.meta,
            "words": word_count(text), "word_budget": budget,
            "wpm": round(wpm(text, end - slot.start), 1),
            "gap": [slot.start, slot.end],
            "fit": fitted.status if fitted else "unspoken",
        }
        if fitted:
            meta.update(rate_wpm=fitted.rate_wpm, tempo=fitted.tempo)
            if fitted.status == "extended":
                meta["pause_s"] = fitted.overflow_s
            if fitted.status == "dropped":
                plan.dropped.append({"start": slot.start, "text": text, "gap": meta["gap"],
                                     "overflow_s": fitted.overflow_s})
                continue
        plan.cues.append(NarratedAD(slot.start, round(end, 3), text, found.characters, meta))
        if fitted:
            plan.speech.append(fitted)
    return plan
