"""The unit every timed metric works on: a timed piece of text, and its PTB tokens.

REFRAMED normalises whitespace in every text it reads (``" ".join(text.split())``) and
scores PTB tokens (pycocoevalcap's Java tokenizer, lower-cased, punctuation removed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Segment:
    """``start``/``end`` in seconds, the normalised ``text`` and, once tokenized, its tokens."""

    start: float
    end: float
    text: str
    tokens: tuple[str, ...] = ()

    @property
    def midpoint(self) -> float:
        return (self.start + self.end) / 2.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    def with_times(self, start: float, end: float) -> Segment:
        return replace(self, start=start, end=end)


def normalize_text(text: str) -> str:
    """Whitespace collapsed to single spaces, as REFRAMED reads every text."""
    return " ".join(text.split())


def joined_tokens(segment: Segment) -> str:
    """The string pycocoevalcap's scorers see for one segment."""
    return " ".join(segment.tokens)
