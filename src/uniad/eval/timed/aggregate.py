"""REFRAMED's averaging: scores per item, the mean per movie, then the mean over movies.

``ItemScores`` maps movie -> item -> score. A movie with no scored item (e.g. no gap short
enough for CIDEr) is absent, not zero; an item absent from a metric is not averaged in.
"""

from __future__ import annotations

from collections.abc import Iterable

ItemScores = dict[str, dict[str, float]]


def mean(values: Iterable[float]) -> float:
    values = list(values)
    if not values:
        raise ValueError("mean of nothing")
    return sum(values) / float(len(values))


def item_means(scores: Iterable[tuple[str, str, float]]) -> ItemScores:
    """Per (movie, item), the mean of its gap scores, keeping first-seen order."""
    collected: dict[tuple[str, str], list[float]] = {}
    for movie, item, score in scores:
        collected.setdefault((movie, item), []).append(score)
    out: ItemScores = {}
    for (movie, item), values in collected.items():
        out.setdefault(movie, {})[item] = mean(values)
    return out


def movie_means(scores: ItemScores) -> dict[str, float]:
    return {movie: mean(items.values()) for movie, items in scores.items()}


def over_movies(scores: ItemScores) -> float | None:
    """The mean over movies of each movie's mean over items; None when nothing was scored."""
    return mean(movie_means(scores).values()) if scores else None
