"""Track, dialogue and REFRAMED-layout files -> the segments the timed metrics score.

Formats, chosen by extension:
- ``.srt`` / ``.vtt``: one cue per subtitle; markup tags removed (as pysrt's
  ``text_without_tags``, which REFRAMED reads SRT with; JSON texts are kept as they are);
- ``.json``: our ``ad.json`` (``{"info": ..., "ads": [{"start", "end", "text"}, ...]}``),
  REFRAMED's segment JSON (``{"1": {"start", "end", "text"}, ...}``) or a plain list of
  such objects.
Texts are whitespace-normalised. Cues come back in REFRAMED's order: JSON by (start, end,
key), SRT/WebVTT by (start, end) in file order. Any problem is one :class:`DataError`
naming the file, the cue and the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uniad.errors import DataError
from uniad.eval.timed.gaps import Interval, merge_overlapping
from uniad.eval.timed.segments import Segment, normalize_text
from uniad.narrate.timeline.subtitles import read_subtitle_cues

TRACK_SUFFIXES = (".srt", ".vtt", ".json")
_TAG = re.compile(r"<[^>]*?>")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    key: str  # JSON key, or the 1-based position in the file

    def segment(self) -> Segment:
        return Segment(self.start, self.end, normalize_text(self.text))


def _time(path: Path, value: Any, record: str, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise DataError(path, f"not a number: {value!r}", record=record, field=name) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise DataError(path, f"must be a finite time >= 0, got {value!r}", record=record, field=name)
    return seconds


def _json_cues(path: Path) -> tuple[list[Cue], bool]:
    """Cues of a JSON track and whether they carry keys (REFRAMED segment JSON)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("ads"), list):
        records, keyed = [(str(n + 1), r) for n, r in enumerate(data["ads"])], False
    elif isinstance(data, list):
        records, keyed = [(str(n + 1), r) for n, r in enumerate(data)], False
    elif isinstance(data, dict):
        records, keyed = [(str(k), r) for k, r in data.items()], True
    else:
        raise DataError(path, "expected {\"ads\": [...]}, {\"1\": {start, end, text}, ...} or a list")
    cues = []
    for key, record in records:
        if not isinstance(record, dict):
            raise DataError(path, "expected an object with start, end and text", record=key)
        for name in ("start", "end", "text"):
            if name not in record:
                raise DataError(path, f"missing '{name}'", record=key, field=name)
        if not isinstance(record["text"], str):
            raise DataError(path, "text must be a string", record=key, field="text")
        cues.append(Cue(_time(path, record["start"], key, "start"),
                        _time(path, record["end"], key, "end"), record["text"], key))
    return cues, keyed


def _subtitle_cues(path: Path) -> list[Cue]:
    """SRT/WebVTT cues through narration's subtitle reader (BOMs, line-numbered errors);
    SRT markup is ours to drop, webvtt-py already drops WebVTT's."""
    cues = read_subtitle_cues(path)
    if path.suffix.lower() == ".srt":
        cues = [(a, b, _TAG.sub("", t)) for a, b, t in cues]
    return [Cue(a, b, t, str(n + 1)) for n, (a, b, t) in enumerate(cues)]


def read_cues(path: str | Path) -> tuple[list[Cue], bool]:
    """The cues of a track file and whether REFRAMED would order ties by their key."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _json_cues(path)
    if suffix in (".srt", ".vtt"):
        return _subtitle_cues(path), False
    raise DataError(path, f"unknown track format {suffix!r}: use .srt, .vtt or .json")


def ordered_cues(path: str | Path, *, reference: bool = False) -> list[Cue]:
    """A track's cues, times checked, in REFRAMED's order (keys kept for the layout's
    per-cue fields); see :func:`read_track`."""
    path = Path(path)
    cues, keyed = read_cues(path)
    for cue in cues:
        if cue.end < cue.start or (not reference and cue.end == cue.start):
            raise DataError(path, f"ends ({cue.end}) {'before' if reference else 'at or before'} "
                            f"it starts ({cue.start})", record=cue.key, field="end")
    if keyed or reference:  # REFRAMED stores every reference as segment JSON first
        return sorted(cues, key=lambda c: (c.start, c.end, c.key))
    return sorted(cues, key=lambda c: (c.start, c.end))


def read_track(path: str | Path, *, reference: bool = False) -> list[Segment]:
    """A generated (``reference=False``: every cue must last > 0 s) or reference track."""
    return [cue.segment() for cue in ordered_cues(path, reference=reference)]


def read_dialogue(path: str | Path) -> list[Interval]:
    """Dialogue intervals (SRT, WebVTT or JSON), overlapping lines merged."""
    return merge_overlapping([(s.start, s.end) for s in read_track(path, reference=True)])


def track_files(folder: str | Path) -> dict[str, Path]:
    """``stem -> file`` of the track files in a folder (one format per film)."""
    folder = Path(folder)
    out: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in TRACK_SUFFIXES:
            if path.stem in out:
                raise DataError(path, f"two tracks for film {path.stem!r} ({out[path.stem].name})")
            out[path.stem] = path
    if not out:
        raise DataError(folder, "no .srt, .vtt or .json track in this folder")
    return out
