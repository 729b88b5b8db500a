"""The interleaved sequence as data: what the LLM reads, segment by segment.

:class:`SequenceBuilder` turns a :class:`~uniad.data.schema.Sample` into a list of
segments: text pieces (:class:`TextSegment`, already tokenised) and embedding blocks
(:class:`EmbedSegment`, slots the visual mappers fill). :func:`encode_batch` is the one
place segments become ``inputs_embeds``, ``attention_mask``, ``position_ids`` and
``labels``; training, evaluation and narration all go through it, and ``uniad inspect``
prints the same segments with :func:`describe`, so what a person reads is what the model
reads.

Release layout (REFERENCE.md section 3, MAD, no BOS anywhere)::

    "Possible characters:" { "<role> played by <actor>" <v> x num_char_tokens (";" | ".") } x n
    ['Previous AD: "<text>"' x context]  "Describe " <video> x num_latents ":" <AD> </s>

The previous-AD text line is the paper's intent (the release never shows the text); it
appears only when the sample carries context texts and ``use_context_ads`` is on.
``ModelConfig.character_line="role"`` shortens a character to its role and
``context_line="quoted"`` a previous AD to its quoted text (shorter prompts, same content).

CMD-AD / TV-AD release layout (``ModelConfig.prompt="cmdtv"``, LAYOUT-cmdad-tvad.md)::

    ["Possible characters :" { "<char_in_ad> played by <actor>" <v> x K (". " | "; ") } x n]
    "Describe " <video> x num_latents ":" <context>

A character ends with ". " only when it was the last entry of the file's list before any
was skipped (``CharacterEntry.last_listed``), so a skipped last entry leaves "; ". The
``<context>`` slot (``context_mode="release"``) reads the embedding of id 0 (``<unk>``),
because the release overwrites ids >= V with 0 and never writes that slot; with
``context_mode="text"`` there is no slot and the previous AD comes as text, as on MAD.

Two tokenisations (``ModelConfig.prompt_style``):

- ``"release"``: every text fragment is tokenised on its own with no special tokens
  (the release's ``encode(x)[1:]``). A SentencePiece tokenizer then adds a leading-space
  piece to every fragment, and a byte-level BPE starts every fragment without its
  space; the published checkpoints were trained on exactly these ids.
- ``"plain"``: consecutive prompt fragments are stripped, joined with single spaces and tokenised
  as one string, as a person would write the prompt; each token is then attributed to
  the fragment holding its last character, so the segment list (roles, texts) is the
  same in both styles and only the ids differ.

In both styles the target AD is tokenised on its own (it is what generation produces
after the prompt) and followed by the tokenizer's end token.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Union

import torch

from uniad.config import ModelConfig, check_section
from uniad.data.schema import ADEvent, Character, Sample
from uniad.errors import UniADError

log = logging.getLogger(__name__)

Role = Literal[
    "prompt",
    "character_name",
    "character_feature",
    "context_ad",
    "screen_text",
    "previous_video",
    "current_video",
    "target",
]
# The fixed words of the layout (release wording); a tokenizer trained for the "tiny" LLM
# must see them next to the ADs and character lines (see ``tokenizer_corpus``).
CHARACTERS_HEADER = "Possible characters:"
# How a previous AD reads, per ModelConfig.context_line.
CONTEXT_TEMPLATES = {"labelled": 'Previous AD: "{}"', "quoted": '"{}"'}
SCREEN_TEXT_TEMPLATE = 'On screen: "{}"'  # only with model.use_screen_text
DESCRIBE = "Describe "
CMDTV_CHARACTERS_HEADER = "Possible characters :"
CMDTV_SEPARATORS = ("; ", ". ")  # (between characters, after the file's last entry)
FIXED_TEXTS = (CHARACTERS_HEADER, CMDTV_CHARACTERS_HEADER, DESCRIBE, ":", ";", ".",
               *CMDTV_SEPARATORS)
CONTEXT_SLOT = "<context>"
# What the release's <context> slot reads: ids >= V are embedded as id 0 and this slot is
# never overwritten (LAYOUT-cmdad-tvad.md pitfall 4); Llama-2's id 0 is <unk>.
RELEASE_CONTEXT_SLOT_ID = 0
TOKENWISE_MAPPERS = ("linear", "qformer")  # characters map each exemplar token to one slot
IGNORE_INDEX = -100  # label value cross-entropy skips (PyTorch / Hugging Face convention)


@dataclass(frozen=True)
class TextSegment:
    """A text piece and the token ids the LLM reads for it (set by the builder)."""

    text: str
    role: Role
    ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class EmbedSegment:
    """A block of ``num_tokens`` slots filled by a visual mapper.

    ``kind`` names the mapper ("video" or "character"); ``index`` the block among the
    sample's blocks of that kind (character position, or video group); ``clips`` (video
    only) which of the sample's clips feed the block, as positions in
    :func:`sample_clips` (previous clips oldest first, the current clip last).
    """

    kind: Literal["video", "character"]
    index: int
    num_tokens: int
    role: Role
    clips: tuple[int, ...] = ()


Segment = Union[TextSegment, EmbedSegment]
VisualKey = tuple[str, int]  # (kind, index) of an EmbedSegment


def sample_clips(sample: Sample) -> list[torch.Tensor]:
    """The sample's clips in time order: previous clips (oldest first), then the current."""
    return [*sample.previous_videos, sample.video]


