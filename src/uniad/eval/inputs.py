"""Loading what `uniad score` compares: predictions and references, checked against each other.

Predictions: ``{id: text}`` or a list of ``{"id": ..., "prediction": ...}`` records.
References: ``{id: [texts]}`` / ``{id: text}``, or any annotation file
:func:`uniad.data.formats.read_annotations` reads (ids are then the event uids, and the
file also gives movie grouping, time order, cast names and named characters, which
Recall@k/N, CRITIC and character accuracy need).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uniad.data.formats import (
    CLIP_DATASETS, Annotations, detect_format, load_json, read_annotations,
)
from uniad.errors import DataError, DataErrors, Problem

_UID = re.compile(r"^(?P<video>.+)#(?P<n>\d+)$")
CAST_SIZE = 10  # the release's top-10 cast names per movie for CRITIC


@dataclass
class References:
    """Reference texts plus what the movie-level metrics need.

    ``groups``: movie -> ids in time order. ``cast``: movie -> short names (annotation files
    only). ``named``: id -> names the reference AD uses (annotation files only).
    """

    texts: dict[str, list[str]]
    groups: dict[str, list[str]]
    source: str  # "annotations:<format>" or "json"
    cast: dict[str, list[str]] = field(default_factory=dict)
    named: dict[str, list[str]] = field(default_factory=dict)
    genders: dict[str, str] = field(default_factory=dict)  # short name -> "male"/"female"


def load_predictions(path: str | Path) -> dict[str, str]:
    """``{id: text}`` or ``[{"id", "prediction"}]``; every prediction must be non-empty text."""
    data = load_json(path)
    if isinstance(data, dict):
        items = [(str(k), v, k) for k, v in data.items()]
    elif isinstance(data, list):
        items = []
        for n, rec in enumerate(data):
            if not isinstance(rec, dict) or "id" not in rec or "prediction" not in rec:
                raise DataError(path, "expected a record with 'id' and 'prediction'", record=n)
            items.append((str(rec["id"]), rec["prediction"], n))
    else:
        raise DataError(path, "expected {id: text} or a list of {id, prediction} records, "
                        f"got {type(data).__name__}")
    problems, preds = [], {}
    for uid, text, where in items:
        if not isinstance(text, str):
            problems.append(Problem(str(path), f"expected text, got {type(text).__name__}", where, "prediction"))
        elif not text.strip():
            problems.append(Problem(str(path), "empty prediction", where, "prediction"))
        elif uid in preds:
            problems.append(Problem(str(path), f"duplicate id {uid!r}", where, "id"))
        else:
            preds[uid] = text
    if problems:
        raise DataErrors(problems)
    if not preds:
        raise DataError(path, "no predictions")
    return preds


def _groups_from_ids(ids: list[str]) -> dict[str, list[str]]:
    """``video#n`` ids group by video, ordered by n; other ids form one group in file order."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for order, uid in enumerate(ids):
        m = _UID.match(uid)
        key, n = (m.group("video"), int(m.group("n"))) if m else ("", order)
        groups.setdefault(key, []).append((n, uid))
    return {k: [uid for _, uid in sorted(v)] for k, v in groups.items()}


def _plain_references(path: str | Path, data: Any) -> References:
    if not isinstance(data, dict) or not data:
        raise DataError(path, "expected {id: [reference texts]} / {id: text} or an annotation file "
                        f"(MAD, CMD-AD, TV-AD), got {type(data).__name__ if data else 'nothing'}")
    texts, problems = {}, []
    for uid, refs in data.items():
        refs = [refs] if isinstance(refs, str) else refs
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r.strip() for r in refs):
            problems.append(Problem(str(path), "expected non-empty reference text(s)", uid))
        else:
            texts[str(uid)] = refs
    if problems:
        raise DataErrors(problems)
    return References(texts, _groups_from_ids(list(texts)), "json")


def load_references(path: str | Path, annotations: Annotations | None = None) -> References:
    """The references of ``path``: plain ``{id: texts}`` or an annotation file, parsed
    once; ``annotations``: that file as :func:`read_annotations` already read it."""
    if annotations is None:
        data = load_json(path)
        plain = isinstance(data, dict) and all(
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(r, str) for r in v))
            for v in data.values())
        fmt = None if plain else detect_format(data)
        if fmt is None:
            return _plain_references(path, data)
        annotations = read_annotations(path, data)
    fmt, events = annotations.format, annotations.events
    empty = [e.uid for e in events if not e.text.strip()]
    if empty:
        raise DataError(path, f"{len(empty)} record(s) have an empty reference AD (e.g. "
                        f"{', '.join(empty[:3])}); nothing can be scored against them",
                        record=empty[0], field="ad")
    texts = {e.uid: [e.text] for e in events}
    by_group: dict[str, list] = {}
    for e in events:
        # CMD-AD / TV-AD: the release scores the whole dataset as one sequence in file order
        # (its outputs are keyed by dataset); MAD: one sequence per movie, in time order.
        by_group.setdefault(fmt if fmt in CLIP_DATASETS else e.video_id, []).append(e)
    groups = {g: [e.uid for e in (evs if g in CLIP_DATASETS else sorted(evs, key=lambda e: e.start))]
              for g, evs in by_group.items()}
    cast = {}
    for g, evs in by_group.items():
        # the names AD uses in this group, most frequent first, then recognised candidates
        counts = Counter(n for e in evs for n in e.named_short if n)
        for e in evs:
            for c in e.refined or e.candidates:
                counts.setdefault(c.display_name, 0)
        cast[g] = [n for n, _ in counts.most_common(CAST_SIZE) if n]
    named = {e.uid: list(e.named_short) for e in events}
    genders = {c.display_name: c.gender for e in events for c in (*e.named, *e.candidates) if c.gender}
    return References(texts, groups, f"annotations:{fmt}", cast, named, genders)


def check_ids(predictions: dict[str, str], refs: References, pred_path: str | Path,
              ref_path: str | Path, allow_missing: bool = False) -> list[str]:
    """Ids must match; returns notes. Unknown prediction ids are always an error."""
    unknown = [i for i in predictions if i not in refs.texts]
    missing = [i for i in refs.texts if i not in predictions]
    if unknown:
        raise DataError(pred_path, f"{len(unknown)} of {len(predictions)} prediction id(s) are not in "
                        f"{ref_path} (e.g. {', '.join(map(repr, unknown[:3]))}); reference ids look like "
                        f"{', '.join(map(repr, list(refs.texts)[:3]))}")
    if missing and not allow_missing:
        raise DataError(pred_path, f"{len(missing)} of {len(refs.texts)} reference id(s) have no "
                        f"prediction (e.g. {', '.join(map(repr, missing[:3]))}); pass --allow-missing "
                        "to score only the predicted ids")
    return [f"{len(missing)} of {len(refs.texts)} references have no prediction and are left out"] if missing else []
