"""Readers and writers of the benchmarks' annotation files, to and from :class:`ADEvent`.

Three layouts exist in the public UniAD release (REFERENCE.md section 1):

- MAD training: a JSON list of records with ``movie_id``, ``start``/``end`` (strings or
  numbers), ``ad``, the character lists ``char`` / ``ad_chars`` / ``ad_chars_in_chars`` and
  ``context`` (earlier ADs, nearest first).
- MAD eval: ``{movie_id: [record, ...]}``; a record has ``start``, ``end``, ``ad``,
  ``context`` and ``prob`` (the refined character list).
- CMD-AD / TV-AD eval: ``{"cmdad"|"tvad": [record, ...]}`` with ``key_name``, integer
  ``start``/``end``, ``ad``, ``char``, ``char_in_ad``, ``char_pred``, ``prob``,
  ``prob_data`` (candidate scores, -1 = empty slot) and an optional ``content`` (the
  previous AD).

Every reader checks every field and reports it as file + record + field. The tolerant
pass (:func:`scan_annotations`) collects all problems of a file for ``uniad data
validate``; the strict readers raise the first one as :class:`DataError`. Writers give
back the same JSON the reader was given: fields UniAD does not interpret, the original
key order, times written as strings and the ``prob_data`` padding are kept in
``ADEvent.extra`` (under :data:`LAYOUT_KEY` for the layout details).
"""

from __future__ import annotations

import difflib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from tqdm import tqdm

from uniad.data.schema import ADEvent, Character, SchemaError
# The schema's own field checks, reused so that a file reports every bad field of a
# record at once rather than only the first one the constructor meets.
from uniad.data.schema import brief, is_finite_number, require_text, require_time
from uniad.errors import DataError, Problem
from uniad.io import write_json

MAD_TRAIN = "mad_train"
MAD_EVAL = "mad_eval"
CLIP_DATASETS = ("cmdad", "tvad")
FORMATS = (MAD_TRAIN, MAD_EVAL, *CLIP_DATASETS)
log = logging.getLogger(__name__)
_PROGRESS_FROM = 20_000  # records; fewer read in well under a second
CAST = "cast"  # {tt-id: [{id, role, name}, ...]}: a character bank's cast list, not ADs

#: ``ADEvent.extra`` key holding how the source record was laid out (key order, times
#: written as strings, ``prob_data`` padding), so that writing it back changes nothing.
LAYOUT_KEY = "_layout"

_SHAPES = {
    MAD_TRAIN: "a JSON list of records (MAD training)",
    MAD_EVAL: "an object {movie_id: [records]} (MAD eval)",
    "tvad": '{"tvad": [records]} (TV-AD eval)',
    "cmdad": '{"cmdad": [records]} (CMD-AD eval)',
}
_MISSING = object()
_EMPTY_SLOT = -1.0  # prob_data value of a slot without a score

# Record keys each format interprets; any other key is kept verbatim in ADEvent.extra.
_MAD_TRAIN_KEYS = ("start", "end", "ad", "char", "ad_chars", "ad_chars_in_chars", "context",
                   "movie_id")
_MAD_CONTEXT_KEYS = ("start", "end", "ad", "char", "ad_chars", "ad_chars_in_chars")
_MAD_EVAL_KEYS = ("start", "end", "ad", "context", "prob")
_CLIP_KEYS = ("start", "end", "ad", "char", "char_in_ad", "content", "char_pred", "key_name",
              "prob", "prob_data")
_SHORT_CONTEXT_KEYS = ("start", "end", "ad")  # MAD eval context, TV/CMD content
# Key order of the character dicts in the release's files.
_MAD_CHAR = ("id", "name", "role")
_SCORE = "score"  # optional recogniser score in MAD character dicts
_CLIP_NAMED = ("id", "role", "name")  # TV/CMD "char"
_CLIP_CANDIDATE = ("name", "role", "char_in_ad", "id")  # TV/CMD "char_pred", "prob"


@dataclass
class Annotations:
    """The events of one annotation file and the format they were read from."""

    format: str  # one of FORMATS
    events: list[ADEvent]


