"""What the two vision-language describers share: gathering a slot's context.

:class:`PromptedDescriber` turns ``(slot, max_words, previous)`` into a
:class:`~uniad.narrate.describe.prompt.SlotContext` (frames decoded from the video, the cast with
one portrait each, the previous ADs, the dialogue around the slot, the on-screen text),
builds the one prompt, and hands it to :meth:`answer`, the only thing a local model
(:mod:`uniad.narrate.describe.vlm`) and a server (:mod:`uniad.narrate.describe.openai`) do
differently. Neither needs a UniAD checkpoint or features.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import time
from collections.abc import Sequence
from pathlib import Path

from uniad.narrate.core import Description, NarratedAD, Slot
from uniad.narrate.describe.cast import CastMember, _open_photo
from uniad.narrate.describe.prompt import (
    CastPortrait, Part, SlotContext, build_prompt, names_in, parse_answer,
)
from uniad.narrate.media.frames import frames_between
from uniad.narrate.timeline.dialogue import Line, around
from uniad.narrate.timeline.screen_text import ScreenText, texts_during


def portraits_of(cast_file: Path, members: Sequence[CastMember],
                 size: int = 224) -> list[CastPortrait]:
    """Each member's name, label and first photo (shrunk: a portrait needs few pixels)."""
    out = []
    for m in members:
        c = m.character
        image = _open_photo(cast_file, m, m.photos[0])
        image.thumbnail((size, size))
        role = c.role.strip()
        details = [d for d in (role if role != c.display_name else "",
                               f"played by {c.name.strip()}" if c.name.strip() else "") if d]
        label = c.display_name + (f" ({', '.join(details)})" if details else "")
        out.append(CastPortrait(c.display_name, label, image))
    return out


class PromptedDescriber(ABC):
    """A describer that shows a VLM frames and context; subclasses implement :meth:`answer`.

    ``frames`` images per slot, shorter side ``frame_size``; the last ``context_ads``
    ADs; cast portraits as images when ``portraits`` (turn off for a server that accepts
    few images per request).
    """

    kind = "prompted"
    avoids = False  # the prompt has no place for texts to avoid: asking again repeats

    def __init__(self, video: str | Path, cast: Sequence[CastPortrait] = (),
                 dialogue: Sequence[Line] = (), screen_texts: Sequence[ScreenText] = (),
                 frames: int = 4, frame_size: int = 448, context_ads: int = 3,
                 portraits: bool = True) -> None:
        self.video = Path(video)
        self.cast = list(cast)
        self.dialogue = list(dialogue)
        self.screen_texts = list(screen_texts)
        self.frames = frames
        self.frame_size = frame_size
        self.context_ads = context_ads
        self.portraits = portraits
        self.seconds: list[float] = []  # per call, for the benchmark and the logs
        self._frames: tuple[tuple[Path, Slot], list] | None = None  # last slot's (re-asks)

    def context(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD]) -> SlotContext:
        before, after = around(self.dialogue, slot.start, slot.end)
        earlier = list(previous)[-self.context_ads:] if self.context_ads else []
        key = (self.video, slot)
        if self._frames is None or self._frames[0] != key:  # a re-ask reuses them
            images = frames_between(self.video, slot.start, slot.end, self.frames, self.frame_size)
            self._frames = (key, images)
        return SlotContext(
            frames=self._frames[1],
            max_words=max_words, cast=self.cast, previous=[ad.text for ad in earlier],
            dialogue_before=before, dialogue_after=after,
            screen_text=[t.text for t in texts_during(self.screen_texts, slot)])

    @abstractmethod
    def answer(self, system: str, parts: list[Part], max_words: int) -> str:
        """The model's raw answer to the prompt (a local VLM or a chat server)."""

    def __call__(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD],
                 avoid: Sequence[str] = ()) -> Description:
        clock = time.perf_counter()
        system, parts = build_prompt(self.context(slot, max_words, previous), self.portraits)
        raw = self.answer(system, parts, max_words)
        self.seconds.append(time.perf_counter() - clock)
        text = parse_answer(raw)
        named = names_in(text, [c.name for c in self.cast])
        return Description(text, named, {"describer": self.kind, "answer": raw,
                                         "skipped": not text})
