"""The AD track being edited: ``ad.json`` itself, with an undo/redo history kept on disk.

Every change is one whole new version of the ``ad.json`` payload. It is written first as a
snapshot under ``.review/`` (``snap-<revision>.json``), then to ``ad.json``, then the
history index (``.review/history.json``: the list of snapshots, the undo position, the
revision), each through :mod:`uniad.io`'s atomic writer. So a closed tab or a crash loses
nothing: at worst the newest snapshot is an orphan and ``ad.json`` still holds the
version before it. If ``ad.json`` no longer equals the history's current snapshot (edited
by hand, another tool, a crash between the two writes), the file wins and becomes a new
history entry: nothing on disk is ever silently overwritten with an older version. Undo
reaches the newest :data:`KEEP_VERSIONS` versions; older snapshots are deleted.

The ``revision`` grows with every change (edit, undo, redo, render, outside change). A
client sends back the revision it last saw; a different one is a :class:`StaleRevision`
(HTTP 409): another tab or window changed the track since. One process at a time owns
the folder (an advisory ``flock`` on ``.review/lock``), so two servers cannot interleave.

Cues are the plain dicts of ``ad.json`` (start, end, text, characters, meta), kept in time
order; an edit drops the facts a narration computed for the old text or times (WPM, fit,
rate...) and marks the cue ``meta.edited``, so the file never claims stale numbers.
"""

from __future__ import annotations

import copy
import fcntl
import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uniad.errors import DataError, UniADError
from uniad.io import write_json
from uniad.narrate.deliver.render import edited_cues, read_ad_json

HISTORY_DIR = ".review"
# Facts of the narrated cue that an edit makes untrue (the page shows live ones instead).
DERIVED_META = frozenset({"words", "wpm", "fit", "rate_wpm", "tempo", "realistic",
                          "pause_s", "word_budget"})
MIN_CUE_S = 0.1
KEEP_VERSIONS = 500  # undo reaches this far back; older snapshots are deleted

Payload = dict[str, Any]


class StaleRevision(UniADError):
    """The client edited an older revision than the folder holds (another tab won)."""

    def __init__(self, sent: int, current: int) -> None:
        self.current = current
        super().__init__(f"the track changed elsewhere (revision {current}, this page had "
                         f"{sent}): reload to see the newest version")


class EditError(UniADError):
    """An edit that cannot apply (bad cue number, times out of order, empty text...)."""


def read_payload(path: Path) -> Payload:
    """``ad.json`` checked enough to edit: an ``ads`` list of cues with start < end, text."""
    payload = read_ad_json(path)
    edited_cues(payload, path)  # render's own checks: an 'ads' list, start < end, text
    payload.setdefault("info", {})
    for ad in payload["ads"]:
        ad.setdefault("characters", [])
        ad.setdefault("meta", {})
    payload["ads"].sort(key=lambda a: float(a["start"]))
    return payload


@dataclass(frozen=True)
class Entry:
    """One version in the history: its snapshot's revision and what made it."""

    revision: int
    label: str