@dataclass
class AnnotationScan:
    """What a tolerant pass over an annotation file found.

    ``events`` are the records that parsed cleanly, ``labels`` their record labels in
    problem messages (list index, or ``"movie_id[i]"`` for MAD eval), ``records`` the
    number of records in the file, ``problems`` every problem found.
    """

    path: str
    format: str | None
    records: int = 0
    events: list[ADEvent] = field(default_factory=list)
    labels: list[int | str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: Fields the model never reads that are odd (kept as they are, reported, not refused).
    warnings: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------- JSON files


def load_json(path: str | Path) -> Any:
    """Parses a UTF-8 JSON file; any failure is a DataError naming the file and where."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, "is a directory, expected a JSON file") from None
    except OSError as err:
        raise DataError(path, f"cannot read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            path, f"not UTF-8 text: byte 0x{raw[err.start]:02x} at byte offset {err.start} "
            "(save the file as UTF-8)"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            path, f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
    except RecursionError:
        raise DataError(path, "JSON nested too deeply to be an annotation file") from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        raise DataError(path, f"unreadable JSON value: {err}") from None


def _write_json(path: str | Path, data: Any) -> Path:
    """The release's layout (indent 4), through the atomic writer."""
    return write_json(path, data, indent=4)


def _describe(value: Any) -> str:
    """A short description of an unexpected JSON value, for messages."""
    if isinstance(value, dict):
        keys = ", ".join(repr(k if len(k) <= 40 else k[:37] + "...") for k in list(value)[:5])
        return f"an object with keys {keys}{', ...' if len(value) > 5 else ''}" if value \
            else "an empty object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value!r:.40})"


def detect_format(data: Any) -> str | None:
    """Names the layout of parsed JSON: one of FORMATS, CAST, or None if unrecognised.

    A MAD eval file and a cast list share the shape ``{key: [object, ...]}``; records
    with a ``start`` time make it annotations.
    """
    if isinstance(data, list):
        return MAD_TRAIN
    if not isinstance(data, dict) or not data:
        return None
    if len(data) == 1 and next(iter(data)) in CLIP_DATASETS:
        return next(iter(data))
    lists = [v for v in data.values() if isinstance(v, list)]
    if not lists:
        return None
    first = next((v[0] for v in lists if v), None)
    if isinstance(first, dict) and "start" not in first and "id" in first:
        return CAST
    return MAD_EVAL


# ------------------------------------------------------------------ field-level parsing


class _Checker:
    """Collects the problems of one file, each with the record it belongs to."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, record: int | str | None, field_path: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, message, record, field_path))

    def warn(self, record: int | str | None, field_path: str | None, message: str) -> None:
        self.warnings.append(Problem(self.file, message, record, field_path))


class _Obj:
    """One JSON object of a record (the record or a context entry) being read.

    Each accessor checks its field and records a problem instead of raising, so one pass
    finds every bad field; :meth:`event` builds the ADEvent only if nothing was wrong.
    """

    def __init__(self, chk: _Checker, record: int | str, value: Any, prefix: str = "") -> None:
        self.chk, self.record, self.prefix = chk, record, prefix
        self.is_object = isinstance(value, dict)
        self.value: dict[str, Any] = value if self.is_object else {}
        self.raw_times: dict[str, str] = {}
        self.odd_chars: dict[str, dict[str, Any]] = {}
        self.start_count = len(chk.problems)
        if not self.is_object:
            self.problem(None, f"expected an object, got {_describe(value)}")

    def path(self, key: str | None) -> str | None:
        if key is None:
            return self.prefix.rstrip(".") or None
        return f"{self.prefix}{key}"

    def problem(self, key: str | None, message: str) -> None:
        self.chk.add(self.record, self.path(key), message)

    def get(self, key: str, required: bool = True) -> Any:
        value = self.value.get(key, _MISSING)
        if value is _MISSING and required and self.is_object:  # else already reported
            self.problem(key, "missing")
        return value

    def text(self, key: str, required: bool = True, allow_empty: bool = True) -> str:
        value = self.get(key, required)
        if value is _MISSING:
            return ""
        try:
            require_text(value, self.path(key), allow_empty=allow_empty)
        except SchemaError as err:
            self.chk.add(self.record, err.field, err.message)
            return ""
        return value

    def time(self, key: str, allow_string: bool) -> float | int:
        """Seconds; MAD files may hold them as strings, converted like the release (float)."""
        value = self.get(key)
        if value is _MISSING:
            return 0.0
        if isinstance(value, str) and allow_string:
            try:
                number = float(value)
            except ValueError:
                self.problem(key, f"expected seconds as a number, got {brief(value)}")
                return 0.0
            self.raw_times[key] = value
            value = number
        try:
            require_time(value, self.path(key))
        except SchemaError as err:
            self.chk.add(self.record, err.field, err.message)
            return 0.0
        return value

    def items(self, key: str, required: bool = True) -> list[Any] | None:
        """A list field; None when absent (and not required) or not a list."""
        value = self.get(key, required)
        if value is _MISSING:
            return None
        if not isinstance(value, list):
            self.problem(key, f"expected a list, got {_describe(value)}")
            return None
        return value

    def characters(self, key: str, shape: tuple[str, ...],
                   required: bool = True) -> tuple[Character, ...] | None:
        """A list of character dicts, read by key (the release unpacks them by value order,
        which silently swaps fields when a file orders keys differently).

        ``shape`` is the format's usual key list; a dict laid out otherwise is kept in the
        layout so that writing it back reproduces it.
        """
        values = self.items(key, required)
        if values is None:
            return None
        chars = []
        for i, value in enumerate(values):
            entry = _Obj(self.chk, self.record, value, f"{self.prefix}{key}[{i}].")
            char_id = entry.text("id", allow_empty=False)
            name, role = entry.text("name"), entry.text("role")
            short = entry.text("char_in_ad", required=False)
            score = entry.optional_score()
            if entry.clean:
                chars.append(Character(id=char_id, name=name, role=role, short_name=short,
                                       score=score))
                if tuple(k for k in value if k != _SCORE) != shape:
                    self.odd_chars[f"{key}[{i}]"] = value
        return tuple(chars)

    def optional_score(self) -> float | None:
        """A character's recogniser score, an optional key of MAD character dicts (ours;
        the release never reads ``char``), so candidate ranking survives a round trip."""
        value = self.get(_SCORE, required=False)
        if value is _MISSING:
            return None
        if not is_finite_number(value):
            self.problem(_SCORE, f"expected a finite number, got {brief(value)}")
            return None
        return value

    def scores(self, key: str) -> list[float | int] | None:
        values = self.items(key)
        if values is None:
            return None
        for i, v in enumerate(values):
            if not is_finite_number(v):
                self.problem(f"{key}[{i}]", f"expected a finite number, got {brief(v)}")
        return values

    @property
    def clean(self) -> bool:
        return len(self.chk.problems) == self.start_count

    def event(self, known: tuple[str, ...], layout: dict[str, Any] | None = None,
              **fields: Any) -> ADEvent | None:
        """The ADEvent of this object, keeping unknown keys and the layout in ``extra``."""
        if not self.clean:
            return None
        extra = {k: v for k, v in self.value.items() if k not in known}
        extra[LAYOUT_KEY] = {"keys": list(self.value), **(layout or {})}
        if self.raw_times:
            extra[LAYOUT_KEY]["raw"] = dict(self.raw_times)
        if self.odd_chars:
            extra[LAYOUT_KEY]["chars"] = dict(self.odd_chars)
        try:
            return ADEvent(**fields, extra=extra)
        except SchemaError as err:
            self.problem(err.field, err.message)
            return None


# ---------------------------------------------------------------- per-format records


def _mad_context(obj: _Obj, video_id: str, eval_file: bool) -> tuple[ADEvent, ...]:
    """MAD ``context`` entries, nearest first; in eval files only start/end(/ad) exist."""
    entries = obj.items("context", required=not eval_file) or []
    events = []
    for i, value in enumerate(entries):
        ctx = _Obj(obj.chk, obj.record, value, f"context[{i}].")
        start, end = ctx.time("start", True), ctx.time("end", True)
        text = ctx.text("ad", required=not eval_file)
        chars = {} if eval_file else {
            "candidates": ctx.characters("char", _MAD_CHAR, required=False) or (),
            "named": ctx.characters("ad_chars", _MAD_CHAR, required=False) or (),
            "named_candidates": ctx.characters("ad_chars_in_chars", _MAD_CHAR,
                                               required=False),
        }
        known = _SHORT_CONTEXT_KEYS if eval_file else _MAD_CONTEXT_KEYS
        event = ctx.event(known, video_id=video_id or "?", start=start, end=end, text=text,
                          **chars)
        if event is not None:
            events.append(event)
    return tuple(events)


def _mad_train_record(chk: _Checker, index: int, value: Any, uid: str) -> ADEvent | None:
    obj = _Obj(chk, index, value)
    video_id = obj.text("movie_id", allow_empty=False)
    start, end = obj.time("start", True), obj.time("end", True)
    text = obj.text("ad", allow_empty=False)  # an empty target teaches nothing
    candidates = obj.characters("char", _MAD_CHAR)
    named = obj.characters("ad_chars", _MAD_CHAR)
    named_candidates = obj.characters("ad_chars_in_chars", _MAD_CHAR)
    context = _mad_context(obj, video_id, eval_file=False)
    return obj.event(
        _MAD_TRAIN_KEYS, video_id=video_id, start=start, end=end, text=text,
        candidates=candidates or (), named=named or (), named_candidates=named_candidates,
        context=context, uid=uid,
    )


def _mad_eval_record(chk: _Checker, label: str, value: Any, video_id: str,
                     uid: str) -> ADEvent | None:
    obj = _Obj(chk, label, value)
    start, end = obj.time("start", True), obj.time("end", True)
    text = obj.text("ad")
    refined = obj.characters("prob", _MAD_CHAR)
    context = _mad_context(obj, video_id, eval_file=True)
    return obj.event(_MAD_EVAL_KEYS, video_id=video_id, start=start, end=end, text=text,
                     refined=refined or (), context=context, uid=uid)


def _clip_record(chk: _Checker, index: int, value: Any, uid: str) -> ADEvent | None:
    obj = _Obj(chk, index, value)
    video_id = obj.text("key_name", allow_empty=False)
    start, end = obj.time("start", False), obj.time("end", False)
    text = obj.text("ad")
    named = obj.characters("char", _CLIP_NAMED) or ()
    named_short = tuple(obj.items("char_in_ad") or ())
    for i, name in enumerate(named_short):
        if not isinstance(name, str):
            obj.problem(f"char_in_ad[{i}]", f"expected text, got {name!r}")
    candidates = obj.characters("char_pred", _CLIP_CANDIDATE) or ()
    refined = obj.characters("prob", _CLIP_CANDIDATE) or ()
    scores = obj.scores("prob_data") or []
    if obj.clean and len(scores) < len(candidates):
        # The release's file has such records (5 scores, 6 candidates, empty 'prob'); its
        # loader reads only 'prob', so the unscored candidates are kept without a score.
        chk.warn(index, "prob_data", f"has {len(scores)} scores for {len(candidates)} "
                 "candidates in 'char_pred'; the rest are kept unscored (the model reads 'prob')")
    context: tuple[ADEvent, ...] = ()
    if "content" in obj.value:
        ctx = _Obj(chk, index, obj.value["content"], "content.")
        event = ctx.event(_SHORT_CONTEXT_KEYS, video_id=video_id or "?",
                          start=ctx.time("start", False), end=ctx.time("end", False),
                          text=ctx.text("ad"))
        context = (event,) if event is not None else ()
    if not obj.clean:
        return None
    # Candidate i is scored by prob_data[i]; -1 marks a slot without a score.
    candidates = tuple(
        replace(c, score=None if i >= len(scores) or scores[i] == _EMPTY_SLOT else scores[i])
        for i, c in enumerate(candidates)
    )
    by_id = {c.id: c for c in candidates}
    refined = tuple(replace(c, score=by_id[c.id].score) if c.id in by_id else c
                    for c in refined)
    # char_in_ad[i] is how the AD writes char[i] ("Ross" for "Dr. Ross Geller").
    named = tuple(
        replace(c, short_name=named_short[i]) if i < len(named_short) and not c.short_name
        else c
        for i, c in enumerate(named)
    )
    layout = {"prob_data_pad": scores[len(candidates):], "prob_data_len": len(scores)}
    return obj.event(_CLIP_KEYS, layout, video_id=video_id, start=start, end=end, text=text,
                     candidates=candidates, refined=refined, named=named,
                     named_short=named_short, context=context, uid=uid)


# ---------------------------------------------------------------------------- reading


def scan_json(path: str, data: Any, expected: Iterable[str] = FORMATS) -> AnnotationScan:
    """Reads every record of already parsed JSON (``path`` names it in problems),
    collecting problems instead of stopping at the first."""
    expected = tuple(expected)
    fmt = detect_format(data)
    scan = AnnotationScan(path=path, format=fmt)
    chk = _Checker(path)
    top = _top_level_problem(data)
    if top is not None:
        chk.add(None, None, top)
        scan.problems = chk.problems
        return scan
    if fmt not in expected:
        shapes = [_SHAPES[f] for f in expected]
        what = " or ".join(filter(None, [", ".join(shapes[:-1]), shapes[-1]]))
        got = "a cast list {tt-id: [characters]}" if fmt == CAST else (
            f"{fmt} annotations" if fmt in FORMATS else _describe(data))
        chk.add(None, None, f"expected {what}, got {got}")
        scan.problems = chk.problems
        return scan

    seen: Counter[str] = Counter()

    def next_uid(video_id: Any) -> str:
        # Counted per video in file order, also for bad records, so uids stay stable.
        key = video_id if isinstance(video_id, str) else "?"
        seen[key] += 1
        return f"{key}#{seen[key] - 1}"

    def add(label: int | str, event: ADEvent | None) -> None:
        scan.records += 1
        if event is not None:
            scan.events.append(event)
            scan.labels.append(label)

    if fmt == MAD_TRAIN:
        for i, rec in enumerate(_progress(data, path)):
            vid = rec.get("movie_id") if isinstance(rec, dict) else None
            add(i, _mad_train_record(chk, i, rec, next_uid(vid)))
    elif fmt == MAD_EVAL:
        for movie_id, records in _progress(data.items(), path, len(data), "movie"):
            if not isinstance(records, list):
                chk.add(movie_id, None, f"expected a list of records, got {_describe(records)}")
                continue
            for i, rec in enumerate(records):
                label = f"{movie_id}[{i}]"
                add(label, _mad_eval_record(chk, label, rec, movie_id, f"{movie_id}#{i}"))
    else:
        records = data[fmt]
        if not isinstance(records, list):
            chk.add(None, fmt, f"expected a list of records, got {_describe(records)}")
        for i, rec in enumerate(_progress(records if isinstance(records, list) else [], path)):
            vid = rec.get("key_name") if isinstance(rec, dict) else None
            add(i, _clip_record(chk, i, rec, next_uid(vid)))
    scan.problems = chk.problems
    scan.warnings = chk.warnings
    return scan


def _progress(items: Iterable, path: str, total: int | None = None, unit: str = "record"):
    """``items`` with a progress bar on a terminal for files big enough to take seconds."""
    total = len(items) if total is None else total  # type: ignore[arg-type]
    return tqdm(items, total=total, desc=f"reading {Path(path).name}", unit=unit,
                disable=None if total >= _PROGRESS_FROM else True, leave=False)


def _top_level_problem(data: Any) -> str | None:
    """A top level that only looks like a known layout: CMD-AD/TV-AD records under a
    misspelt key (they would be read as a MAD eval file), both dataset keys, or a dataset
    key beside others."""
    if not isinstance(data, dict):
        return None
    datasets = [k for k in data if k in CLIP_DATASETS]
    if len(datasets) > 1:
        return (f"holds both {' and '.join(map(repr, datasets))}: one dataset per file "
                "(split it into two files)")
    if datasets and len(data) > 1:
        others = ", ".join(repr(k) for k in list(data) if k not in CLIP_DATASETS)
        return f"holds {datasets[0]!r} and other top-level keys ({brief(others)}): expected only {datasets[0]!r}"
    if datasets:
        return None
    for key, records in data.items():
        first = records[0] if isinstance(records, list) and records else None
        if isinstance(first, dict) and "key_name" in first:
            close = difflib.get_close_matches(str(key).lower(), CLIP_DATASETS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return (f"top-level key {brief(key)} holds CMD-AD/TV-AD records (with 'key_name'), "
                    f"but such a file must use the key 'tvad' or 'cmdad'{hint}")
    return None


def scan_annotations(path: str | Path, expected: Iterable[str] = FORMATS) -> AnnotationScan:
    """Reads an annotation file tolerantly: every problem is listed, good records kept."""
    try:
        data = load_json(path)
    except DataError as err:
        return AnnotationScan(path=str(path), format=None, problems=[err.problem])
    return scan_json(str(path), data, expected)


def _checked(scan: AnnotationScan) -> AnnotationScan:
    """``scan``, or its first problem as a DataError; odd fields are logged."""
    if scan.problems:
        first = scan.problems[0]
        raise DataError(first.file, first.message, first.record, first.field)
    if scan.warnings:
        log.warning("%s: %d record(s) with odd fields the model does not read, kept "
                    "(first: %s)", scan.path, len(scan.warnings), scan.warnings[0])
    return scan


def _read(path: str | Path, expected: Iterable[str]) -> AnnotationScan:
    return _checked(scan_annotations(path, expected))


def read_annotations(path: str | Path, data: Any = None) -> Annotations:
    """Reads any of the annotation formats, detected from the JSON's shape; ``data``: the
    file's JSON when the caller has parsed it already (:func:`load_json`)."""
    scan = _read(path, FORMATS) if data is None else _checked(scan_json(str(path), data))
    assert scan.format is not None  # _read raised otherwise
    return Annotations(format=scan.format, events=scan.events)


