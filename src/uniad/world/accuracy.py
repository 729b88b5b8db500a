"""Character-name and pronoun accuracy on the synthetic world, where the truth is known.

The synthetic world (:mod:`uniad.world.synthetic`) records for every AD who its subject is
and whether the reference refers to them by a pronoun (the previous AD named the same
character) or by name. That gives two checks no reference-overlap metric makes:

- **name accuracy**: of the references that name their subject, the share whose
  generated AD names the same character (whole-word match of the short name, via
  :func:`uniad.eval.characters.names_in`);
- **pronoun accuracy**: of the references that use a pronoun, the share whose generated
  AD uses the right subject pronoun (she/he by the subject's gender), no pronoun of the
  other gender, and does not name the subject instead;
- **action and object accuracy**: the share of ADs that say the event's action and its
  object (whole words), which only the frames tell.
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
    action: bool = False  # the AD says the event's action ("picks up")
    object: bool = False  # the AD says the event's object ("the box")


def says(prediction: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``prediction`` as whole words (case-insensitive)."""
    return re.search(rf"\b{re.escape(phrase)}\b", prediction, re.IGNORECASE) is not None


def judge(prediction: str, truth: EventTruth) -> Judgement:
    """Whether ``prediction`` refers to the subject the way the reference does, and
    whether it says the event's action and object."""
    named = bool(names_in(prediction, [truth.subject_name]))
    action, obj = says(prediction, truth.action), says(prediction, truth.object)
    if not truth.uses_pronoun:
        return Judgement("name", named, action, obj)
    used = {m.lower() for m in _PRONOUN_WORD.findall(prediction)}
    right = PRONOUNS.get(truth.gender)
    return Judgement("pronoun", right is not None and used == {right} and not named,
                     action, obj)


def judge_all(
    predictions: Mapping[str, str], truth: Mapping[str, EventTruth]
) -> dict[str, Judgement]:
    """Judgements for the predicted uids that have truth (others say nothing)."""
    return {uid: judge(text, truth[uid]) for uid, text in predictions.items() if uid in truth}


def accuracy(judgements: Iterable[Judgement]) -> dict[str, float | int]:
    """``NameAcc`` / ``PronounAcc`` in percent (NaN-free: a kind without events is left
    out) plus the event counts behind each, ``NameAcc n`` / ``PronounAcc n``; and
    ``ActionAcc`` / ``ObjectAcc`` over all judged events."""
    judgements = list(judgements)
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
    for field, label in (("action", "ActionAcc"), ("object", "ObjectAcc")):
        if judgements:
            out[label] = 100.0 * sum(getattr(j, field) for j in judgements) / len(judgements)
        out[f"{label} n"] = len(judgements)
    return out


class WorldScorer:
    """Name and pronoun accuracy as an extra scorer for :func:`uniad.eval.evaluate.evaluate`
    (which knows nothing of the world: the world brings its own truth)."""

    labels = ("NameAcc", "PronounAcc", "ActionAcc", "ObjectAcc")
    note = ("NameAcc/PronounAcc/ActionAcc/ObjectAcc: synthetic-world truth (name or pronoun "
            "of each AD's subject, its action and its object)")

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
