"""Choosing the describer from ``--describer``, and the on-screen text it may be given.

``uniad`` (a trained checkpoint, the default), ``vlm:PATH`` (a local image-text-to-text
model) or ``openai:URL`` (an OpenAI-compatible server). ``--read-text`` says what the
on-screen text does: ``off``; ``cues`` (read out in gaps); ``context`` (told to the
describer); ``both``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from uniad.config import DescriberConfig, ScreenTextConfig
from uniad.narrate.describe.cast import read_cast
from uniad.narrate.timeline.dialogue import Line
from uniad.narrate.timeline.screen_text import ScreenText

log = logging.getLogger(__name__)


def read_screen_text(video: Path, dialogue: list[Line],
                     settings: ScreenTextConfig) -> list[ScreenText]:
    """OCR the video and keep the text worth reading (see :mod:`uniad.narrate.timeline.screen_text`)."""
    from uniad.narrate.media.ocr import TesseractOCR, scan_video
    from uniad.narrate.timeline.screen_text import track_texts

    ocr = TesseractOCR(settings.ocr_languages, min_confidence=settings.ocr_min_confidence)
    texts = track_texts(scan_video(video, ocr, fps=settings.ocr_fps), dialogue=dialogue)
    log.info("on-screen text: %d text(s) %s", len(texts),
             "; ".join(f"{t.start:.0f}s {t.kind} {t.text!r}" for t in texts[:10]))
    return texts


def prompted_describer(settings: DescriberConfig, video: Path, cast: Path | None,
                       dialogue: list[Line], screen_texts: list[ScreenText], *,
                       device: str = "cpu"):
    """The ``vlm:`` or ``openai:`` describer ``settings`` name, for ``video`` with the
    portraits of the ``cast`` file (None: no cast, as in evaluation, which sets names per
    event)."""
    from uniad.narrate.describe.prompted import portraits_of

    members = portraits_of(Path(cast), read_cast(cast)) if cast is not None else []
    common = dict(cast=members, dialogue=dialogue, screen_texts=screen_texts,
                  frames=settings.frames_per_slot, portraits=settings.portraits)
    if settings.kind == "openai":
        from uniad.narrate.describe.openai import OpenAIDescriber

        return OpenAIDescriber(settings.target, video, model=settings.describer_model,
                               api_key=settings.api_key, **common)
    from uniad.narrate.describe.vlm import VLMDescriber

    return VLMDescriber(settings.target, video, device=device, **common)
