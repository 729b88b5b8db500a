"""REFRAMED's timed-track rules, pinned on hand-made tracks (pure modules, no Java).

The full pipeline runs with a whitespace tokenizer and a unigram-F1 stand-in for METEOR
so every number below can be worked out by hand; CIDEr is pycocoevalcap's own.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from uniad.eval.timed.aggregate import item_means, over_movies
from uniad.eval.timed.gap_scores import cider_scores, GapRecord
from uniad.eval.timed.gaps import (clip_lines, cut_overlaps, dialogue_gaps, gap_texts, in_gap,
                                   merge_overlapping)
from uniad.eval.timed.pipeline import Item, Unit, as_written, score_set
from uniad.eval.timed.realistic import realistic_filter, wpm_summary
from uniad.eval.timed.segments import Segment
from uniad.eval.timed.significance import paired_p_value, permutation_test
from uniad.eval.timed.soda import alignment_pairs, soda


def seg(start: float, end: float, text: str = "x") -> Segment:
    return Segment(start, end, text, tuple(text.lower().split()))


def whitespace_tokenize(texts: list[str]) -> list[str]:
    return [" ".join(w.strip(".,!?").lower() for w in t.split() if w.strip(".,!?")) for t in texts]


def unigram_f1(requests):
    out = []
    for hypothesis, (reference,) in requests:
        h, r = hypothesis.split(), reference.split()
        common = sum(min(h.count(w), r.count(w)) for w in set(h))
        out.append(0.0 if not common else 2 * common / (len(h) + len(r)))
    return out


def film(references, dialogue=(), end=15.0, name="f"):
    lines = merge_overlapping(dialogue)
    item = Item(name, name, 0.0, end, tuple(dialogue_gaps(lines, 0.0, end)),
                tuple(tuple(r) for r in references))
    return Unit(name, name, (item,))


# --- dialogue gaps and the collar ---------------------------------------------------------

def test_gaps_run_from_start_between_lines_and_to_the_end_and_need_one_second():
    lines = [(2.0, 5.0), (6.0, 8.0), (8.999, 10.0), (12.0, 14.0)]
    assert dialogue_gaps(lines, 0.0, 15.0) == [(0.0, 2.0), (5.0, 6.0), (10.0, 12.0), (14.0, 15.0)]
    # 8.0 -> 8.999 is shorter than 1.0 s: no gap; exactly 1.0 s is kept
    assert dialogue_gaps([(1.0, 3.0)], 0.0, 3.5) == [(0.0, 1.0)]
    assert dialogue_gaps([], 0.0, 30.0) == [(0.0, 30.0)]


def test_overlapping_dialogue_lines_are_merged_and_touching_ones_kept_apart():
    assert merge_overlapping([(5.0, 8.0), (1.0, 3.0), (2.0, 4.0), (8.0, 9.0)]) == [
        (1.0, 4.0), (5.0, 8.0), (8.0, 9.0)]
    assert clip_lines([(-1.0, 2.0), (9.0, 12.0), (12.5, 13.0)], 0.0, 10.0) == [(0.0, 2.0), (9.0, 10.0)]
    with pytest.raises(ValueError, match="overlap"):
        dialogue_gaps([(1.0, 3.0), (2.0, 4.0)], 0.0, 10.0)


@pytest.mark.parametrize("start,end,inside", [
    (4.0, 11.0, True),     # exactly one collar before the gap start and after its end
    (3.999, 8.0, False),   # starts a hair before the collar
    (6.0, 11.001, False),  # ends a hair after the collar
    (5.5, 9.5, True),
])
def test_the_collar_widens_a_gap_by_one_second_on_both_sides(start, end, inside):
    assert in_gap(seg(start, end), (5.0, 10.0), 1.0) is inside


def test_a_segment_near_two_close_gaps_counts_in_both():
    gaps = [(0.0, 4.0), (5.0, 9.0)]  # 1 s of dialogue between them
    texts = gap_texts([seg(4.0, 5.0, "b c"), seg(0.5, 2.0, "a"), seg(3.5, 5.5, "d")], gaps)
    assert texts == ["a b c", "b c"]


# --- the realistic filter -------------------------------------------------------------------

def test_300_words_per_minute_is_dropped_and_just_under_is_kept():
    five = "one two three four five"
    kept, dropped = realistic_filter([seg(0.0, 1.0, five), seg(2.0, 3.001, five)], [(0.0, 10.0)])
    assert [s.start for s in kept] == [2.0]
    assert dropped[0].reason == "rate" and "300.0 words/min" in dropped[0].detail


def test_filter_order_rate_then_gaps_then_overlap_and_the_earlier_cue_wins():
    cues = [seg(0.0, 4.0, "a b"), seg(2.0, 6.0, "c d"),  # overlap: the earlier one stays
            seg(12.0, 15.0, "in dialogue"),             # crosses the line at 13-20
            seg(21.0, 21.1, "far too fast here"),        # fast AND inside a gap: reason is rate
            seg(21.0, 24.0, "e f")]                       # the fast cue was dropped, so no overlap
    kept, dropped = realistic_filter(cues, dialogue_gaps([(13.0, 20.0)], 0.0, 30.0))
    assert [(s.start, s.end) for s in kept] == [(0.0, 4.0), (21.0, 24.0)]
    assert [(d.index, d.reason) for d in dropped] == [(1, "overlap"), (2, "dialogue"), (3, "rate")]


def test_wpm_summary_counts_cues_at_the_limit():
    summary = wpm_summary([seg(0.0, 1.0, "a b c d e"), seg(0.0, 2.0, "a b")])
    assert summary["cues"] == 2 and summary["max"] == 300.0 and summary["at_or_over_limit"] == 1
    assert summary["mean"] == pytest.approx((300.0 + 60.0) / 2)


# --- the midpoint cut of overlapping generations ------------------------------------------------

def test_overlapping_generations_are_cut_at_the_midpoint_of_their_overlap():
    out = cut_overlaps([seg(0.0, 4.0, "a"), seg(2.0, 6.0, "b")])
    assert [(s.start, s.end, s.text) for s in out] == [(0.0, 3.0, "a"), (3.0, 6.0, "b")]


def test_a_generation_inside_the_previous_is_dropped_and_a_same_start_one_replaces_it():
    assert [s.text for s in cut_overlaps([seg(0.0, 6.0, "a"), seg(1.0, 5.0, "b")])] == ["a"]
    assert [s.text for s in cut_overlaps([seg(0.0, 3.0, "a"), seg(0.0, 5.0, "b")])] == ["b"]


def test_written_cues_lose_wordless_ones_and_are_rounded_to_milliseconds():
    cues = [Segment(1.00049, 2.0006, "a", ("a",)), Segment(0.5, 0.9, "...", ())]
    assert [(s.start, s.end) for s in as_written(cues)] == [(1.0, 2.001)]


# --- SODA -------------------------------------------------------------------------------------

def test_alignment_prefers_the_diagonal_on_ties_and_pairs_zero_similarity_cells():
    assert alignment_pairs([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]) == [(1, 0), (2, 1)]
    assert alignment_pairs([[0.1, 0.9], [0.8, 0.1]]) == [(0, 1)]  # one pair beats 0.1 + 0.1
    assert alignment_pairs([]) == []


def test_soda_m_is_f1_of_summed_matches_and_soda_t_counts_midpoints_under_ten_seconds():
    generations = [seg(0.0, 2.0), seg(20.0, 22.0), seg(40.0, 42.0)]
    references = [seg(9.0, 10.99), seg(30.0, 32.0)]  # midpoints 9.995 and 31.0
    result = soda(generations, references, [[0.5, 0.0], [0.0, 0.25], [0.0, 0.0]])
    assert [(i, j) for i, j, _ in result.pairs] == [(0, 0), (1, 1)]
    matched = 75.0
    p, r = matched / 3, matched / 2
    assert result.soda_m == pytest.approx(2 * p * r / (p + r))
    # pair 0: |9.995 - 1.0| = 8.995 < 10 hits; pair 1: |31 - 21| = 10.0 is not < 10
    assert result.soda_t == pytest.approx(50.0)


def test_soda_without_generations_is_zero():
    result = soda([], [seg(0.0, 1.0)], [])
    assert (result.soda_m, result.soda_t) == (0.0, 0.0)


# --- aggregation and the whole pipeline ------------------------------------------------------------

def test_scores_average_per_item_then_per_movie_then_over_movies():
    scores = item_means([("A", "1", 10.0), ("A", "1", 20.0), ("A", "2", 5.0), ("B", "1", 60.0)])
    assert scores == {"A": {"1": 15.0, "2": 5.0}, "B": {"1": 60.0}}
    assert over_movies(scores) == pytest.approx((10.0 + 60.0) / 2)
    assert over_movies({}) is None


def test_one_reference_against_two():
    ref1 = [seg(1.0, 3.0, "anna opens the door"), seg(12.0, 14.0, "tom sits down")]
    ref2 = [seg(1.0, 3.0, "a man runs"), seg(12.0, 14.0, "a woman smiles")]
    cues = {"f": [seg(1.0, 3.0, "Anna opens the door."), seg(12.0, 14.0, "Tom sits down.")]}

    def scores(references):
        unit = film(references, dialogue=[(10.0, 11.0)], end=15.0)
        return score_set([unit], cues, whitespace_tokenize, unigram_f1).variants["raw"]

    one, two, worse = scores([ref1]), scores([ref2, ref1]), scores([ref2])
    assert one.scores["METEOR"] == pytest.approx(100.0) == two.scores["METEOR"]  # max over references
    assert one.scores["SODA-M"] == pytest.approx(100.0) == two.scores["SODA-M"]
    assert worse.scores["METEOR"] == 0.0
    # CIDEr averages over all references of a gap, so a second, different one lowers it
    assert two.scores["CIDEr"] < one.scores["CIDEr"]


def test_cider_averages_only_gaps_under_twenty_seconds_but_scores_all():
    # gaps 0-19.99 (kept for CIDEr) and 21-41 (exactly 20 s: METEOR only)
    unit = film([[seg(1.0, 3.0, "anna opens the door"), seg(25.0, 27.0, "tom sits down")]],
                dialogue=[(19.99, 21.0)], end=41.0)
    cues = {"f": [seg(25.0, 27.0, "tom sits down")]}  # nothing said in the short gap
    raw = score_set([unit], cues, whitespace_tokenize, unigram_f1).variants["raw"]
    assert raw.scored_gaps == 2 and raw.cider_gaps == 1
    assert raw.scores["CIDEr"] == 0.0  # the long, perfect gap is not in CIDEr's average
    assert raw.scores["METEOR"] == pytest.approx(50.0)  # (0 + 100) / 2


def test_gap_cider_is_pycocoevalcaps_cider_over_the_whole_set_x100():
    from pycocoevalcap.cider.cider import Cider

    records = [GapRecord("m", "i", 0, 1, "a b c", ("a b c", "")), GapRecord("m", "i", 2, 3, "", ("d e", "f"))]
    _, expected = Cider().compute_score({0: ["a b c", ""], 1: ["d e", "f"]}, {0: ["a b c"], 1: [""]})
    assert cider_scores(records) == pytest.approx([100.0 * float(s) for s in expected])


def test_realistic_variant_drops_what_the_filter_drops_and_says_why():
    unit = film([[seg(1.0, 4.0, "anna opens the door")]], dialogue=[(10.0, 20.0)], end=30.0)
    cues = {"f": [seg(1.0, 4.0, "Anna opens the door."), seg(2.0, 5.0, "Anna opens the door."),
                  seg(12.0, 14.0, "Tom talks.")]}
    result = score_set([unit], cues, whitespace_tokenize, unigram_f1)
    raw, realistic = result.variants["raw"], result.variants["realistic"]
    assert raw.cues == 3 and realistic.cues == 1
    assert [(d.index, d.reason) for _, d in realistic.dropped] == [(1, "overlap"), (2, "dialogue")]
    assert raw.shortened == 2  # the first two cues were cut at their overlap's midpoint (3.0 s)
    assert realistic.scores["SODA-M"] > raw.scores["SODA-M"]


def test_no_cues_scores_zero_and_uncovered_gaps_score_nothing():
    unit = film([[seg(1.0, 4.0, "anna opens the door")]], dialogue=[(10.0, 20.0)], end=30.0)
    raw = score_set([unit], {"f": []}, whitespace_tokenize, unigram_f1).variants["raw"]
    assert raw.scores == {"CIDEr": 0.0, "METEOR": 0.0, "SODA-M": 0.0, "SODA-T": 0.0}
    empty = film([[], []], end=30.0)
    raw = score_set([empty], {"f": [seg(1.0, 2.0, "a")]}, whitespace_tokenize, unigram_f1).variants["raw"]
    assert raw.scores == {"CIDEr": None, "METEOR": None, "SODA-M": None, "SODA-T": None}


# --- significance ---------------------------------------------------------------------------

def test_paired_permutation_p_value_approaches_the_exact_one():
    x = {"A": {"1": 10.0, "2": 12.0}, "B": {"1": 9.0}}
    y = {"A": {"1": 4.0, "2": 11.0}, "B": {"1": 1.0}}
    weights = np.array([0.25, 0.25, 0.5])
    xs, ys = np.array([10.0, 12.0, 9.0]), np.array([4.0, 11.0, 1.0])
    observed = abs((xs - ys) @ weights)
    extreme = [abs(((np.where(f, ys, xs) - np.where(f, xs, ys)) @ weights)) >= observed - 1e-12
               for f in (np.array(bits, bool) for bits in itertools.product([0, 1], repeat=3))]
    exact = sum(extreme) / 8
    assert paired_p_value(x, y) == pytest.approx(exact, abs=0.02)
    result = permutation_test(x, y)
    assert result.paired and result.difference == pytest.approx(observed)
    assert permutation_test(x, x).p_value == 1.0


def test_different_movies_take_the_unpaired_test():
    x = {"A": {"1": 50.0, "2": 52.0, "3": 51.0}}
    y = {"B": {"1": 1.0, "2": 2.0, "3": 0.0}}
    result = permutation_test(x, y, rounds=2000)
    assert not result.paired and result.p_value < 0.2


def test_skipping_soda_asks_meteor_only_for_the_gaps():
    from uniad.eval.timed.pipeline import TimedSettings

    asked = []

    def counting(requests):
        asked.extend(requests)
        return unigram_f1(requests)

    unit = film([[seg(1.0, 3.0, "anna opens the door"), seg(5.0, 7.0, "tom sits")]], end=15.0)
    cues = {"f": [seg(1.0, 3.0, "Anna opens the door."), seg(5.0, 7.0, "Tom sits.")]}
    raw = score_set([unit], cues, whitespace_tokenize, counting, TimedSettings(soda=False)).variants["raw"]
    assert raw.scores["SODA-M"] is None and raw.scores["METEOR"] == pytest.approx(100.0)
    assert asked == [("anna opens the door tom sits", ("anna opens the door tom sits",))]
