"""Choosing the describer from ``--describer``, and the on-screen text it may be given.

``uniad`` (a trained checkpoint, the default), ``vlm:PATH`` (a local image-text-to-text
model) or ``openai:URL`` (an OpenAI-compatible server). ``--read-text`` says what the
on-screen text does: ``off``; ``cues`` (read out in gaps); ``context`` (told to the
describer); ``both``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, get_args

from uniad.errors import UniADError
from uniad.narrate.describe.cast import read_cast
from uniad.narrate.timeline.dialogue import Line
from uniad.narrate.timeline.screen_text import ScreenText

log = logging.getLogger(__name__)

DescriberKind = Literal["uniad", "vlm", "openai"]
ReadText = Literal["off", "cues", "context", "both"]
READ_TEXT: tuple[str, ...] = get_args(ReadText)


def parse_describer(spec: str) -> tuple[DescriberKind, str | None]:
    """``"uniad"`` -> ("uniad", None); ``"vlm:PATH"``, ``"openai:URL"`` -> (kind, target)."""
    kind, _, target = spec.partition(":")
    if kind == "uniad" and not target:
        return "uniad", None
    if kind in ("vlm", "openai") and target:
        return kind, target  # type: ignore[return-value]
    raise UniADError(f"--describer {spec!r}: expected uniad, vlm:MODEL_FOLDER or "
                     "openai:URL (e.g. openai:http://127.0.0.1:8000/v1)")


def check_read_text(mode: str) -> None:
    if mode not in READ_TEXT:
        raise UniADError(f"--read-text {mode!r}: expected one of {', '.join(READ_TEXT)}")


def read_screen_text(video: Path, dialogue: list[Line], languages: str = "eng",
                     fps: float = 1.0, min_confidence: float = 60.0) -> list[ScreenText]:
    """OCR the video and keep the text worth reading (see :mod:`uniad.narrate.timeline.screen_text`)."""
    from uniad.narrate.media.ocr import TesseractOCR, scan_video
    from uniad.narrate.timeline.screen_text import track_texts

    ocr = TesseractOCR(languages, min_confidence=min_confidence)
    texts = track_texts(scan_video(video, ocr, fps=fps), dialogue=dialogue)
    log.info("on-screen text: %d text(s) %s", len(texts),
             "; ".join(f"{t.start:.0f}s {t.kind} {t.text!r}" for t in texts[:10]))
    return texts


def prompted_describer(kind: DescriberKind, target: str, video: Path, cast: Path | None,
                       dialogue: list[Line], screen_texts: list[ScreenText], *,
                       model_name: str | None = None, api_key: str | None = None,
                       frames: int = 4, portraits: bool = True, device: str = "cpu"):
    """A ``vlm:`` or ``openai:`` describer for ``video`` with the portraits of the ``cast``
    file (None: no cast, as in evaluation, which sets names per event)."""
    from uniad.narrate.describe.prompted import portraits_of

    members = portraits_of(Path(cast), read_cast(cast)) if cast is not None else []
    common = dict(cast=members, dialogue=dialogue,
                  screen_texts=screen_texts, frames=frames, portraits=portraits)
    if kind == "openai":
        from uniad.narrate.describe.openai import OpenAIDescriber

        return OpenAIDescriber(target, video, model=model_name, api_key=api_key, **common)
    from uniad.narrate.describe.vlm import VLMDescriber

    return VLMDescriber(target, video, device=device, **common)
