"""Character-name and pronoun accuracy on the synthetic world, where the truth is known.

The synthetic world (:mod:`uniad.world.synthetic`) records for every AD who its subject is
and whether the reference refers to them by a pronoun (the previous AD named the same
character) or by name. That gives two checks no reference-overlap metric makes:

- **name accuracy**: of the references that name their subject, the share whose
  generated AD names the same character (whole-word match of the short name, via
  :func:`uniad.eval.characters.names_in`);
- **pronoun accuracy**: of the references that use a pronoun, the share whose generated
  AD uses the right subject pronoun (she/he by the subject's gender), no pronoun of the
  other gender, and does not name the subject instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from uniad.world.synthetic import EventTruth
from uniad.eval.characters import names_in

PRONOUNS = {"female": "she", "male": "he"}
_PRONOUN_WORD = re.compile(r"\b(she|he)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Judgement:
    """One prediction checked against its event's truth."""

    kind: str  # "name" (the reference names the subject) or "pronoun"
    correct: bool


def judge(prediction: str, truth: EventTruth) -> Judgement:
    """Whether ``prediction`` refers to the subject the way the reference does."""
    named = bool(names_in(prediction, [truth.subject_name]))
    if not truth.uses_pronoun:
        return Judgement("name", named)
    used = {m.lower() for m in _PRONOUN_WORD.findall(prediction)}
    right = PRONOUNS.get(truth.gender)
    return Judgement("pronoun", right is not None and used == {right} and not named)


def judge_all(
    predictions: Mapping[str, str], truth: Mapping[str, EventTruth]
) -> dict[str, Judgement]:
    """Judgements for the predicted uids that have truth (others say nothing)."""
    return {uid: judge(text, truth[uid]) for uid, text in predictions.items() if uid in truth}


def accuracy(judgements: Iterable[Judgement]) -> dict[str, float | int]:
    """``NameAcc`` / ``PronounAcc`` in percent (NaN-free: a kind without events is left
    out) plus the event counts behind each, ``NameAcc n`` / ``PronounAcc n``."""
    tallies: dict[str, list[int]] = {"name": [0, 0], "pronoun": [0, 0]}
    for j in judgements:
        tallies[j.kind][0] += j.correct
        tallies[j.kind][1] += 1
    out: dict[str, float | int] = {}
    for kind, label in (("name", "NameAcc"), ("pronoun", "PronounAcc")):
        hits, n = tallies[kind]
        if n:
            out[label] = 100.0 * hits / n
        out[f"{label} n"] = n
    return out


class WorldScorer:
    """Name and pronoun accuracy as an extra scorer for :func:`uniad.eval.evaluate.evaluate`
    (which knows nothing of the world: the world brings its own truth)."""

    labels = ("NameAcc", "PronounAcc")
    note = "NameAcc/PronounAcc: synthetic-world truth (name and pronoun of each AD's subject)"

    def __init__(self, truth: Mapping[str, EventTruth]) -> None:
        self.truth = truth

    def judge(self, predictions: Mapping[str, str]) -> dict[str, Judgement]:
        return judge_all(predictions, self.truth)

    def summarise(self, judgements: Iterable[Judgement]) -> dict[str, float | int]:
        return accuracy(judgements)


def synthetic_accuracy(
    predictions: Mapping[str, str], truth: Mapping[str, EventTruth]
) -> dict[str, float | int]:
    """:func:`accuracy` over every predicted uid the world has truth for."""
    return accuracy(judge_all(predictions, truth).values())