class Draft:
    """``ad.json`` of ``folder`` under edit (see the module docstring)."""

    def __init__(self, folder: str | Path, duration: float, keep: int = KEEP_VERSIONS) -> None:
        self.folder, self.keep = Path(folder), keep
        self.path = self.folder / "ad.json"
        self.duration = duration
        self.store = self.folder / HISTORY_DIR
        self.store.mkdir(exist_ok=True)
        self._lock = self._take_lock()
        self.payload = read_payload(self.path)
        self.entries: list[Entry] = []
        self.position = -1
        self.revision = 0
        self._load_history()
        self._seen = self._stamp()
        if not self.entries or self._snapshot(self.entries[self.position]) != self.payload:
            self._record(self.payload, "opened" if not self.entries else "changed on disk")

    # -- the folder ---------------------------------------------------------------------
    def _take_lock(self) -> int:
        fd = os.open(self.store / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UniADError(f"{self.folder} is already open in another `uniad review` "
                             "(close it first: two editors would overwrite each other)") from None
        return fd

    def close(self) -> None:
        """Release the folder for another editor."""
        os.close(self._lock)

    def _stamp(self) -> tuple[int, int]:
        st = self.path.stat()
        return st.st_mtime_ns, st.st_size

    def _snapshot(self, entry: Entry) -> Payload | None:
        path = self.store / f"snap-{entry.revision:06d}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def _load_history(self) -> None:
        index = self.store / "history.json"
        if not index.is_file():
            return
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            self.entries = [Entry(int(e["revision"]), str(e["label"])) for e in data["entries"]]
            self.position, self.revision = int(data["position"]), int(data["revision"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(index, f"unreadable edit history ({exc}); move the {HISTORY_DIR} "
                            "folder away to start a new one (ad.json is kept)") from exc
        if not -1 <= self.position < len(self.entries):
            raise DataError(index, f"position {self.position} outside the history",
                            field="position")

    def _write(self, payload: Payload) -> None:
        write_json(self.path, payload)
        self._seen = self._stamp()
        write_json(self.store / "history.json", {
            "revision": self.revision, "position": self.position,
            "entries": [{"revision": e.revision, "label": e.label} for e in self.entries]})

    def _record(self, payload: Payload, label: str) -> None:
        """Make ``payload`` the newest version (dropping any redo branch) and write it."""
        self.revision += 1
        write_json(self.store / f"snap-{self.revision:06d}.json", payload)
        del self.entries[self.position + 1:]
        self.entries.append(Entry(self.revision, label))
        forgotten, self.entries = self.entries[:-self.keep], self.entries[-self.keep:]
        self.position = len(self.entries) - 1
        self.payload = payload
        self._write(payload)
        for entry in forgotten:  # after the index no longer names them
            (self.store / f"snap-{entry.revision:06d}.json").unlink(missing_ok=True)

    def sync(self) -> bool:
        """Take in a change made to ``ad.json`` outside this editor; True if there was one."""
        if self._stamp() == self._seen:
            return False
        on_disk = read_payload(self.path)
        self._seen = self._stamp()
        if on_disk == self.payload:
            return False
        self._record(on_disk, "changed on disk")
        return True

    # -- what clients call --------------------------------------------------------------
    @property
    def cues(self) -> list[dict[str, Any]]:
        return self.payload["ads"]

    @property
    def can_undo(self) -> bool:
        return self.position > 0

    @property
    def can_redo(self) -> bool:
        return self.position < len(self.entries) - 1

    def check_revision(self, sent: int) -> None:
        self.sync()
        if sent != self.revision:
            raise StaleRevision(sent, self.revision)

    def apply(self, sent: int, op: str, **args: Any) -> str:
        """Apply edit ``op`` (a name in :data:`OPERATIONS`) at revision ``sent``; its label."""
        self.check_revision(sent)
        if op not in OPERATIONS:
            raise EditError(f"unknown edit {op!r}: use one of {', '.join(OPERATIONS)}")
        payload = copy.deepcopy(self.payload)
        edit = OPERATIONS[op]
        try:
            inspect.signature(edit).bind(self, payload["ads"], **args)
        except TypeError as exc:  # a missing or unknown field of the request
            raise EditError(f"edit {op!r}: {exc}") from None
        label = edit(self, payload["ads"], **args)
        payload["ads"].sort(key=lambda a: float(a["start"]))
        self._record(payload, label)
        return label

    def reload(self, label: str) -> None:
        """Take ``ad.json`` as rewritten by this process (a render) as a new version."""
        self._record(read_payload(self.path), label)

    def step(self, sent: int, back: bool) -> str:
        """Undo (``back``) or redo one version; returns what was undone/redone."""
        self.check_revision(sent)
        if not (self.can_undo if back else self.can_redo):
            raise EditError(f"nothing to {'undo' if back else 'redo'}")
        label = self.entries[self.position].label if back else \
            self.entries[self.position + 1].label
        self.position += -1 if back else 1
        payload = self._snapshot(self.entries[self.position])
        if payload is None:
            raise DataError(self.store, f"snapshot of revision "
                            f"{self.entries[self.position].revision} is missing")
        self.revision += 1
        self.payload = payload
        self._write(payload)
        return label

    # -- the edits (each returns a label for the history and the live region) -------------
    def cue_at(self, ads: list[dict[str, Any]], index: Any) -> dict[str, Any]:
        if not isinstance(index, int) or not 0 <= index < len(ads):
            raise EditError(f"no cue {index!r} (there are {len(ads)})")
        return ads[index]

    def checked_times(self, start: Any, end: Any) -> tuple[float, float]:
        try:
            start, end = round(float(start), 3), round(float(end), 3)
        except (TypeError, ValueError):
            raise EditError(f"times must be numbers of seconds, got {start!r}, {end!r}") from None
        if not 0 <= start < end <= self.duration + 1e-6:
            raise EditError(f"times must satisfy 0 <= start < end <= {self.duration:.3f} "
                            f"(the video's length), got {start}..{end}")
        if end - start < MIN_CUE_S:
            raise EditError(f"a cue lasts at least {MIN_CUE_S} s, got {end - start:.3f} s")
        return start, end


def _text(value: Any) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise EditError("a description needs text (delete the cue to remove it)")
    return text


def _edited(cue: dict[str, Any]) -> dict[str, Any]:
    cue["meta"] = {k: v for k, v in cue.get("meta", {}).items() if k not in DERIVED_META}
    cue["meta"]["edited"] = True
    return cue


def _set_text(draft: Draft, ads: list, index: int, text: str) -> str:
    _edited(draft.cue_at(ads, index))["text"] = _text(text)
    return f"text of cue {index + 1}"


def _set_times(draft: Draft, ads: list, index: int, start: float, end: float) -> str:
    cue = _edited(draft.cue_at(ads, index))
    cue["start"], cue["end"] = draft.checked_times(start, end)
    return f"times of cue {index + 1}"


def _split_text(text: str) -> tuple[str, str]:
    """Two halves of ``text``: at the sentence end nearest its middle, else mid-word-count."""
    words = text.split()
    if len(words) < 2:
        raise EditError("a one-word description cannot be split")
    ends = [i + 1 for i, w in enumerate(words[:-1]) if w.endswith((".", "!", "?"))]
    cut = min(ends, key=lambda i: abs(i - len(words) / 2)) if ends else len(words) // 2
    return " ".join(words[:cut]), " ".join(words[cut:])


def _split(draft: Draft, ads: list, index: int) -> str:
    cue = _edited(draft.cue_at(ads, index))
    first, second = _split_text(cue["text"])
    start, end = float(cue["start"]), float(cue["end"])
    middle = round(start + (end - start) * len(first.split()) / len(cue["text"].split()), 3)
    draft.checked_times(start, middle), draft.checked_times(middle, end)
    cue["text"], cue["end"] = first, middle
    cue["meta"].pop("gap", None)  # each half's room is its own span, grown into free time
    ads.append({**copy.deepcopy(cue), "start": middle, "end": end, "text": second})
    return f"split of cue {index + 1}"


def _merge(draft: Draft, ads: list, index: int) -> str:
    cue = _edited(draft.cue_at(ads, index))
    if index + 1 >= len(ads):
        raise EditError(f"cue {index + 1} is the last: nothing to merge it with")
    following = ads.pop(index + 1)
    cue["text"] = f"{cue['text']} {following['text']}"
    cue["end"] = max(float(cue["end"]), float(following["end"]))
    cue["characters"] = list(dict.fromkeys([*cue["characters"], *following["characters"]]))
    return f"merge of cues {index + 1} and {index + 2}"


def _add(draft: Draft, ads: list, start: float, end: float, text: str) -> str:
    start, end = draft.checked_times(start, end)
    ads.append({"start": start, "end": end, "text": _text(text), "characters": [],
                "meta": {"edited": True, "added": True}})
    return f"new cue at {start:.2f} s"


def _delete(draft: Draft, ads: list, index: int) -> str:
    draft.cue_at(ads, index)
    ads.pop(index)
    return f"deletion of cue {index + 1}"


def _extended(draft: Draft, ads: list, index: int, on: bool) -> str:
    cue = _edited(draft.cue_at(ads, index))
    cue["meta"]["extended"] = bool(on)
    return f"cue {index + 1} {'marked' if on else 'unmarked'} as extended"


OPERATIONS: dict[str, Callable[..., str]] = {
    "text": _set_text, "times": _set_times, "split": _split, "merge": _merge, "add": _add,
    "delete": _delete, "extended": _extended,
}
