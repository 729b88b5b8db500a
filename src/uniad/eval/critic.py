"""CRITIC (AutoAD-III): do the predicted ADs refer to the same characters as the references?

Per movie, the cast's short names are written as "A, B and C." and prepended to the ADs
joined by spaces (once for the references, once for the predictions); co-reference
clusters over that text that contain exactly one cast name give each sentence its set of
identities. The score is the IoU of reference and predicted identity sets, averaged over
all sentences with at least one reference identity. The co-reference model is a plug
(:mod:`uniad.eval.coref`).
"""

from __future__ import annotations

from dataclasses import dataclass

from uniad.eval.coref import Coref
from uniad.errors import UniADError


def cast_prefix(names: list[str]) -> str:
    """"A, B and C." (the string the release prepends so that coref sees every name once)."""
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]}."
    return f"{', '.join(names[:-1])} and {names[-1]}."


def sentence_identities(sentences: list[str], cast: list[str], coref: Coref) -> list[set[str]]:
    """Identity set of each sentence: names of the clusters with a mention inside it."""
    prefix = cast_prefix(cast)
    text, bounds = prefix, []
    for s in sentences:
        text += " "
        bounds.append((len(text), len(text) + len(s)))
        text += s
    identities: list[set[str]] = [set() for _ in sentences]
    for cluster in coref.clusters(text, cast, skip_until=len(prefix)):
        mentioned = {n for n in cast for a, b in cluster if text[a:b].lower() == n.lower()}
        if len(mentioned) != 1:
            continue  # a cluster merging two cast members (or none) identifies nobody
        (name,) = mentioned
        for a, _ in cluster:
            for n, (lo, hi) in enumerate(bounds):
                if lo <= a < hi:
                    identities[n].add(name)
    return identities


@dataclass
class CriticResult:
    scores: dict[str, float]
    sentences: int  # sentences with >= 1 reference identity (the denominator)
    coref: str


def critic_score(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    groups: dict[str, list[str]],
    cast: dict[str, list[str]],
    coref: Coref,
) -> CriticResult:
    """CRITIC in percent. ``groups``: movie -> ids in time order; ``cast``: movie -> short names."""
    ious: list[float] = []
    for movie, ids in groups.items():
        ids = [i for i in ids if i in predictions]
        names = cast.get(movie, [])
        if not ids or not names:
            continue
        gt = sentence_identities([references[i][0] for i in ids], names, coref)
        pred = sentence_identities([predictions[i] for i in ids], names, coref)
        ious.extend(len(g & p) / len(g | p) for g, p in zip(gt, pred) if g)
    if not ious:
        raise UniADError("CRITIC: no reference sentence names a cast member (nothing to score)")
    return CriticResult({"CRITIC": 100.0 * sum(ious) / len(ious)}, len(ious), coref.name)