def read_mad_train(path: str | Path) -> list[ADEvent]:
    """MAD training JSON -> events (uid ``movie_id#n``, n counted per movie)."""
    return _read(path, (MAD_TRAIN,)).events


def read_mad_eval(path: str | Path) -> list[ADEvent]:
    """MAD eval JSON ``{movie_id: [record...]}`` -> events, movies in file order."""
    return _read(path, (MAD_EVAL,)).events


def read_clip_eval(path: str | Path) -> tuple[str, list[ADEvent]]:
    """CMD-AD / TV-AD eval JSON -> (dataset name "cmdad"|"tvad", events)."""
    scan = _read(path, CLIP_DATASETS)
    assert scan.format is not None
    return scan.format, scan.events


# ---------------------------------------------------------------------------- writing


def _layout(event: ADEvent) -> dict[str, Any]:
    return event.extra.get(LAYOUT_KEY, {})


def _time_out(event: ADEvent, key: str) -> Any:
    """The time as the source wrote it (a string stays a string) unless it was changed."""
    value = getattr(event, key)
    raw = _layout(event).get("raw", {}).get(key)
    if raw is not None and float(raw) == value:
        return raw
    return value


def _arrange(event: ADEvent, fields: dict[str, Any], optional: Iterable[str] = ()) -> dict:
    """The record in the source's key order, with its uninterpreted fields put back.

    An optional field that is empty is left out when the source record did not have it
    (so ``content`` absent stays absent); events built in code get every field.
    """
    extras = {k: v for k, v in event.extra.items() if k != LAYOUT_KEY}
    fields = {**extras, **fields}
    source_keys = _layout(event).get("keys")
    if source_keys is None:
        return fields
    keys = [k for k in source_keys if k in fields]
    keys += [k for k in fields
             if k not in source_keys and not (k in optional and not fields[k])]
    return {k: fields[k] for k in keys}


