"""The verdicts the authoring page shows for every cue, computed in one place (here).

Per cue, as written (its own start and end, not the gap it came from):
- words (PTB tokens) and words per minute, as :mod:`uniad.narrate.timing` counts them;
- the REFRAMED realistic rule (:func:`~uniad.narrate.timeline.timing.check_cues`): inside a
  dialogue gap, under 300 WPM, not overlapping the previous cue; and, stricter, whether
  it touches dialogue at all (the rule forgives 1 s at each end of a line, and a short
  line entirely, but a describer should still see that the cue talks over it);
- what a render will do with it, mirrored step by step so no surprise waits there: its
  room (the gap :mod:`~uniad.narrate.deliver.render` gives it: the recorded gap while its
  start stays inside, else its span grown into free time), the text cut to the room's word
  budget, and whether the speech fits with the run's voice through narration's own
  ladder (:func:`~uniad.narrate.deliver.fit.fit_speech`: natural rate, faster rate,
  tempo, a shorter cut; a cue marked extended keeps its words and says how long the video
  pauses);
- names it uses that are not in the run's cast.

Synthesis is the slow part: a cue no edit has touched keeps the fit its run recorded
(:func:`recorded_fit`), :class:`CachedVoice` keeps recent speech by text and
rate, and :class:`SpeechCheck` keeps each verdict by text, room and extended mark: an
edit re-synthesises only the cue it touched. The same cached speech is what "Play cue"
sends, so the page plays exactly the version the verdict describes.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from uniad.config import NarrationConfig
from uniad.narrate.deliver.fit import Fitted, fit_speech
from uniad.narrate.deliver.plan import MIN_WORDS
from uniad.narrate.deliver.speech import TTSEngine
from uniad.narrate.timeline.timing import (RULE_MAX_WPM, check_cues, cut_to_budget,
                                           word_budget, word_count)

Interval = tuple[float, float]

# Capitalised words that start sentences in AD without being anyone's name.
_NOT_NAMES = frozenset("""
a an the he she they it we you i his her their its our your my this that these those
there here then now later meanwhile suddenly outside inside above below behind beside
in on at as by for from into onto over under with without after before while when
where someone somebody something everyone everybody nobody nothing one two three
both each all some another other night day morning evening dawn dusk rain snow
back up down out off near across through inside around again still finally slowly
no yes not and but or so if
""".split())
_WORD = re.compile(r"[A-Z][\w'-]*")
SPOKEN = frozenset({"fits", "rate", "tempo", "rephrased", "extended"})  # fit statuses with speech


class CachedVoice:
    """A :class:`TTSEngine` that remembers its last ``size`` answers (text, rate): the
    cache "Play cue" and every verdict share. Thread-safe: verdicts run in a pool."""

    def __init__(self, engine: TTSEngine, size: int = 256) -> None:
        self.engine, self.name, self.size = engine, engine.name, size
        self._cache: OrderedDict[tuple[str, int], tuple[np.ndarray, int]] = OrderedDict()
        self._lock = threading.Lock()

    def synthesize(self, text: str, rate_wpm: int) -> tuple[np.ndarray, int]:
        key = (text, rate_wpm)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = self.engine.synthesize(text, rate_wpm)
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return found


class SpeechCheck:
    """What a render will speak for one cue: its text cut to the word budget of its room,
    then fitted (narration's ladder; rephrasing is a further cut, as for an edited script,
    except for a cue marked extended, which keeps its words and pauses). Remembered per
    (text, start, room end, extended)."""

    def __init__(self, voice: CachedVoice, settings: NarrationConfig, size: int = 512) -> None:
        self.voice, self.settings, self.size = voice, settings, size
        self._fits: OrderedDict[tuple[str, float, float, bool], Fitted | None] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str, start: float, end: float, extended: bool) -> Fitted | None:
        """The fitted speech of ``text`` in the room ``start..end``; None when the room
        holds fewer than :data:`~uniad.narrate.deliver.plan.MIN_WORDS` (render skips it)."""
        key = (text, round(start, 3), round(end, 3), extended)
        with self._lock:
            if key in self._fits:
                return self._fits[key]
        budget = word_budget(end - start, self.settings.plan_wpm)
        fitted = None
        if budget >= MIN_WORDS:
            fitted = fit_speech(
                self.voice, cut_to_budget(text, budget), start, end - start,
                rephrase=None if extended else
                lambda words: cut_to_budget(text, min(words, budget)),
                max_rate_gain=self.settings.max_rate_gain,
                max_tempo=self.settings.max_tempo, extended=extended)
        with self._lock:
            self._fits[key] = fitted
            while len(self._fits) > self.size:
                self._fits.popitem(last=False)
        return fitted


def cast_names(characters: Iterable[Any]) -> frozenset[str]:
    """Every word a cast entry may be called by (name, role, short name), lower case."""
    words: set[str] = set()
    for c in characters:
        for value in (c.name, c.role, c.short_name):
            words.update(w.lower() for w in _WORD.findall(value or ""))
    return frozenset(words)


def names_outside_cast(text: str, characters: Sequence[str], cast: frozenset[str]) -> list[str]:
    """Names in ``text`` (capitalised words that are not common sentence openers) and in
    the cue's ``characters`` that no cast entry is called by. A heuristic (no tagger
    ships offline): it can miss a lower-case name or flag a place, never change text."""
    found = [re.sub(r"'s$", "", w) for w in _WORD.findall(text)]
    candidates = [w for w in [*found, *characters] if w.lower() not in _NOT_NAMES]
    return list(dict.fromkeys(w for w in candidates if w.lower() not in cast))


@dataclass(frozen=True)
class Verdict:
    """What the page shows for one cue (all computed here, none in the browser)."""

    words: int
    wpm: float
    in_gap: bool  # the rule's test: clear of dialogue shrunk by its 1 s collar
    over_dialogue: bool  # stricter: any overlap with dialogue at all (narration's own aim)
    under_wpm: bool
    after_previous: bool
    realistic: bool
    room_s: float  # the time a render gives it: its gap, or its span grown into free time
    spoken: str  # what a render will say: the text, cut if its room holds fewer words
    fit: str  # fit_speech's status (fits, rate, tempo, rephrased, extended, dropped), or
    # "skipped": the room holds too few words for any description
    rate_wpm: int
    tempo: float
    overflow_s: float
    not_in_cast: list[str]
    problems: list[str]  # one short phrase per broken rule, for the table and screen readers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def recorded_fit(cue: dict[str, Any]) -> Fitted | None:
    """The fit a narration or render recorded for a cue no edit has touched since (an edit
    drops ``meta.fit``): its room and text are what that run fitted, so the page shows it
    without synthesising (a feature film's thousand cues load at once)."""
    meta = cue.get("meta", {})
    if meta.get("fit") not in SPOKEN or "rate_wpm" not in meta:
        return None
    return Fitted(cue["text"], meta["fit"], None, int(meta["rate_wpm"]),
                  float(meta.get("tempo", 1.0)), float(meta.get("pause_s", 0.0)))


def judge(
    cues: Sequence[dict[str, Any]],
    rooms: Sequence[Interval],
    dialogue: Sequence[Interval],
    speech: SpeechCheck,
    cast: frozenset[str] | None,
) -> list[Verdict]:
    """A verdict per cue of ``cues`` (time order, ``ad.json`` dicts) whose render rooms are
    ``rooms``; ``cast`` None when the run's cast is unknown (no name check)."""
    spans = [(float(c["start"]), float(c["end"]), c["text"]) for c in cues]
    strict = check_cues(spans, dialogue, collar=0.0)
    verdicts = []
    for cue, room, (start, end, text), rule, exact in zip(
            cues, rooms, spans, check_cues(spans, dialogue), strict):
        fitted = recorded_fit(cue) or speech(text, room[0], room[1],
                                             bool(cue.get("meta", {}).get("extended")))
        spoken = fitted.text if fitted else ""
        unknown = (names_outside_cast(text, cue.get("characters", ()), cast)
                   if cast is not None else [])
        problems = []
        if not exact.in_gap:
            problems.append("over dialogue" if not rule.in_gap else
                            "over dialogue (inside the rule's 1 s collar)")
        if rule.wpm >= RULE_MAX_WPM:
            problems.append(f"{rule.wpm:.0f} WPM (limit {RULE_MAX_WPM:.0f})")
        if not rule.after_previous:
            problems.append("overlaps the previous cue")
        if fitted is None:
            problems.append("its room holds too few words: render skips it")
        elif fitted.status == "dropped":
            problems.append(f"speech {fitted.overflow_s:.2f} s too long")
        elif spoken != text:
            problems.append("render shortens it")
        if unknown:
            problems.append("not in cast: " + ", ".join(unknown))
        verdicts.append(Verdict(
            words=word_count(text), wpm=rule.wpm, in_gap=rule.in_gap,
            over_dialogue=not exact.in_gap,
            under_wpm=rule.wpm < RULE_MAX_WPM, after_previous=rule.after_previous,
            realistic=rule.passed, room_s=round(room[1] - room[0], 3), spoken=spoken,
            fit=fitted.status if fitted else "skipped",
            rate_wpm=fitted.rate_wpm if fitted else 0, tempo=fitted.tempo if fitted else 1.0,
            overflow_s=fitted.overflow_s if fitted else 0.0, not_in_cast=unknown,
            problems=problems))
    return verdicts
