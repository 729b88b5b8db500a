"""Recall@k/N (AutoAD-II): does each generated AD find its own reference among neighbours?

Per movie, a ``[n, n]`` similarity matrix pairs the generated ADs (rows) with the reference
ADs (columns), both in time order. Windows of N neighbouring ADs are cut along the
diagonal; inside a window, generated AD i is a hit when its own reference i ranks in the
top k of the window's references. Hits are averaged per window, windows per movie, then
movies (each movie weighs the same, as in the release).

Window placement (the release's, made total):
- stride = max(1, N // 2) (N odd: N = 5 gives stride 2); windows start at 0, stride, ...
  while start + N <= n. As in the release, sentences after the last full window are not
  revisited (n = 9, N = 4: windows [0,4), [2,6), [4,8); sentence 8 is never scored).
- a movie with n < N sentences gets one window of all n sentences (the release crashed);
  the result counts such movies (``short_movies``) so a report can say so.
Ties: pessimistic. The rank of the own reference is 1 + the number of *other* references
in the window with similarity >= its own, so a tie never helps (a constant matrix scores
0, not 1, unless k covers the whole window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uniad.eval.similarity import SentenceSimilarity
from uniad.errors import UniADError


def window_starts(n: int, window: int) -> list[tuple[int, int]]:
    """(start, end) of each window for a movie of n sentences (see module docstring)."""
    if window < 1:
        raise UniADError(f"Recall window N must be >= 1, got {window}")
    if n < window:
        return [(0, n)] if n else []
    stride = max(1, window // 2)
    return [(s, s + window) for s in range(0, n - window + 1, stride)]


def window_hits(sim: np.ndarray, k: int) -> np.ndarray:
    """Per row of a square window: 1.0 when the diagonal entry ranks in the row's top k."""
    own = np.diag(sim)[:, None]
    at_least = (sim >= own).sum(axis=1) - 1  # others tying or beating the own reference
    return (at_least < k).astype(float)


def recall_from_matrix(sim: np.ndarray, ks: tuple[int, ...], window: int) -> dict[int, float]:
    """Recall@k/N of one movie from its similarity matrix: mean over its windows."""
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise UniADError(f"Recall needs a square [n_gen, n_gt] matrix, got {sim.shape}")
    spans = window_starts(sim.shape[0], window)
    return {
        k: float(np.mean([window_hits(sim[a:b, a:b], k).mean() for a, b in spans]))
        for k in ks
    }


@dataclass
class RecallResult:
    scores: dict[str, float]
    movies: int
    short_movies: int
    similarity: str


def recall_at_k(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    groups: dict[str, list[str]],
    similarity: SentenceSimilarity,
    ks: tuple[int, ...] = (1, 5),
    window: int = 16,
) -> RecallResult:
    """Recall@k/N in percent, averaged over movies (``groups``: movie -> ids in time order).

    Each id's first reference is its ground truth (Recall pairs one reference per AD).
    """
    per_movie: list[dict[int, float]] = []
    short = 0
    for movie, ids in groups.items():
        ids = [i for i in ids if i in predictions]
        if not ids:
            continue
        sim = np.asarray(similarity.matrix([predictions[i] for i in ids],
                                           [references[i][0] for i in ids]), dtype=float)
        short += len(ids) < window
        per_movie.append(recall_from_matrix(sim, ks, window))
    if not per_movie:
        raise UniADError("Recall@k/N: no movie has predictions to score")
    scores = {f"R@{k}/{window}": 100.0 * float(np.mean([m[k] for m in per_movie])) for k in ks}
    return RecallResult(scores, len(per_movie), short, similarity.name)
