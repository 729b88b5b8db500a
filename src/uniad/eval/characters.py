"""Character accuracy: does the prediction name the characters the reference names?"""

from __future__ import annotations

import re

from uniad.errors import UniADError


def names_in(text: str, names: list[str]) -> set[str]:
    """The names that occur in ``text`` as whole words (case-insensitive)."""
    return {n for n in names if re.search(rf"\b{re.escape(n)}\b", text, re.IGNORECASE)}


def character_accuracy(predictions: dict[str, str], expected: dict[str, list[str]]) -> dict[str, float]:
    """Percent of expected names found, and of ADs whose every expected name is found.

    Only ids with at least one expected name count (an AD that names nobody says nothing
    about naming).
    """
    found = total = complete = ads = 0
    for uid, names in expected.items():
        if not names or uid not in predictions:
            continue
        hit = names_in(predictions[uid], names)
        found, total = found + len(hit), total + len(set(names))
        complete += len(hit) == len(set(names))
        ads += 1
    if not ads:
        raise UniADError("character accuracy: no reference names a character")
    return {"CharAcc": 100.0 * found / total, "CharAcc (all named)": 100.0 * complete / ads}
