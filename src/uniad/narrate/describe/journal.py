"""No lost describer work: every answer is journaled as it arrives and reused on a rerun.

A describer call can be the expensive part of a narration (a paid API request, seconds of
a local model), and a narration can stop anywhere after it: a crash, a full disk, a bad
answer, Ctrl-C, ``kill -9``. :class:`JournaledDescriber` wraps the describer and appends
each answer to ``describer.jsonl`` in the output folder (one JSON line, fsynced before the
answer is used), keyed by everything that determines it: the describer's identity (kind,
model, checkpoint, settings) and the request (slot, word budget, previous ADs, texts to
avoid). Narration is deterministic given its answers, so a rerun into the same folder
makes the same requests in the same order and reads every answer already paid for from
the journal; only the rest reach the describer. The file is only ever appended to; a line
torn by a kill is skipped when read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from uniad.io import AppendLog
from uniad.narrate.core import Describer, Description, NarratedAD, Slot

log = logging.getLogger(__name__)

JOURNAL_FILE = "describer.jsonl"


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class JournaledDescriber:
    """``describe`` with its answers journaled in ``path`` and replayed from it.

    ``identity`` names the describer and every setting that changes its answers; answers
    journaled under another identity are kept in the file but never replayed."""

    def __init__(self, describe: Describer, path: str | Path, identity: dict[str, Any]) -> None:
        self.describe = describe
        self.avoids = getattr(describe, "avoids", False)
        self.path = Path(path)
        self.identity = _digest(identity)
        self.answers = self._read()
        self.replayed = self.asked = 0
        self._log: AppendLog | None = None

    def _read(self) -> dict[str, Description]:
        answers: dict[str, Description] = {}
        if not self.path.is_file():
            return answers
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    answer = Description(str(entry["text"]), tuple(entry["characters"]),
                                         dict(entry["meta"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a kill, or not ours: the request is asked again
                answers[entry["key"]] = answer
        return answers

    def key(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD],
            avoid: Sequence[str]) -> str:
        return _digest([self.identity, slot.start, slot.end, max_words,
                        [(ad.start, ad.end, ad.text) for ad in previous], list(avoid)])

    def __call__(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD],
                 avoid: Sequence[str] = ()) -> Description:
        key = self.key(slot, max_words, previous, avoid)
        if key in self.answers:
            self.replayed += 1
            return self.answers[key]
        found = (self.describe(slot, max_words, previous, avoid=avoid) if avoid
                 else self.describe(slot, max_words, previous))
        self.asked += 1
        if self._log is None:
            self._log = AppendLog(self.path)
        self._log.append([json.dumps(
            {"key": key, "slot": [slot.start, slot.end], "max_words": max_words,
             "text": found.text, "characters": list(found.characters), "meta": found.meta},
            ensure_ascii=False, default=str)])
        self.answers[key] = found
        return found

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
        if self.replayed:
            log.info("%d describer answer(s) reused from %s, %d asked now", self.replayed,
                     self.path, self.asked)
