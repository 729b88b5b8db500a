"""CRITIC with the rule-based coreference, and character accuracy, on hand-made cases."""

from __future__ import annotations

import pytest

from uniad.eval.characters import character_accuracy, names_in
from uniad.eval.coref import RuleBasedCoref
from uniad.eval.critic import cast_prefix, critic_score, sentence_identities
from uniad.errors import UniADError

CAST = ["Rachel", "Ross", "Monica"]
GENDERS = {"Rachel": "female", "Ross": "male", "Monica": "female"}


def test_cast_prefix_is_the_release_string():
    assert cast_prefix(["A", "B", "C"]) == "A, B and C."
    assert cast_prefix(["A"]) == "A."


def test_pronoun_resolves_to_most_recent_named_character_of_its_gender():
    sents = ["Rachel enters.", "Ross waves at her.", "He smiles.", "She sits down."]
    ids = sentence_identities(sents, CAST, RuleBasedCoref(GENDERS))
    assert ids == [{"Rachel"}, {"Ross", "Rachel"}, {"Ross"}, {"Rachel"}]
    # without genders a pronoun takes the most recent named character, whoever it is
    ids = sentence_identities(sents, CAST, RuleBasedCoref())
    assert ids == [{"Rachel"}, {"Ross"}, {"Ross"}, {"Ross"}]


def test_pronoun_before_any_name_is_unresolved_not_the_last_cast_member():
    ids = sentence_identities(["She smiles.", "Monica laughs."], CAST, RuleBasedCoref(GENDERS))
    assert ids == [set(), {"Monica"}]


def _score(gt: list[str], pred: list[str]) -> float:
    ids = [f"m#{n}" for n in range(len(gt))]
    return critic_score(dict(zip(ids, pred)), {i: [t] for i, t in zip(ids, gt)}, {"m": ids},
                        {"m": CAST}, RuleBasedCoref(GENDERS)).scores["CRITIC"]


def test_critic_iou_cases():
    # same name: 1; pronoun of the right character: 1; wrong character: 0
    assert _score(["Rachel opens the door."], ["Rachel opens a door."]) == pytest.approx(100)
    assert _score(["Rachel enters.", "Rachel sits."], ["Rachel enters.", "She sits."]) == pytest.approx(100)
    assert _score(["Rachel enters."], ["Monica enters."]) == pytest.approx(0)
    # two characters in the reference, one found: IoU 1/2
    assert _score(["Ross hugs Rachel."], ["Ross hugs someone."]) == pytest.approx(50)
    # sentences without reference identities do not count
    assert _score(["A door opens.", "Ross sits."], ["Monica runs.", "Ross sits."]) == pytest.approx(100)


def test_critic_with_no_characters_is_an_error_not_zero():
    with pytest.raises(UniADError, match="no reference sentence names a cast member"):
        _score(["A door opens."], ["Rain falls."])


def test_character_accuracy_word_boundaries():
    assert names_in("Rossi and rachel meet.", ["Ross", "Rachel"]) == {"Rachel"}
    acc = character_accuracy({"a": "Ross hugs Rachel.", "b": "He sits.", "c": "Rain."},
                             {"a": ["Ross", "Rachel"], "b": ["Ross"], "c": []})
    assert acc == {"CharAcc": pytest.approx(200 / 3), "CharAcc (all named)": pytest.approx(50)}
    with pytest.raises(UniADError):
        character_accuracy({"c": "Rain."}, {"c": []})
