"""Recall@k/N windowing on hand-built similarity matrices, and the similarity plugs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from uniad.eval import recall, similarity
from uniad.errors import UniADError


def test_windows_follow_the_release_and_cover_short_movies():
    # n = 9, N = 4: stride 2, windows while they fit; sentence 8 is never scored
    assert recall.window_starts(9, 4) == [(0, 4), (2, 6), (4, 8)]
    # N odd: stride N // 2 = 2
    assert recall.window_starts(7, 5) == [(0, 5), (2, 7)]
    assert recall.window_starts(8, 5) == [(0, 5), (2, 7)]
    # n < N: one window of the whole movie; n == N: exactly one full window
    assert recall.window_starts(3, 16) == [(0, 3)]
    assert recall.window_starts(16, 16) == [(0, 16)]
    assert recall.window_starts(0, 16) == []
    with pytest.raises(UniADError):
        recall.window_starts(5, 0)


def test_ties_never_help():
    constant = np.ones((4, 4))
    # every own reference ties with 3 others: rank 4, a hit only when k covers the window
    assert recall.recall_from_matrix(constant, (1, 3, 4), 4) == {1: 0.0, 3: 0.0, 4: 1.0}
    tie_one = np.eye(3)
    tie_one[0, 1] = 1.0  # row 0: own ref ties with ref 1 -> rank 2
    assert recall.window_hits(tie_one, 1).tolist() == [0.0, 1.0, 1.0]
    assert recall.window_hits(tie_one, 2).tolist() == [1.0, 1.0, 1.0]


def test_short_movie_and_odd_window_hand_worked():
    # 3 sentences, N = 16 -> one window of 3; row 2 prefers ref 0: R@1 = 2/3, R@2 = 1
    sim = np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.7, 0.2, 0.5]])
    assert recall.recall_from_matrix(sim, (1, 2), 16) == pytest.approx({1: 2 / 3, 2: 1.0})
    # 7 sentences, N = 5 (stride 2): windows [0,5) and [2,7); row 3 prefers ref 6, which only
    # window 2 contains, so window 1 scores 5/5 and window 2 4/5 -> R@1 = 0.9
    sim = np.eye(7)
    sim[3, 6] = 2.0
    assert recall.recall_from_matrix(sim, (1,), 5)[1] == pytest.approx(0.9)


def autoad2_like_matrix() -> np.ndarray:
    """9 pairs, N = 4, built to give AutoAD-II's worked example (R@1/4 0.667, R@3/4 0.917).

    Not the paper's BERTScore values (those need roberta-large): a matrix derived by hand
    with the same window outcome. Windows [0,4) [2,6) [4,8): row 1 ranks its ref 2nd (col 0,
    window 1 only); row 2 ranks 2nd in window 2 (col 5) but 1st in window 1; row 6 ranks 2nd
    and row 7 4th (window 3 only); row 8 is outside every window, so its miss is not counted.
    """
    sim = np.eye(9)
    sim[1, 0] = sim[2, 5] = sim[6, 7] = 2.0
    sim[7, 4] = sim[7, 5] = sim[7, 6] = 2.0
    sim[8, 0] = 5.0
    return sim


def test_autoad2_worked_example_windowing():
    got = recall.recall_from_matrix(autoad2_like_matrix(), (1, 3), 4)
    assert round(got[1], 3) == 0.667 and round(got[3], 3) == 0.917


class _MatrixSimilarity:
    """Returns a fixed matrix per movie and counts calls (one per movie, never per sentence)."""

    name = "fixed"

    def __init__(self, matrices: list[np.ndarray]) -> None:
        self.matrices, self.calls = list(matrices), 0

    def matrix(self, generated, references):
        self.calls += 1
        assert len(generated) == len(references)
        return self.matrices.pop(0)


def test_recall_averages_movies_equally_with_one_call_per_movie():
    ids_a = [f"a#{n}" for n in range(9)]
    ids_b = [f"b#{n}" for n in range(2)]
    preds = {i: f"p {i}" for i in ids_a + ids_b}
    refs = {i: [f"r {i}"] for i in ids_a + ids_b}
    sim = _MatrixSimilarity([autoad2_like_matrix(), np.array([[0.0, 1.0], [0.0, 1.0]])])
    result = recall.recall_at_k(preds, refs, {"a": ids_a, "b": ids_b}, sim, ks=(1,), window=4)
    assert sim.calls == 2
    # movie a: 2/3; movie b (short, one window): row 0 misses, row 1 hits -> 1/2
    assert result.scores["R@1/4"] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert (result.movies, result.short_movies) == (2, 1)


def test_lexical_similarity_prefers_the_matching_sentence():
    refs = ["Rachel opens the door.", "Ross sits on the couch.", "Monica pours coffee."]
    gen = ["Monica pours the coffee.", "Rachel opens a door.", "Ross sits down."]
    sim = similarity.LexicalSimilarity().matrix(gen, refs)
    assert sim.shape == (3, 3)
    assert sim.argmax(axis=1).tolist() == [2, 0, 1]


def test_embedded_minilm_similarity_offline():
    """The embedded default (scripts/setup.sh installs its wheel): no skip when it is missing,
    the test fails with the install hint."""
    folder = similarity.embedded_minilm_folder()
    import torch

    torch.set_num_threads(1)
    sim = similarity.EmbeddingSimilarity(folder)
    m = sim.matrix(["A man opens the door.", "Rain falls on the city."],
                   ["Rain pours down over the town.", "He opens a door."])
    assert m.shape == (2, 2)
    assert m[0, 1] > m[0, 0] and m[1, 0] > m[1, 1]
    assert "all-MiniLM" in sim.name or folder.name in sim.name


def test_unknown_similarity_and_missing_bertscore_are_clear(monkeypatch):
    with pytest.raises(UniADError, match="unknown similarity"):
        similarity.make_similarity("cosine-of-vibes")
    monkeypatch.delenv("UNIAD_BERTSCORE_MODEL", raising=False)
    with pytest.raises(UniADError, match="bert_score|UNIAD_BERTSCORE_MODEL"):
        similarity.make_similarity("bertscore")


BERTSCORE_MODEL = os.environ.get("UNIAD_BERTSCORE_MODEL")


@pytest.mark.skipif(
    not (BERTSCORE_MODEL and os.path.isdir(BERTSCORE_MODEL)), reason=similarity.BERTSCORE_MISSING
)
def test_bertscore_similarity_ranks_paraphrases_first():
    # The paper's 9 sentence pairs are not published with the example, so with weights we
    # check the BERTScore plug itself (batched matrix, own paraphrase ranked first).
    sim = similarity.BertScoreSimilarity(BERTSCORE_MODEL)
    m = sim.matrix(["He opens the door.", "Rain falls on the city."],
                   ["Rain pours down over the town.", "He opens a door."])
    assert m.shape == (2, 2) and m[0, 1] > m[0, 0] and m[1, 0] > m[1, 1]
