"""Co-reference plugs for CRITIC: fastcoref when the user has its model, else a rule-based one.

A backend returns clusters of character spans over one text (fastcoref's
``get_clusters(as_strings=False)`` shape), so CRITIC does not care which one ran.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from uniad.errors import UniADError

Span = tuple[int, int]

_PRONOUNS = {
    "he": "male", "him": "male", "his": "male", "himself": "male",
    "she": "female", "her": "female", "hers": "female", "herself": "female",
}

RULE_BASED_LIMITS = (
    "rule-based coreference: names must equal a cast short name; he/she/his/her resolve to "
    "the most recent named character (of matching gender when genders are known); no "
    "'they', no nicknames, no nominal mentions ('the waitress'); not comparable with fastcoref"
)


class Coref(Protocol):
    name: str

    def clusters(self, text: str, names: list[str]) -> list[list[Span]]: ...


class RuleBasedCoref:
    """Names cluster by string; a pronoun joins the most recent named character's cluster.

    ``genders`` maps a short name to "male"/"female"; with it a pronoun skips characters of
    the other gender. Mentions before ``skip_until`` (the cast prefix CRITIC prepends) can be
    clustered but are never antecedents, so a pronoun before any AD name stays unresolved.
    """

    name = "rule-based"

    def __init__(self, genders: dict[str, str] | None = None) -> None:
        self.genders = genders or {}

    def clusters(self, text: str, names: list[str], skip_until: int = 0) -> list[list[Span]]:
        alternatives = sorted(names, key=len, reverse=True) + list(_PRONOUNS)
        pattern = re.compile(r"\b(" + "|".join(re.escape(a) for a in alternatives) + r")\b",
                             re.IGNORECASE)
        by_name: dict[str, list[Span]] = {n: [] for n in names}
        lower_names = {n.lower(): n for n in names}
        recent: list[str] = []  # named characters, most recent last
        for m in pattern.finditer(text):
            word = m.group(0)
            name = lower_names.get(word.lower())
            if name is not None:
                by_name[name].append(m.span())
                if m.start() >= skip_until:
                    recent.append(name)
                continue
            gender = _PRONOUNS.get(word.lower())
            for candidate in reversed(recent):
                known = self.genders.get(candidate)
                if gender is None or known is None or known == gender:
                    by_name[candidate].append(m.span())
                    break
        return [spans for spans in by_name.values() if spans]


class FastCoref:
    """fastcoref's FCoref (the release's model, biu-nlp/f-coref) from a local folder."""

    name = "fastcoref"

    def __init__(self, model_dir: str | Path, device: str = "cpu") -> None:
        try:
            from fastcoref import FCoref
        except ImportError as err:
            raise UniADError(
                "CRITIC with fastcoref needs the optional fastcoref package (pip install fastcoref)"
            ) from err
        if not Path(model_dir).is_dir():
            raise UniADError(f"{model_dir}: fastcoref model folder not found")
        self.model = FCoref(model_name_or_path=str(model_dir), device=device)

    def clusters(self, text: str, names: list[str], skip_until: int = 0) -> list[list[Span]]:
        return [list(map(tuple, c)) for c in self.model.predict(texts=[text])[0].get_clusters(as_strings=False)]
