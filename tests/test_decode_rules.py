"""The two beam-search rule sets of ``uniad.model.decode``, pinned on hand-made score tables.

A table model returns, for each row's generated prefix, log-probabilities written out here;
each test sets up a situation where one rule decides the output (or when the search stops)
and would give another result if the rule were different.
"""

from __future__ import annotations

import math

import pytest
import torch

from uniad.model.decode import DecodeSettings, HeapHypotheses, bucket_by_length, decode

V, BOS, EOS = 64, 1, 2
A, B, C, D, E = 3, 4, 5, 6, 7


class TableModel:
    """``table[prefix] = {token: probability}``; the rest of the mass is spread evenly over
    the other tokens (a prefix not in the table is uniform)."""

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]], batch: int = 1) -> None:
        self.table = table
        self.rows: list[tuple[int, ...]] = [()] * batch
        self.calls = 0

    def logits(self) -> torch.Tensor:
        out = torch.empty(len(self.rows), V)
        for i, prefix in enumerate(self.rows):
            probs = self.table.get(prefix, {})
            out[i] = math.log(max(1e-9, 1.0 - sum(probs.values())) / (V - len(probs)))
            for token, p in probs.items():
                out[i, token] = math.log(p)
        return out

    def advance(self, parents: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.rows = [self.rows[p] + (t,) for p, t in zip(parents.tolist(), tokens.tolist())]
        return self.logits()


def run(table, rules, num_beams=2, max_new=3, penalty=1.0, ngram=0, batch=1):
    model = TableModel(table, batch)
    settings = DecodeSettings(num_beams=num_beams, max_new_tokens=max_new, repetition_penalty=penalty,
                              no_repeat_ngram_size=ngram, eos_id=EOS, bos_id=BOS, rules=rules)
    return decode(model, model.logits(), settings), model


def test_hf432_penalises_the_bos_seed_from_the_first_step():
    """4.32.1 seeds input_ids with BOS when generating from embeddings only, so the
    repetition penalty lowers BOS at step 1; transformers 5 has no seed."""
    table = {(): {BOS: 0.36, A: 0.34}, (BOS,): {EOS: 0.9}, (A,): {EOS: 0.9}}
    assert run(table, "hf432", num_beams=1, penalty=1.2)[0] == [[A]]
    assert run(table, "standard", num_beams=1, penalty=1.2)[0] == [[BOS]]


def test_length_limit_normalisation_counts_the_seed_under_hf432():
    """At the limit 4.32.1 adds every running beam with length seed + new tokens;
    transformers 5 divides by the new tokens only. Here that decides between an early EOS
    hypothesis (A EOS) and the beam that ran to the limit (A C)."""
    # A EOS: log(.9) + log(.33) = -1.214, / 2 (both rules) = -0.607
    # A C:   log(.9) + log(.28) = -1.378, / 3 (hf432) = -0.459  vs / 2 (standard) = -0.689
    table = {(): {A: 0.9, B: 0.05}, (A,): {EOS: 0.33, C: 0.28, D: 0.2}, (B,): {D: 0.5}}
    assert run(table, "hf432", max_new=2)[0] == [[A, C]]
    assert run(table, "standard", max_new=2)[0] == [[A]]
    assert run(table, "hf446", max_new=2)[0] == [[A]]  # 4.46.3: no seed, A C / 2


def test_hf446_has_no_seed_for_the_penalties():
    table = {(): {BOS: 0.36, A: 0.34}, (BOS,): {EOS: 0.9}, (A,): {EOS: 0.9}}
    assert run(table, "hf446", num_beams=1, penalty=1.2)[0] == [[BOS]]
    assert run(table, "hf446", num_beams=2, penalty=1.2)[0] == run(table, "standard", num_beams=2, penalty=1.2)[0]


@pytest.mark.parametrize("rules", ["hf432", "standard"])
def test_eos_ranked_below_num_beams_is_not_a_hypothesis(rules):
    """EOS is third (rank 2 >= 2 beams) at step 1: ignored. Taken, its score log(.32) =
    -1.14 would beat both beams that reach the limit (A C: -4.99 / 3 under hf432)."""
    table = {(): {A: 0.34, B: 0.33, EOS: 0.32}, (A,): {C: 0.02}, (B,): {D: 0.02}}
    ids, _ = run(table, rules, max_new=2)
    assert ids == [[A, C]]


def test_hf432_is_done_uses_the_best_candidate_including_eos():
    """Step 2 adds A EOS (-1.49 / 2) and B EOS (-1.72 / 2). 4.32.1 compares the heap's worst
    (-0.86) with the best *candidate* of the step, here A EOS itself (-0.745): not done, one
    more step. transformers 5 compares with the best *running* beam (A C, -3.69 / 2): done."""
    table = {(): {A: 0.5, B: 0.45}, (A,): {EOS: 0.5, C: 0.05}, (B,): {EOS: 0.4, D: 0.05}}
    for rules in ("hf432", "hf446"):  # the same stopping rule in 4.32.1 and 4.46.3
        ids, model = run(table, rules, max_new=20)
        assert ids == [[A]] and model.calls == 2
    ids, model = run(table, "standard", max_new=20)
    assert ids == [[A]] and model.calls == 1


def test_hf432_heap_is_done_by_its_worst_score():
    hyps = HeapHypotheses(num_beams=2)
    hyps.add([A], -1.0, 2)
    hyps.add([B], -1.2, 2)
    assert hyps.worst_score == pytest.approx(-0.6)
    assert not hyps.is_done(best_sum_logprobs=-1.0, cur_len=2)  # -0.5 could still beat -0.6
    assert hyps.is_done(best_sum_logprobs=-1.3, cur_len=2)


def test_hf432_heap_keeps_the_best_and_breaks_ties_by_insertion():
    hyps = HeapHypotheses(num_beams=2)
    hyps.add([A], -2.0, 2)   # -1.0
    hyps.add([B], -1.0, 2)   # -0.5
    hyps.add([C], -3.0, 2)   # -1.5: worse than the worst kept, not added
    assert [t for _, t in hyps.beams] == [[A], [B]]
    hyps.add([D], -1.0, 2)   # -0.5 beats -1.0: A goes, the new worst is -0.5
    assert [t for _, t in hyps.beams] == [[B], [D]] and hyps.worst_score == -0.5
    assert hyps.best() == [D]  # equal scores: the later one (4.32.1 pops a stable sort)


@pytest.mark.parametrize("rules", ["hf432", "standard"])
def test_repetition_penalty_acts_on_each_beams_own_history(rules):
    """Beam B...: B is penalised only in its own beam, so the beam that saw A continues
    with B and the beam that saw B switches to C (greedy over two beams)."""
    table = {(): {A: 0.5, B: 0.45}, (A,): {B: 0.6, C: 0.3}, (B,): {B: 0.6, C: 0.55},
             (A, B): {EOS: 0.99}, (B, C): {EOS: 0.99}, (B, B): {EOS: 0.99}}
    ids, model = run(table, rules, max_new=3, penalty=3.0)
    # with the penalty B->B (log .6 * 3 = -1.53) loses to B->C (-0.6); A->B keeps -0.51
    assert ids == [[A, B]]
    paths = {row[:2] for row in model.rows}
    assert (B, C) in paths and (B, B) not in paths


@pytest.mark.parametrize("rules", ["hf432", "standard"])
def test_no_repeat_ngram_bans_only_within_a_beam(rules):
    """With 2-grams banned, A B A cannot continue with B in that beam (A B was seen)."""
    table = {(): {A: 0.9}, (A,): {B: 0.9}, (A, B): {A: 0.9}, (A, B, A): {B: 0.7, C: 0.2},
             (A, B, A, C): {EOS: 0.9}}
    ids, _ = run(table, rules, num_beams=1, max_new=6, ngram=2)
    assert ids == [[A, B, A, C]]


def test_hf432_ngram_ban_sees_the_seed():
    """Under hf432 the BOS seed is history: after a generated BOS the bigram (BOS, BOS) is
    already seen, so BOS is banned at step 2 and C follows; transformers 5 (no seed) allows
    BOS BOS, and bans BOS only after that."""
    table = {(): {BOS: 0.9}, (BOS,): {BOS: 0.8, C: 0.15}, (BOS, BOS): {BOS: 0.5, A: 0.4},
             (BOS, C): {EOS: 0.9}, (BOS, BOS, A): {EOS: 0.9}}
    assert run(table, "standard", num_beams=1, max_new=4, ngram=2)[0] == [[BOS, BOS, A]]
    assert run(table, "hf432", num_beams=1, max_new=4, ngram=2)[0] == [[BOS, C]]


def test_samples_in_one_batch_decode_independently():
    """A batch of two with different tables per prefix: finished samples leave the batch
    and the other goes on, each giving what it gives alone."""
    table = {(): {A: 0.6, B: 0.3}, (A,): {EOS: 0.9}, (B,): {EOS: 0.9}}
    alone, _ = run(table, "hf432", batch=1)
    together, _ = run(table, "hf432", batch=2)
    assert together == alone * 2


def test_bucketing_groups_similar_lengths_and_keeps_every_index():
    groups = bucket_by_length([50, 10, 52, 11, 30], batch_size=2)
    assert groups == [[1, 3], [4, 0], [2]]
    assert sorted(i for g in groups for i in g) == list(range(5))


@pytest.mark.parametrize("rules", ["hf432", "standard"])
def test_banned_sequences_are_never_completed(rules):
    """The repeat guard's ban (transformers' bad_words_ids): A B is banned, so after A the
    search takes C although B is likelier."""
    table = {(): {A: 0.9}, (A,): {B: 0.6, C: 0.3}, (A, B): {EOS: 0.9}, (A, C): {EOS: 0.9}}
    model = TableModel(table)
    settings = DecodeSettings(num_beams=2, max_new_tokens=4, repetition_penalty=1.0, no_repeat_ngram_size=0,
                              eos_id=EOS, bos_id=BOS, rules=rules, banned=((A, B),))
    assert decode(model, model.logits(), settings) == [[A, C]]
    assert run(table, rules, max_new=4)[0] == [[A, B]]