def _char_dict(c: Character, shape: tuple[str, ...]) -> dict[str, Any]:
    values = {"id": c.id, "name": c.name, "role": c.role, "char_in_ad": c.short_name}
    out: dict[str, Any] = {k: values[k] for k in shape}
    # CMD/TV scores live in prob_data; MAD dicts carry their own optional score.
    if shape == _MAD_CHAR and c.score is not None:
        out[_SCORE] = c.score
    return out


def _chars(event: ADEvent, key: str, chars: Iterable[Character] | None,
           shape: tuple[str, ...]) -> list[dict[str, Any]]:
    """Character dicts in the format's shape; a dict the source laid out otherwise is
    written as it was, as long as the character it describes is unchanged."""
    odd = _layout(event).get("chars", {})
    out = []
    for i, c in enumerate(chars or ()):
        source = odd.get(f"{key}[{i}]")
        if source is not None and all(
            source.get(k, v) == v for k, v in _char_dict(c, _CLIP_CANDIDATE).items()
        ):
            out.append(source)
        else:
            out.append(_char_dict(c, shape))
    return out


def _times(event: ADEvent) -> dict[str, Any]:
    return {"start": _time_out(event, "start"), "end": _time_out(event, "end")}


def _mad_train_dict(event: ADEvent, top: bool = True) -> dict[str, Any]:
    fields = {
        **_times(event), "ad": event.text,
        "char": _chars(event, "char", event.candidates, _MAD_CHAR),
        "ad_chars": _chars(event, "ad_chars", event.named, _MAD_CHAR),
        "ad_chars_in_chars": _chars(event, "ad_chars_in_chars", event.named_candidates,
                                    _MAD_CHAR),
    }
    if not top:
        return _arrange(event, fields, optional=("char", "ad_chars", "ad_chars_in_chars"))
    fields["context"] = [_mad_train_dict(c, top=False) for c in event.context]
    fields["movie_id"] = event.video_id
    return _arrange(event, fields)


