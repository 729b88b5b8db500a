"""Realistic AD timing: word counts, words per minute and the REFRAMED rule.

The rule used to score AD systems (REFRAMED, 2026): a description counts only if it lies
inside a dialogue gap (with a 1 s collar), needs fewer than 300 words per minute (words =
PTB tokens of its text, punctuation included, over the cue's duration) and starts after
the previous one ends. Narration plans every cue well inside it (180 WPM by default, no
collar used) and :func:`check_cues` measures it on the result. :func:`fit_text` is the
last-resort shortening of an AD to its word budget (the pipeline first asks the model for a
shorter sentence; cutting text is the fallback).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from uniad.narrate.core import Interval
from uniad.text import ptb_tokens


RULE_MAX_WPM = 300.0  # the rule: strictly fewer words per minute than this
RULE_COLLAR_S = 1.0


def word_count(text: str) -> int:
    """Words as the rule counts them: PTB tokens, punctuation included."""
    return len(ptb_tokens(text))


def cut_to_budget(text: str, budget: int) -> str:
    """``text`` shortened (at a sentence, clause or word) until its PTB tokens fit."""
    whole = text = " ".join(text.split())
    words = len(text.split())
    while text and word_count(text) > budget:
        words -= 1
        text = fit_text(text, words) if words > 0 else ""
    if whole and not text:  # one "word" of many tokens (symbols): keep its first tokens
        text = " ".join(ptb_tokens(whole)[:budget])
    return text


def wpm(text: str, duration: float) -> float:
    """Words per minute of ``text`` read over ``duration`` seconds."""
    return word_count(text) * 60.0 / duration if duration > 0 else math.inf


def word_budget(duration: float, plan_wpm: float) -> int:
    """The most words (PTB tokens) a ``duration``-second gap holds at ``plan_wpm``."""
    return max(0, math.floor(duration * plan_wpm / 60.0 + 1e-9))


def cue_duration(text: str, plan_wpm: float, spoken_s: float = 0.0) -> float:
    """How long a cue lasts: the time its words take at ``plan_wpm`` or the time its speech
    takes, whichever is longer (a cue shows while it is heard)."""
    return max(word_count(text) * 60.0 / plan_wpm, spoken_s)


@dataclass(frozen=True)
class RuleCheck:
    """The realism rule applied to one cue."""

    in_gap: bool
    wpm: float
    after_previous: bool

    @property
    def passed(self) -> bool:
        return self.in_gap and self.wpm < RULE_MAX_WPM and self.after_previous


def _overlap(a: Interval, b: Interval) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def check_cues(
    cues: Sequence[tuple[float, float, str]],
    dialogue: Sequence[Interval],
    collar: float = RULE_COLLAR_S,
) -> list[RuleCheck]:
    """The rule for each ``(start, end, text)`` cue in time order: inside a gap of
    ``dialogue`` (each dialogue span shrunk by ``collar`` on both sides, the rule's
    tolerance), under 300 WPM, starting at or after the previous cue's end."""
    core = [(a + collar, b - collar) for a, b in dialogue if b - a > 2 * collar]
    checks: list[RuleCheck] = []
    previous_end = -math.inf
    for start, end, text in sorted(cues):
        checks.append(RuleCheck(
            in_gap=all(_overlap((start, end), span) == 0 for span in core),
            wpm=round(wpm(text, end - start), 1),
            after_previous=start >= previous_end - 1e-6,
        ))
        previous_end = end
    return checks


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=—|–|-\s)")


# Words a cut sentence must not end on: articles, possessives, prepositions, conjunctions.
_DANGLING = frozenset(
    "a an the his her their its my your our this that these those of to in on at by for "
    "with from into onto over under and or but as than who which while".split()
)


def _words(text: str) -> int:
    return len(text.split())


def _longest_prefix(pieces: list[str], max_words: int) -> str:
    """The most leading pieces that together fit ``max_words`` (empty if none does)."""
    kept: list[str] = []
    for piece in pieces:
        if _words(" ".join(kept + [piece])) > max_words:
            break
        kept.append(piece)
    return " ".join(kept)


def _close(text: str) -> str:
    """End a cut at a full stop: AD is read aloud, a dangling comma sounds broken."""
    text = text.rstrip(" ,;:—–-")
    return text if text.endswith((".", "!", "?")) else text + "."


def fit_text(text: str, max_words: int) -> str:
    """Shorten ``text`` to at most ``max_words`` words, cutting where a listener won't notice.

    Prefer whole sentences; else whole clauses of the first sentence (cut at , ; : or a
    dash); else the first ``max_words`` words. Cuts end with a full stop.
    """
    text = " ".join(text.split())
    if max_words <= 0:
        return ""
    if _words(text) <= max_words:
        return text
    sentences = _SENTENCE_END.split(text)
    kept = _longest_prefix(sentences, max_words)
    if kept:
        return kept
    kept = _longest_prefix(_CLAUSE_END.split(sentences[0]), max_words)
    if kept:
        return _close(kept)
    words = text.split()[:max_words]
    while len(words) > 1 and words[-1].lower().strip(",;:") in _DANGLING:
        words.pop()  # "Tom hangs up his." reads as broken; "Tom hangs up." does not
    return _close(" ".join(words))
