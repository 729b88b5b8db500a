"""REFRAMED's permutation tests between two systems' item scores (``significance_testing``).

The statistic is |aggregate(x) - aggregate(y)| with aggregate the mean over movies of
the mean over items, written as a weighted sum (weight 1 / (#movies x #items of the movie)).
When both systems have the same movies (in the same order) the test is paired: each
round swaps x and y per item where a standard normal draw is > 0. Otherwise the pooled
item scores are permuted. ``rounds`` random rounds from ``numpy.random.RandomState(seed)``
(REFRAMED: 10,000 rounds, seed 2026); p = the share of rounds at least as extreme
(greater, or equal by ``numpy.isclose``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uniad.eval.timed.aggregate import ItemScores, over_movies

ROUNDS = 10_000
SEED = 2026
ALPHA = 0.05


@dataclass(frozen=True)
class TestResult:
    p_value: float
    paired: bool
    difference: float  # aggregate(x) - aggregate(y)


def _weights(scores: ItemScores) -> np.ndarray:
    return np.array([1.0 / (len(scores) * len(items)) for items in scores.values() for _ in items])


def _values(scores: ItemScores) -> np.ndarray:
    return np.array([v for items in scores.values() for v in items.values()], dtype=float)


def _p(diffs: np.ndarray, reference: float) -> float:
    return float(np.mean((diffs > reference) | np.isclose(diffs, reference)))


def paired_p_value(x: ItemScores, y: ItemScores, rounds: int = ROUNDS, seed: int = SEED) -> float:
    if list(x) != list(y) or any(list(x[m]) != list(y[m]) for m in x):
        raise ValueError("a paired test needs the same movies and items in both systems")
    rng = np.random.RandomState(seed)
    xv, yv, weights = _values(x), _values(y), _weights(x)
    reference = abs((xv - yv) @ weights)
    flips = rng.randn(rounds, len(xv)) > 0.0
    diffs = np.abs((np.where(flips, yv, xv) - np.where(flips, xv, yv)) @ weights)
    return _p(diffs, reference)


def unpaired_p_value(x: ItemScores, y: ItemScores, rounds: int = ROUNDS, seed: int = SEED) -> float:
    rng = np.random.RandomState(seed)
    pooled = np.concatenate((_values(x), _values(y)))
    weights = np.concatenate((_weights(x), -_weights(y)))
    reference = abs(pooled @ weights)
    shuffled = np.stack([rng.permutation(pooled) for _ in range(rounds)])
    return _p(np.abs(shuffled @ weights), reference)


def permutation_test(x: ItemScores, y: ItemScores, rounds: int = ROUNDS, seed: int = SEED) -> TestResult:
    """Paired when the movie lists match (REFRAMED's rule), else unpaired."""
    if not x or not y:
        raise ValueError("both systems need scored items")
    paired = list(x) == list(y)
    p = paired_p_value(x, y, rounds, seed) if paired else unpaired_p_value(x, y, rounds, seed)
    return TestResult(p, paired, over_movies(x) - over_movies(y))