def write_mad_train(path: str | Path, events: Iterable[ADEvent]) -> Path:
    """Events -> MAD training JSON (a list of records, in the given order)."""
    return _write_json(path, [_mad_train_dict(e) for e in events])


def _mad_eval_dict(event: ADEvent) -> dict[str, Any]:
    context = [_arrange(c, {**_times(c), "ad": c.text}, optional=("ad",))
               for c in event.context]
    fields = {**_times(event), "ad": event.text, "context": context,
              "prob": _chars(event, "prob", event.refined, _MAD_CHAR)}
    return _arrange(event, fields, optional=("context",))


def write_mad_eval(path: str | Path, events: Iterable[ADEvent]) -> Path:
    """Events -> MAD eval JSON ``{movie_id: [record...]}``, movies in first-seen order."""
    movies: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        movies.setdefault(event.video_id, []).append(_mad_eval_dict(event))
    return _write_json(path, movies)


def _clip_dict(event: ADEvent) -> dict[str, Any]:
    scores = [_EMPTY_SLOT if c.score is None else c.score for c in event.candidates]
    fields: dict[str, Any] = {
        **_times(event), "ad": event.text,
        "char": _chars(event, "char", event.named, _CLIP_NAMED),
        "char_in_ad": list(event.named_short),
    }
    if event.context:  # the format holds one previous AD
        ctx = event.context[0]
        fields["content"] = _arrange(ctx, {**_times(ctx), "ad": ctx.text})
    fields.update({
        "char_pred": _chars(event, "char_pred", event.candidates, _CLIP_CANDIDATE),
        "key_name": event.video_id,
        "prob": _chars(event, "prob", event.refined, _CLIP_CANDIDATE),
        "prob_data": (scores + list(_layout(event).get("prob_data_pad", [])))[
            :_layout(event).get("prob_data_len")],
    })
    return _arrange(event, fields)


def write_clip_eval(path: str | Path, dataset: str, events: Iterable[ADEvent]) -> Path:
    """Events -> CMD-AD / TV-AD eval JSON ``{dataset: [record...]}``."""
    if dataset not in CLIP_DATASETS:
        raise ValueError(f"dataset must be one of {CLIP_DATASETS}, got {dataset!r}")
    return _write_json(path, {dataset: [_clip_dict(e) for e in events]})
