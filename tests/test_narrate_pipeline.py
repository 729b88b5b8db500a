"""Planning descriptions into gaps with a stub describer: budgets, SKIP, repeats, timing."""

from __future__ import annotations

import pytest

from uniad.config import NarrationConfig
from uniad.narrate.core import Description, NarratedAD, Slot
from uniad.narrate.deliver.plan import ask, cut_to_budget, plan_cues
from uniad.narrate.timeline.timing import word_count


class Stub:
    """Answers from a list, in turn; records every request."""

    avoids = False

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[Slot, int, int]] = []

    def __call__(self, slot, max_words, previous, avoid=()):
        self.calls.append((slot, max_words, len(previous)))
        return Description(self.answers.pop(0) if self.answers else "A car passes.",
                           ("Anna",), {"score": -1.0})


class Avoiding(Stub):
    """A describer that steers away from the texts in ``avoid``."""

    avoids = True

    def __init__(self, *answers: str) -> None:
        super().__init__(*answers)
        self.avoided: list[tuple[str, ...]] = []

    def __call__(self, slot, max_words, previous, avoid=()):
        if avoid:
            self.avoided.append(tuple(avoid))
            return Description("Tom closes the window.")
        return super().__call__(slot, max_words, previous)


def test_cues_are_planned_within_budget_and_never_overlap():
    long = " ".join(["Anna walks slowly across the room,"] * 6) + " then sits."
    stub = Stub(long, "Anna walks in.", "", "Anna sits.")
    plan = plan_cues([Slot(0, 4), Slot(5, 9), Slot(9.5, 10.0), Slot(10.2, 13)], stub,
                     NarrationConfig())
    # 4 s hold 12 tokens at 180 WPM, 2.8 s hold 8; the long answer is re-asked once with
    # the overshoot removed; the 0.5 s gap is never asked; context grows with each cue
    assert [(c[1], c[2]) for c in stub.calls] == [(12, 0), (2, 0), (12, 1), (8, 1)]
    assert [c.text for c in plan.cues] == ["Anna walks in.", "Anna sits."]
    previous_end = 0.0
    for cue in plan.cues:
        gap = cue.meta["gap"]
        assert gap[0] <= cue.start < cue.end <= gap[1] and cue.start >= previous_end
        assert cue.meta["words"] == word_count(cue.text) <= cue.meta["word_budget"]
        assert cue.meta["wpm"] <= 180.0 + 1e-6 and cue.meta["fit"] == "unspoken"
        previous_end = cue.end


def test_skip_leaves_the_gap_silent():
    plan = plan_cues([Slot(0, 3), Slot(4, 7)], Stub("", "  "), NarrationConfig())
    assert plan.cues == []


def test_a_word_for_word_repeat_is_re_asked_with_it_banned_or_skipped():
    first = NarratedAD(0.0, 2.0, "Anna opens the door.")
    avoiding = Avoiding("anna opens the DOOR")
    text, _ = ask(avoiding, Slot(3, 6), 9, [first])
    assert text == "Tom closes the window." and avoiding.avoided == [("Anna opens the door.",)]
    # a describer without `avoid` cannot be steered: the repeat becomes a SKIP
    text, _ = ask(Stub("Anna opens the door."), Slot(3, 6), 9, [first])
    assert text == ""
    plan = plan_cues([Slot(0, 3), Slot(4, 7), Slot(8, 11)],
                     Stub("Tom waits.", "Tom waits.", "Tom waits."), NarrationConfig())
    assert [c.text for c in plan.cues] == ["Tom waits."]


@pytest.mark.parametrize("budget", [1, 3, 5, 8])
def test_cut_to_budget_counts_ptb_tokens_with_punctuation(budget):
    text = "Anna's friend, Tom, can't stop laughing."
    cut = cut_to_budget(text, budget)
    assert word_count(cut) <= budget and cut
    assert word_count(text) == 11 and cut_to_budget(text, 11) == text


def test_a_literal_skip_answer_is_a_skip():
    plan = plan_cues([Slot(0, 3), Slot(4, 7)], Stub("SKIP", "Skip."), NarrationConfig())
    assert plan.cues == []


def test_narration_flags_build_the_settings_and_refuse_bad_values(tmp_path, capsys):
    from uniad.cli import build_parser, main
    from uniad.commands.narration_options import settings_from

    args = build_parser().parse_args([
        "narrate", "v.mp4", "--cast", "c.json", "--checkpoint", "ck", "--out", "o",
        "--extended", "--wpm", "160", "--gaps", "energy", "--min-gap", "2", "--voice", "espeak",
        "--no-cut-split"])
    assert settings_from(args) == NarrationConfig(
        extended=True, plan_wpm=160, gap_source="energy", min_gap_s=2.0, voice="espeak",
        split_at_cuts=False)
    (tmp_path / "ad.srt").write_text("1\n00:00:01,000 --> 00:00:03,000\nAnna sits.\n")
    assert main(["render", str(tmp_path / "ad.srt"), "--video", "v.mp4", "--out",
                 str(tmp_path / "o"), "--wpm", "400"]) == 2
    err = capsys.readouterr().err
    assert "--wpm must be <= 299, got 400" in err and "plan_wpm" not in err
