"""UniAD as a :class:`~uniad.narrate.core.Describer`: one slot -> one Sample -> one AD.

Each slot becomes the same kind of :class:`Sample` evaluation feeds the model: the slot's
frames from the feature store sampled with ``data.eval_sampling`` to ``data.video_length``,
the previous narrated slot(s) as previous video (``data.previous_clips``), the ADs
narrated so far as context text (``data.context_ads``, oldest first) and the cast as
characters. There is no face recogniser, so the cast is either given whole or, with
``max_characters``, cut to the k members whose exemplar is most similar (cosine) to the
clip's mean frame: a cheap stand-in for "who is on screen" on the same CLIP features.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from uniad.data.charbank import CharacterBank
from uniad.data.features import FeatureStore
from uniad.data.samples import assemble_sample, clip_tensor
from uniad.data.schema import ADEvent, CharacterEntry, Sample
from uniad.narrate.core import Description, NarratedAD, Slot
from uniad.narrate.describe.prompt import TOKENS_PER_WORD
from uniad.narrate.timeline.screen_text import ScreenText, texts_during

log = logging.getLogger(__name__)


class UniADDescriber:
    """Describe slots of ``video_id`` with ``model`` (a :class:`~uniad.model.uniad.UniAD`)."""

    avoids = True  # ``avoid`` becomes bad_words_ids

    def __init__(
        self,
        model: Any,
        store: FeatureStore,
        video_id: str,
        bank: CharacterBank,
        max_characters: int | None = None,
        screen_texts: Sequence[ScreenText] = (),
    ) -> None:
        self.model = model
        self.store = store
        self.video_id = video_id
        self.data = model.config.data
        self.max_characters = max_characters
        self.screen_texts = list(screen_texts)
        if self.screen_texts and not model.config.model.use_screen_text:
            log.warning("on-screen text is not given to UniAD: this checkpoint was not set up "
                        "for it (model.use_screen_text is off); use --read-text cues")
        self._generated: dict[str, list[int]] = {}  # text -> the ids it was decoded from
        cast = bank.cast(video_id)
        self.cast = [CharacterEntry(c, bank.exemplar(video_id, c.id).to(torch.float32))
                     for c in cast]
        self._name_patterns = [
            (c.display_name, re.compile(rf"\b{re.escape(c.display_name)}\b"))
            for c in cast if c.display_name
        ]

    def clip(self, start: float, end: float) -> torch.Tensor:
        """The span's frames sampled as in evaluation (deterministic)."""
        return clip_tensor(self.store, self.video_id, start, end, self.data, self.data.eval_sampling)

    def characters_for(self, clip: torch.Tensor) -> list[CharacterEntry]:
        """All cast, or the ``max_characters`` nearest to the clip's mean frame (cosine)."""
        if self.max_characters is None or len(self.cast) <= self.max_characters:
            return list(self.cast)
        mean = torch.nn.functional.normalize(clip.float().mean(0), dim=-1)
        scores = [float(torch.nn.functional.normalize(e.exemplar.mean(0), dim=-1) @ mean)
                  for e in self.cast]
        top = np.argsort(scores)[::-1][: self.max_characters]
        return [self.cast[i] for i in sorted(top)]  # cast order kept: the prompt stays stable

    def sample(self, slot: Slot, previous: Sequence[NarratedAD]) -> Sample:
        video = self.clip(slot.start, slot.end)
        earlier = list(previous)[-self.data.previous_clips:] if self.data.previous_clips else []
        contexts = list(previous)[-self.data.context_ads:] if self.data.context_ads else []
        event = ADEvent(self.video_id, slot.start, slot.end, "",
                        uid=f"{self.video_id}#{slot.start:.3f}")
        return assemble_sample(event, self.store, self.data, self.data.eval_sampling,
                               previous=[(ad.start, ad.end) for ad in earlier],
                               context_texts=[ad.text for ad in contexts],
                               characters=self.characters_for(video), target=None, video=video,
                               screen_text=[t.text for t in texts_during(self.screen_texts, slot)])

    def banned_ids(self, avoid: Sequence[str]) -> list[list[int]]:
        """Token sequences generation must not produce: the ids this describer generated
        for each text to avoid (exact even where decoding is lossy), and the text
        tokenised at the start of the answer and after a space."""
        tokenizer = self.model.tokenizer
        banned = {tuple(self._generated[text]) for text in avoid if text in self._generated}
        banned |= {tuple(tokenizer(variant, add_special_tokens=False).input_ids)
                   for text in avoid if text.strip() for variant in (text, " " + text)}
        return [list(ids) for ids in sorted(banned) if ids]

    def __call__(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD],
                 avoid: Sequence[str] = ()) -> Description:
        """``avoid``: texts not to repeat word for word (the repeat guard re-asks with the
        previous AD here; Hugging Face's ``bad_words_ids`` bans each exact sequence)."""
        sample = self.sample(slot, previous)
        cap = self.model.config.generation.max_new_tokens
        max_new = max(1, min(cap, math.ceil(max_words * TOKENS_PER_WORD)))
        extra = {"bad_words_ids": self.banned_ids(avoid)} if avoid else {}
        ids = self.model.generate_ids([sample], max_new_tokens=max_new, **extra)[0]
        text = self.model.decode_text([ids])[0]
        self._generated[text] = ids
        named = tuple(name for name, pattern in self._name_patterns if pattern.search(text))
        given = [e.character.id for e in sample.characters]
        return Description(text, named, {"max_new_tokens": max_new, "characters_given": given})