def character_text(character: Character, line: str = "played_by") -> str:
    """``"<role> played by <actor>"`` (release char_prompt_type 0), degrading gracefully;
    the role alone with ``line="role"`` (``ModelConfig.character_line``)."""
    role = character.role.strip() or character.display_name
    if line == "role" or not character.name.strip():
        return role
    return f"{role} played by {character.name}"


def cmdtv_character_text(character: Character, line: str = "played_by") -> str:
    """The CMD/TV release's ``"{char_in_ad} played by {name}"`` (the short name AD uses);
    the short name alone with ``line="role"``."""
    if line == "role":
        return character.display_name
    return f"{character.display_name} played by {character.name}"


def context_text(text: str, line: str = "labelled") -> str:
    """A previous AD as the prompt shows it (``ModelConfig.context_line``)."""
    return CONTEXT_TEMPLATES[line].format(text)


class SequenceBuilder:
    """Builds a sample's segment list; the ablation switches remove exactly their segments."""

    def __init__(self, tokenizer, model_config: ModelConfig) -> None:
        check_section(model_config, "model")  # prompt, prompt_style, context_mode: their Literals
        if tokenizer.eos_token_id is None:
            raise UniADError("the tokenizer has no end-of-sequence token; the AD target needs one")
        self.tokenizer = tokenizer
        self.config = model_config
        # Training rebuilds every sample's sequence each step, and its texts repeat (the
        # fixed words, a movie's character lines, an AD that is the next one's context):
        # tokenising them anew took about 15% of a tiny-model training step.
        self._encode = functools.lru_cache(maxsize=1 << 16)(self._encode_uncached)

    # -- tokenisation ---------------------------------------------------------------
    def _encode_uncached(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_ids(self, text: str) -> list[int]:
        """Ids of ``text`` on its own, without BOS/EOS (the release's ``encode(x)[1:]``)."""
        return list(self._encode(text))

    def count_tokens(self, text: str) -> int:
        """Token count of an AD without its end token: what ``DataConfig.max_ad_tokens`` caps."""
        return len(self.token_ids(text))

    def _tokenise_run(self, run: list[TextSegment]) -> list[TextSegment]:
        """Give a run of consecutive prompt fragments their ids, per ``prompt_style``."""
        if self.config.prompt_style == "release":
            return [TextSegment(s.text, s.role, tuple(self.token_ids(s.text))) for s in run]
        pieces = [s.text.strip() for s in run]
        joined = " ".join(pieces)
        ends, pos = [], 0  # end offset (exclusive) of each fragment in the joined string
        for piece in pieces:
            pos += len(piece)
            ends.append(pos)
            pos += 1  # the joining space belongs to the next fragment
        encoding = self.tokenizer(joined, add_special_tokens=False, return_offsets_mapping=True)
        per_fragment: list[list[int]] = [[] for _ in run]
        fragment = 0
        for token, (_, end) in zip(encoding["input_ids"], encoding["offset_mapping"]):
            while fragment < len(run) - 1 and end > ends[fragment]:
                fragment += 1
            per_fragment[fragment].append(token)
        return [TextSegment(s.text, s.role, tuple(ids)) for s, ids in zip(run, per_fragment)]

    def _tokenise(self, segments: list[Segment]) -> list[Segment]:
        out: list[Segment] = []
        run: list[TextSegment] = []
        for seg in [*segments, None]:
            if isinstance(seg, TextSegment) and not seg.ids:  # ids given: a fixed slot
                run.append(seg)
                continue
            if run:
                out.extend(self._tokenise_run(run))
                run = []
            if seg is not None:
                out.append(seg)
        return out

    # -- layout ---------------------------------------------------------------------
    def _video_segments(self, sample: Sample) -> list[EmbedSegment]:
        n = self.config.num_latents
        current = len(sample.previous_videos)
        previous = tuple(range(current)) if self.config.use_previous_video else ()
        if self.config.split_previous_video:
            blocks = [EmbedSegment("video", i, n, "previous_video", (c,)) for i, c in enumerate(previous)]
            return [*blocks, EmbedSegment("video", len(blocks), n, "current_video", (current,))]
        # Release default: previous and current frames compressed together into one block.
        return [EmbedSegment("video", 0, n, "current_video", (*previous, current))]

    def build(
        self, sample: Sample, with_target: bool = True, target: str | None = None
    ) -> list[Segment]:
        """The sample's segments; ``target`` replaces ``sample.target`` (contrastive pass)."""
        cfg = self.config
        cmdtv = cfg.prompt == "cmdtv"
        context_slot = cmdtv and cfg.context_mode == "release"
        segments: list[Segment] = []
        if cfg.use_characters and sample.characters:
            segments.append(TextSegment(CMDTV_CHARACTERS_HEADER if cmdtv else CHARACTERS_HEADER,
                                        "prompt"))
            last = len(sample.characters) - 1
            for i, entry in enumerate(sample.characters):
                text = (cmdtv_character_text if cmdtv else character_text)(
                    entry.character, cfg.character_line)
                segments.append(TextSegment(text, "character_name"))
                n = entry.exemplar.shape[0] if cfg.mapper in TOKENWISE_MAPPERS else cfg.num_char_tokens
                segments.append(EmbedSegment("character", i, n, "character_feature"))
                closes = i == last
                if cmdtv:
                    closes = entry.last_listed if entry.last_listed is not None else closes
                    segments.append(TextSegment(CMDTV_SEPARATORS[closes], "prompt"))
                else:
                    segments.append(TextSegment("." if closes else ";", "prompt"))
        if cfg.use_context_ads and not context_slot:
            for text in sample.context_texts:
                segments.append(TextSegment(context_text(text, cfg.context_line), "context_ad"))
        if cfg.use_screen_text:
            for text in sample.screen_text:
                segments.append(TextSegment(SCREEN_TEXT_TEMPLATE.format(text), "screen_text"))
        segments.append(TextSegment(DESCRIBE, "prompt"))
        segments.extend(self._video_segments(sample))
        segments.append(TextSegment(":", "prompt"))
        if context_slot:
            segments.append(TextSegment(CONTEXT_SLOT, "context_ad", (RELEASE_CONTEXT_SLOT_ID,)))
        segments = self._tokenise(segments)
        if with_target:
            text = sample.target if target is None else target
            if text is None:
                raise UniADError(f"sample {sample.sample_id}: field 'target' is missing (needed for the loss)")
            segments.extend(self.target_segments(text))
        return segments

    def target_segments(self, text: str) -> list[TextSegment]:
        """An AD as the target: its own tokens, then the end token."""
        eos = self.tokenizer.eos_token_id
        return [TextSegment(text, "target", tuple(self.token_ids(text))),
                TextSegment(self.tokenizer.eos_token, "target", (eos,))]


def within_target_limit(
    events: Iterable[ADEvent], builder: SequenceBuilder, max_tokens: int, check_previous: bool = False
) -> list[ADEvent]:
    """The events whose AD (and, with ``check_previous``, previous AD) fits ``max_tokens``.

    The release drops longer training ADs (``data.max_ad_tokens``, 51) and so do we, but
    never silently: the count and the first ids are logged.
    """
    kept: list[ADEvent] = []
    dropped: list[str] = []
    for event in events:
        texts = [event.text]
        if check_previous and event.context:
            texts.append(event.context[0].text)
        if all(builder.count_tokens(t) <= max_tokens for t in texts):
            kept.append(event)
        else:
            dropped.append(event.uid or event.video_id)
    if dropped:
        log.warning(
            "dropped %d of %d training events whose AD%s is longer than %d tokens (first: %s)",
            len(dropped), len(kept) + len(dropped), " or previous AD" if check_previous else "",
            max_tokens, ", ".join(dropped[:5]),
        )
    return kept


def sequence_length(segments: Sequence[Segment]) -> int:
    """Number of positions the segments occupy in the LLM's input."""
    return sum(len(s.ids) if isinstance(s, TextSegment) else s.num_tokens for s in segments)


def describe(segments: Sequence[Segment]) -> str:
    """The layout in words, e.g. ``[prompt] Describe <video x30 (previous+current)> : [target] ...``."""
    words: list[str] = []
    section = None
    for seg in segments:
        here = "target" if seg.role == "target" else "prompt"
        if here != section:
            words.append(f"[{here}]")
            section = here
        if isinstance(seg, TextSegment):
            words.append(seg.text.strip())
        elif seg.kind == "character":
            words.append(f"<char x{seg.num_tokens}>")
        else:
            span = "previous" if seg.role == "previous_video" else "current"
            if len(seg.clips) > 1:
                span = "previous+current"
            words.append(f"<video x{seg.num_tokens} ({span})>")
    return " ".join(words)


@dataclass
class EncodedBatch:
    """LLM inputs for a batch, left-padded: ``(B, L, D)`` embeds and ``(B, L)`` the rest."""

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor


def encode_batch(
    segment_lists: Sequence[Sequence[Segment]],
    tokenizer,
    embed_tokens: torch.nn.Embedding,
    visual_embeds: Sequence[Mapping[VisualKey, torch.Tensor]],
) -> EncodedBatch:
    """Segments -> left-padded LLM inputs; the one place a sequence becomes tensors.

    ``embed_tokens`` is the LLM's input embedding table (``get_input_embeddings()``);
    ``visual_embeds[b][(kind, index)]`` is the ``(num_tokens, D)`` block for that sample's
    embedding segment. Left padding serves both training and generation (new tokens are
    appended on the right); positions count from the first real token, so a sample's
    positions do not depend on its batch. Labels are ``IGNORE_INDEX`` except on the target
    AD and its end token.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows: list[tuple[list[int], list[bool], list[bool]]] = []
    blocks: list[torch.Tensor] = []
    for b, (segments, visuals) in enumerate(zip(segment_lists, visual_embeds, strict=True)):
        ids: list[int] = []
        is_visual: list[bool] = []
        is_label: list[bool] = []
        for seg in segments:
            if isinstance(seg, TextSegment):
                n = len(seg.ids)
                ids.extend(seg.ids)
                is_visual.extend([False] * n)
                is_label.extend([seg.role == "target"] * n)
                continue
            block = visuals.get((seg.kind, seg.index))
            if block is None or block.shape[0] != seg.num_tokens:
                got = "nothing" if block is None else f"shape {tuple(block.shape)}"
                raise UniADError(
                    f"batch item {b}: {seg.kind} block {seg.index} needs {seg.num_tokens} "
                    f"embeddings, got {got}"
                )
            blocks.append(block)
            ids.extend([pad_id] * seg.num_tokens)
            is_visual.extend([True] * seg.num_tokens)
            is_label.extend([False] * seg.num_tokens)
        rows.append((ids, is_visual, is_label))

    length = max(len(ids) for ids, _, _ in rows)
    shape = (len(rows), length)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    visual_mask = torch.zeros(shape, dtype=torch.bool)
    label_mask = torch.zeros(shape, dtype=torch.bool)
    for b, (ids, is_visual, is_label) in enumerate(rows):
        start = length - len(ids)  # left padding
        input_ids[b, start:] = torch.tensor(ids, dtype=torch.long)
        attention_mask[b, start:] = 1
        visual_mask[b, start:] = torch.tensor(is_visual, dtype=torch.bool)
        label_mask[b, start:] = torch.tensor(is_label, dtype=torch.bool)

    device = embed_tokens.weight.device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    visual_mask, label_mask = visual_mask.to(device), label_mask.to(device)
    embeds = embed_tokens(input_ids)
    if blocks:
        # Fill the slots in order: row by row, position by position. index_copy rather than
        # masked_scatter, whose backward (a broadcast masked_select) took ~5% of a training step.
        source = torch.cat(blocks).to(device=embeds.device, dtype=embeds.dtype)
        slots = visual_mask.flatten().nonzero().squeeze(1)
        embeds = embeds.flatten(0, 1).index_copy(0, slots, source).view(embeds.shape)
    labels = torch.where(label_mask, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return EncodedBatch(embeds, attention_mask, position_ids, labels)
