"""The REFRAMED realism rule: PTB words, under 300 WPM, inside a gap (1 s collar), in order."""

from __future__ import annotations

import pytest

from uniad.narrate.timeline.timing import check_cues, cue_duration, word_budget, word_count, wpm


def test_words_are_ptb_tokens_with_punctuation():
    assert word_count("Anna opens the door.") == 5
    assert word_count("Tom's car can't start, so he walks.") == 11
    assert wpm("Anna opens the door.", 1.0) == 300.0


def test_budget_and_cue_duration_keep_the_planned_rate():
    assert word_budget(2.0, 180) == 6 and word_budget(0.3, 180) == 0
    text = "Anna opens the door."
    assert cue_duration(text, 180) == pytest.approx(5 / 3)
    assert cue_duration(text, 180, spoken_s=2.5) == 2.5  # a cue lasts while it is heard


def test_the_rule_fails_each_way_a_cue_can_break_it():
    dialogue = [(5.0, 9.0)]
    ok, fast, over, early = check_cues([
        (0.0, 3.0, "Anna opens the door."),
        (3.0, 4.0, "Anna opens the door."),  # 5 tokens in 1 s: 300 WPM is not < 300
        (5.5, 7.0, "Rain."),  # inside the dialogue's core (6.0..8.0)
        (6.9, 9.5, "Tom sits."),  # starts before the previous cue ended
    ], dialogue)
    assert ok.passed and ok.wpm == 100.0
    assert not fast.passed and fast.wpm == 300.0 and fast.in_gap
    assert not over.passed and not over.in_gap
    assert not early.passed and not early.after_previous
    # the collar tolerates a cue that only brushes the dialogue's first second
    (brush,) = check_cues([(4.0, 5.9, "A car passes.")], dialogue)
    assert brush.passed
    (strict,) = check_cues([(4.0, 5.9, "A car passes.")], dialogue, collar=0.0)
    assert not strict.passed
