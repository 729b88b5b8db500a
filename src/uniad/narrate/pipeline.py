"""The seam between narration and the model: a :class:`Describer` and its :class:`Description`.

The model is reached through one callable so that narration (gaps, timing, speech,
deliverables: :mod:`plan`, :mod:`deliver`) needs no torch and tests drive it with a stub;
``uniad narrate`` wraps UniAD's generate in a describer that reads the slot's frames from
the feature store and the cast from the bank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from uniad.narrate.slots import Slot
from uniad.narrate.tracks import NarratedAD



@dataclass(frozen=True)
class Description:
    """What a describer says about one slot."""

    text: str
    characters: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)  # scores, beam, ...


class Describer(Protocol):
    """Describe ``slot`` in at most ``max_words`` words (a request: the model may exceed it).
    ``previous`` holds the ADs narrated so far, oldest first (UniAD's context). An empty
    ``text`` is a SKIP (nothing worth saying). A describer may also accept the optional
    keywords ``avoid`` (texts it must not repeat word for word, passed when the repeat
    guard of :func:`uniad.narrate.plan.ask` re-asks) and ``dialogue`` (the subtitle lines
    within 25 s of the slot); they are passed only to describers whose signature has them."""

    def __call__(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD]) -> Description:
        ...
