"""The one prompt both vision-language describers (local ``vlm:`` and ``openai:``) send.

It follows UniAD's inputs and the AD guidelines (DCMP, Ofcom, Netflix) the way the
training-free systems do (AutoAD-Zero, Shot-by-shot): the cast by name, with a portrait
each when the model takes several images (the stand-in for UniAD's character exemplars);
the previous ADs (UniAD's context); the dialogue just before and after the slot; the text
read on screen; the frames; and the rules: at most N words, present tense, what is
visible only (no interpretation, no feelings guessed), names rather than "a man", and
the single word SKIP when nothing new is visible. The answer is cleaned by
:func:`parse_answer` and then checked like any description (budget, timing).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

SKIP = "SKIP"

# New tokens a describer may generate per word of its budget (UniAD's LLM and the VLMs):
# LLaMA-style tokenizers spend ~1.3-1.5 tokens per English word; 2 leaves room for
# punctuation and names, and the pipeline re-asks or cuts what still runs over.
TOKENS_PER_WORD = 2.0

SYSTEM = (
    "You are a professional audio describer. You write the audio description (AD) a "
    "narrator reads to blind and partially sighted viewers in a pause of the dialogue. "
    "Describe only what is visible in the frames: actions, people, places, objects. Use "
    "the present tense and plain words. Do not interpret, guess feelings or intentions, "
    "or repeat what the dialogue or earlier descriptions already said. Call characters by "
    "their names when you recognise them. Never exceed the word limit. If nothing new is "
    f"visible, answer with the single word {SKIP}."
)


@dataclass(frozen=True)
class Part:
    """A piece of the user message: text or one image."""

    text: str | None = None
    image: Image.Image | None = None


@dataclass(frozen=True)
class CastPortrait:
    """A character as the prompt presents it: ``Anna (Anna Berg, played by A. Okafor)``."""

    name: str
    label: str
    portrait: Image.Image | None = None


@dataclass
class SlotContext:
    """Everything the prompt for one slot says; the describers fill it, the builder
    writes it."""

    frames: list[Image.Image]
    max_words: int
    cast: list[CastPortrait] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)  # earlier ADs, oldest first
    dialogue_before: list[str] = field(default_factory=list)
    dialogue_after: list[str] = field(default_factory=list)
    screen_text: list[str] = field(default_factory=list)


def build_prompt(ctx: SlotContext, portraits: bool = True) -> tuple[str, list[Part]]:
    """The system text and the user message's parts (in reading order) for one slot."""
    parts: list[Part] = []
    if ctx.cast:
        parts.append(Part("Characters in this film:"))
        for member in ctx.cast:
            parts.append(Part(f"\n- {member.label}"))
            if portraits and member.portrait is not None:
                parts.append(Part(" (portrait:"))
                parts.append(Part(image=member.portrait))
                parts.append(Part(")"))
    for heading, texts in (("Previous descriptions, oldest first", ctx.previous),
                           ("Dialogue just before", ctx.dialogue_before),
                           ("Dialogue just after", ctx.dialogue_after),
                           ("Text written on screen", ctx.screen_text)):
        if texts:
            parts.append(Part(f"\n{heading}: " + " ".join(f'"{t}"' for t in texts)))
    parts.append(Part(f"\nFrames of the moment to describe, in order ({len(ctx.frames)}):"))
    parts.extend(Part(image=frame) for frame in ctx.frames)
    parts.append(Part(
        f"\nWrite one description of at most {ctx.max_words} words, present tense, what is "
        f"visible only. If nothing new is visible, answer {SKIP}."))
    return SYSTEM, parts


_LABEL = re.compile(r"^\s*(?:AD|audio description|description)\s*:\s*", re.I)


def parse_answer(raw: str) -> str:
    """The description in a model's answer: one line, no ``AD:`` label or quotes; an
    answer that is SKIP (any case, punctuation around it) becomes ``""``, which the
    pipeline treats as "no AD in this slot"."""
    text = " ".join(raw.split())
    text = _LABEL.sub("", text).strip().strip('"\u201c\u201d').strip()
    if re.fullmatch(rf"\W*{SKIP}\W*", text, re.I):
        return ""
    return text


def names_in(text: str, names: Sequence[str]) -> tuple[str, ...]:
    """The ``names`` mentioned in ``text`` as whole words (who an AD names)."""
    return tuple(n for n in names if n and re.search(rf"\b{re.escape(n)}\b", text))
