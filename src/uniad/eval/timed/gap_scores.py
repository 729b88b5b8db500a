"""Gap CIDEr and gap METEOR (REFRAMED ``dialogue_gaps``).

Each dialogue gap of an item gets one record: the tokens of the generated segments inside
it (with the collar) and, per reference track, the tokens of that track's segments inside
it. A gap is scored when at least one reference text is non-empty; an empty generation
then scores 0.

- CIDEr: pycocoevalcap's ``Cider`` over every scored gap of the whole set at once (its IDF
  is the set's gaps, long ones included), each gap against all reference texts (an empty
  one counts as a reference), x100; only gaps shorter than ``cider_max_gap_s`` (20 s) are
  averaged.
- METEOR: per reference track with a non-empty text, pycocoevalcap's METEOR x100; the gap
  scores the max over them; every scored gap is averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CIDER_MAX_GAP_S = 20.0


@dataclass(frozen=True)
class GapRecord:
    movie: str
    item: str
    start: float
    end: float
    generation: str
    references: tuple[str, ...]

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def scored(self) -> bool:
        return any(r != "" for r in self.references)


def cider_scores(records: Sequence[GapRecord]) -> list[float]:
    """CIDEr x100 of each scored record, one pycocoevalcap call over all of them."""
    from pycocoevalcap.cider.cider import Cider

    if not records:
        return []
    references = {n: list(r.references) for n, r in enumerate(records)}
    generations = {n: [r.generation] for n, r in enumerate(records)}
    _, scores = Cider().compute_score(references, generations)
    return [float(s) * 100.0 for s in scores]


def meteor_requests(record: GapRecord) -> list[tuple[str, tuple[str, ...]]]:
    """One METEOR request per non-empty reference of a scored gap."""
    return [(record.generation, (r,)) for r in record.references if r != ""]


def gap_meteor(scores: Sequence[float]) -> float:
    """The gap's METEOR x100: the max over its references' scores (0..1 each)."""
    return max(scores) * 100.0
