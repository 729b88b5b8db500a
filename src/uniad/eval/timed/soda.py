"""SODA-M and SODA-T of one item against one reference track (REFRAMED ``aligned``).

Generated and reference segments are aligned monotonically by dynamic programming on a
METEOR similarity matrix (``similarity[i][j]``, 0..1): the path maximises the summed
similarity; ties prefer the diagonal, then "up" (skip a generation), then "left". Every
diagonal step of the path is an aligned pair, even with similarity 0.

- SODA-M: with ``matched`` = 100 x the summed similarity of the pairs, precision =
  matched / #generations, recall = matched / #references, and SODA-M = their F1.
- SODA-T: the pairs whose midpoints are less than ``tolerance_s`` (10 s) apart, over the
  number of reference segments, x100.
Per item the score is the max over the reference tracks that have segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from uniad.eval.timed.segments import Segment

TOLERANCE_S = 10.0


@dataclass(frozen=True)
class SodaScore:
    soda_m: float
    soda_t: float
    pairs: tuple[tuple[int, int, float], ...]  # (generation, reference, METEOR x100)


def alignment_pairs(similarity: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """The (generation, reference) index pairs on the best monotone path."""
    n = len(similarity)
    m = len(similarity[0]) if n else 0
    scores = [[0.0] * (m + 1) for _ in range(n + 1)]
    moves = [[0] * (m + 1) for _ in range(n + 1)]  # 1 diagonal, 0 up, 2 left
    for i in range(1, n + 1):
        above, row, move, sim = scores[i - 1], scores[i], moves[i], similarity[i - 1]
        for j in range(1, m + 1):
            up = above[j]
            diagonal = above[j - 1] + sim[j - 1]
            left = row[j - 1]
            row[j] = max(up, diagonal, left)
            if diagonal >= up and diagonal >= left:
                move[j] = 1
            elif up >= left:
                move[j] = 0
            else:
                move[j] = 2
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:
        if moves[i][j] == 1:
            i, j = i - 1, j - 1
            pairs.append((i, j))
        elif moves[i][j] == 0:
            i -= 1
        else:
            j -= 1
    pairs.reverse()
    return pairs


def soda(generations: Sequence[Segment], references: Sequence[Segment],
         similarity: Sequence[Sequence[float]], tolerance_s: float = TOLERANCE_S) -> SodaScore:
    """SODA-M and SODA-T (both x100) of ``generations`` against one non-empty reference."""
    if not references:
        raise ValueError("SODA needs at least one reference segment")
    pairs = [(i, j, similarity[i][j] * 100.0) for i, j in alignment_pairs(similarity)]
    matched = sum(score for _, _, score in pairs)
    precision = matched / len(generations) if generations else 0.0
    recall = matched / len(references)
    soda_m = 2.0 * precision * recall / (precision + recall) if precision + recall > 0.0 else 0.0
    hits = sum(1.0 for i, j, _ in pairs
               if abs(references[j].midpoint - generations[i].midpoint) < tolerance_s)
    return SodaScore(soda_m, hits / len(references) * 100.0, tuple(pairs))
