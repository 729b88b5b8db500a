"""Choosing the describer from ``--describer``, and the on-screen text it may be given.

``uniad`` (a trained checkpoint, the default), ``vlm:PATH`` (a local image-text-to-text
model) or ``openai:URL`` (an OpenAI-compatible server). ``--read-text`` says what the
on-screen text does: ``off``; ``cues`` (read out in gaps); ``context`` (told to the
describer); ``both``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from uniad.config import DescriberConfig
from uniad.narrate.describe.cast import read_cast
from uniad.narrate.media.ocr import FrameText
from uniad.narrate.timeline.dialogue import Line
from uniad.narrate.timeline.screen_text import ScreenText, track_texts

log = logging.getLogger(__name__)


def read_screen_text(frames: list[FrameText], dialogue: list[Line]) -> list[ScreenText]:
    """The on-screen text worth reading among the OCR readings ``frames`` (see
    :mod:`uniad.narrate.timeline.screen_text`)."""
    texts = track_texts(frames, dialogue=dialogue)
    log.info("on-screen text: %d text(s) %s", len(texts),
             "; ".join(f"{t.start:.0f}s {t.kind} {t.text!r}" for t in texts[:10]))
    return texts


def check_describer(settings: DescriberConfig) -> None:
    """What the describer needs before the film is decoded: a ``vlm:`` folder that holds a
    model, an ``openai:`` model name."""
    if settings.kind == "vlm":
        from uniad.narrate.describe.vlm import check_vlm_folder

        check_vlm_folder(settings.target or "")
    elif settings.kind == "openai":
        from uniad.narrate.describe.openai import model_name

        model_name(settings.target or "", settings.describer_model)


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
