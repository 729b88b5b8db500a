"""One output folder under review: its draft, video, dialogue, voice, cast and render.

:func:`open_session` checks everything before the server starts (a folder that is not a
narration output, a missing video, an unknown voice fail there, each with one line), so
the page never meets a half-usable folder. :meth:`Session.state` is everything the page
shows, verdicts included; :meth:`Session.render` rebuilds the deliverables with the very
function ``uniad render`` runs (:func:`~uniad.narrate.edit.render_edited`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from uniad.config import NarrationConfig
from uniad.errors import DataError, UniADError
from uniad.narrate.deliver.authoring.checks import CachedVoice, SpeechCheck, cast_names, judge
from uniad.narrate.deliver.authoring.draft import Draft, read_payload
from uniad.narrate.describe.cast import read_cast
from uniad.narrate.deliver.render import edited_cues, render_edited, widen_gaps
from uniad.narrate.deliver.fit import Fitted
from uniad.narrate.timeline.gaps import speech_spans
from uniad.narrate.deliver.speech import make_engine
from uniad.narrate.core import NarratedAD
from uniad.narrate.deliver.tracks import vtt_document
from uniad.narrate.media.video import probe

log = logging.getLogger(__name__)

Interval = tuple[float, float]


def _settings(info: dict[str, Any], path: Path) -> NarrationConfig:
    """The run's recorded settings (voice, fitting, ducking), checked; defaults where none."""
    recorded = info.get("settings") or {}
    known = {f.name for f in fields(NarrationConfig)}
    try:
        return NarrationConfig(**{k: v for k, v in recorded.items() if k in known}).validate(
            lambda f: f"info.settings.{f}")
    except UniADError as exc:
        raise DataError(path, str(exc), field="info.settings") from None


def _cast(info: dict[str, Any]) -> frozenset[str] | None:
    """The names the run's cast allows, or None when the cast file is not at hand."""
    cast = info.get("cast")
    if not cast or not Path(cast).is_file():
        return None
    try:
        return cast_names(m.character for m in read_cast(cast))
    except DataError as exc:
        log.warning("cast names not checked: %s", exc)
        return None


@dataclass
class Session:
    """A folder under review (built by :func:`open_session`)."""

    folder: Path
    video: Path
    duration: float
    dialogue: list[Interval]
    settings: NarrationConfig
    draft: Draft
    speech: SpeechCheck
    cast: frozenset[str] | None

    def rooms(self) -> list[Interval]:
        """The time a render gives each cue, as render itself reads ``ad.json``."""
        edited = widen_gaps(edited_cues(self.draft.payload, self.draft.path), self.dialogue,
                            self.duration, self.settings.pad_s)
        by_start = {round(c.gap.start, 3): (c.gap.start, c.gap.end) for c in edited}
        return [by_start.get(round(float(c["start"]), 3), (float(c["start"]), float(c["end"])))
                for c in self.draft.cues]

    def fitted(self, index: int) -> Fitted | None:
        """What a render will speak for cue ``index`` (None: nothing, see SpeechCheck)."""
        cue, (start, end) = self.draft.cues[index], self.rooms()[index]
        return self.speech(cue["text"], start, end, bool(cue["meta"].get("extended")))

    def state(self) -> dict[str, Any]:
        """The track, each cue's verdict and what the page needs around them."""
        cues = self.draft.cues
        verdicts = judge(cues, self.rooms(), self.dialogue, self.speech, self.cast)
        return {
            "revision": self.draft.revision, "can_undo": self.draft.can_undo,
            "can_redo": self.draft.can_redo, "duration": self.duration,
            "dialogue": self.dialogue, "voice": self.speech.voice.name,
            "duck_db": self.settings.duck_db, "cast_known": self.cast is not None,
            "cues": [{"start": c["start"], "end": c["end"], "text": c["text"],
                      "extended": bool(c["meta"].get("extended")), **v.to_dict()}
                     for c, v in zip(cues, verdicts)],
        }

    def vtt(self) -> str:
        """The draft as WebVTT: the page's ``descriptions`` track follows every edit."""
        return vtt_document([NarratedAD(float(c["start"]), float(c["end"]), c["text"])
                             for c in self.draft.cues])

    def render(self) -> dict[str, Path]:
        """Every deliverable, rebuilt from the current ``ad.json`` as ``uniad render`` does,
        written into the folder; the rewritten ``ad.json`` becomes a history entry."""
        paths = render_edited(self.draft.path, self.folder, video=self.video,
                              narration=self.settings)
        self.draft.reload("render")
        return paths

    def close(self) -> None:
        self.draft.close()


def open_session(folder: str | Path, video: str | Path | None = None) -> Session:
    """Check ``folder`` (a ``uniad narrate``/``render`` output) and load it for editing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "folder not found (give a `uniad narrate` or `uniad render` "
                        "output folder)")
    ad_json = folder / "ad.json"
    if not ad_json.is_file():
        raise DataError(folder, "not a narration output: it has no ad.json (run `uniad "
                        "narrate` or `uniad render` into it first)")
    info = read_payload(ad_json)["info"]
    video = Path(video or info.get("video") or "")
    if not str(video) or str(video) == ".":
        raise DataError(ad_json, "records no video: pass --video", field="info.video")
    if not video.is_file():
        raise DataError(video, "video file not found (recorded in ad.json; pass --video "
                        "if it moved)")
    settings = _settings(info, ad_json)
    meta = probe(video)
    dialogue = ([(float(a), float(b)) for a, b in info["dialogue"]] if "dialogue" in info
                else speech_spans(video, meta, settings, info.get("subtitles")))
    voice = CachedVoice(make_engine(settings.voice))
    draft = Draft(folder, meta.duration)
    return Session(folder, video, meta.duration, dialogue, settings, draft,
                   SpeechCheck(voice, settings), _cast(info))
