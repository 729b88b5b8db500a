"""Speech fitting order, proven with a stub voice: rate, then tempo, then rephrase, then drop."""

from __future__ import annotations

import numpy as np
import pytest

from uniad.config import NarrationConfig
from uniad.narrate.core import Description, Slot
from uniad.narrate.deliver.fit import fit_speech
from uniad.narrate.deliver.plan import plan_cues
from uniad.narrate.deliver.speech import NATURAL_WPM


class StubVoice:
    """``per_word`` seconds a word at the natural rate, proportionally shorter when faster."""

    name = "stub"
    rate = 16000

    def __init__(self, per_word: float = 0.5) -> None:
        self.per_word = per_word
        self.rates: list[int] = []

    def synthesize(self, text: str, rate_wpm: int):
        self.rates.append(rate_wpm)
        seconds = self.per_word * len(text.split()) * NATURAL_WPM / rate_wpm
        t = np.arange(int(seconds * self.rate)) / self.rate
        return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), self.rate


SIX = "Anna opens the door and waits."  # 3.0 s at the natural rate


@pytest.mark.parametrize("gap, status", [
    (3.2, "fits"),  # no change
    (2.7, "rate"),  # 11 % faster synthesis is enough
    (2.3, "tempo"),  # +20 % gives 2.5 s; atempo 1.11x does the rest
])
def test_each_step_is_used_only_when_the_previous_one_is_not_enough(gap, status):
    voice = StubVoice()
    fitted = fit_speech(voice, SIX, 1.0, gap)
    assert fitted.status == status and fitted.text == SIX
    assert fitted.speech.duration <= gap and fitted.speech.start == 1.0
    assert max(voice.rates) <= NATURAL_WPM * 1.2
    assert fitted.tempo == 1.0 if status != "tempo" else 1.0 < fitted.tempo <= 1.15


def test_then_a_shorter_description_then_drop():
    asked: list[int] = []

    def rephrase(max_words: int) -> str:
        asked.append(max_words)
        return "Anna waits."

    fitted = fit_speech(StubVoice(), SIX, 0.0, 1.5, rephrase=rephrase)
    # 6 words last 2.5 s at +20 %, 2.17 s at 1.15x: about 4 words fit in 1.5 s
    assert fitted.status == "rephrased" and fitted.text == "Anna waits." and asked == [4]
    assert fitted.speech.duration <= 1.5
    dropped = fit_speech(StubVoice(), SIX, 0.0, 1.5, rephrase=lambda n: "")
    assert dropped.status == "dropped" and dropped.speech is None
    assert dropped.overflow_s == pytest.approx(2.5 / 1.15 - 1.5, abs=0.01)
    extended = fit_speech(StubVoice(), SIX, 0.0, 1.5, rephrase=lambda n: "", extended=True)
    assert extended.status == "extended" and extended.speech.duration > 1.5


def test_plan_reports_the_drop_in_the_overflow_list_and_keeps_the_rest():
    answers = iter([SIX, "", "Tom sits."])  # the re-ask for a shorter text gets nothing

    def describe(slot, max_words, previous):
        return Description(next(answers, ""))

    # a slow voice (60 WPM): six words cannot be said in 2.4 s even at +20 % and 1.15x
    plan = plan_cues([Slot(0.0, 2.4), Slot(3.0, 5.5)], describe, NarrationConfig(),
                     StubVoice(per_word=1.0))
    assert [c.text for c in plan.cues] == ["Tom sits."]
    assert plan.cues[0].meta["fit"] == "fits"
    assert len(plan.dropped) == 1 and plan.dropped[0]["start"] == 0.0
    assert plan.dropped[0]["overflow_s"] > 0
