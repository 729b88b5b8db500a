"""The contrastive step's two targets read from one pass over their shared prompt.

The release scores the previous AD (the hinge's negative) with a second full forward: the
same prompt (characters, video, 150-300 positions) with another target. Under causal
attention the prompt's hidden states do not depend on what follows it, so one row can hold
``[prompt | positive target | negative target]``: a 4D attention mask lets each target see
the prompt and itself only, and the negative's positions restart after the prompt, so every
target position computes what it would in its own pass. The first token of both targets is
predicted from the prompt's last position. Forward and backward then touch the prompt once.

Rows are left-padded as :func:`~uniad.model.sequence.encode_batch` pads them (it embeds the
row); a sample without a negative holds ``[prompt | positive]`` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from uniad.model.sequence import Segment, TextSegment, VisualKey, encode_batch, sequence_length

PAD, PROMPT, POSITIVE, NEGATIVE = -1, 0, 1, 2  # which part of a row a position belongs to


@dataclass
class TargetPositions:
    """Where a target's tokens are predicted: hidden state ``(rows[i], positions[i])``
    predicts ``tokens[i]`` (flat over the batch)."""

    rows: torch.Tensor
    positions: torch.Tensor
    tokens: torch.Tensor


@dataclass
class PairedBatch:
    """LLM inputs for prompt + both targets, and where each target is scored."""

    inputs_embeds: torch.Tensor  # (B, L, D)
    attention_mask: torch.Tensor  # (B, 1, L, L), additive: 0 where a query may read a key
    position_ids: torch.Tensor  # (B, L)
    positive: TargetPositions
    negative: TargetPositions


def split_target(segments: Sequence[Segment]) -> tuple[list[Segment], list[TextSegment]]:
    """``(prompt, target)``: a built sequence's trailing target segments apart."""
    cut = len(segments)
    while cut > 0 and segments[cut - 1].role == "target":
        cut -= 1
    return list(segments[:cut]), list(segments[cut:])  # type: ignore[arg-type]


def _ids(segments: Sequence[TextSegment]) -> list[int]:
    return [t for seg in segments for t in seg.ids]


def encode_paired(
    prompts: Sequence[Sequence[Segment]],
    positives: Sequence[Sequence[TextSegment]],
    negatives: Sequence[Sequence[TextSegment] | None],
    tokenizer,
    embed_tokens: torch.nn.Embedding,
    visual_embeds: Sequence[Mapping[VisualKey, torch.Tensor]],
) -> PairedBatch:
    """One row per sample: its prompt, its positive target, then its negative (if any)."""
    rows = [[*p, *pos, *(neg or ())] for p, pos, neg in zip(prompts, positives, negatives, strict=True)]
    encoded = encode_batch(rows, tokenizer, embed_tokens, visual_embeds)
    batch, length = encoded.attention_mask.shape
    device = encoded.inputs_embeds.device
    part = torch.full((batch, length), PAD, dtype=torch.long)
    positions = torch.zeros((batch, length), dtype=torch.long)
    targets: dict[int, list[list[int]]] = {POSITIVE: [[], [], []], NEGATIVE: [[], [], []]}
    for b, (prompt, pos, neg) in enumerate(zip(prompts, positives, negatives)):
        p, pos_ids, neg_ids = sequence_length(prompt), _ids(pos), _ids(neg or ())
        start = length - p - len(pos_ids) - len(neg_ids)
        spans = ((PROMPT, 0, p, 0), (POSITIVE, p, len(pos_ids), p), (NEGATIVE, p + len(pos_ids), len(neg_ids), p))
        for kind, offset, n, first_position in spans:
            part[b, start + offset : start + offset + n] = kind
            positions[b, start + offset : start + offset + n] = torch.arange(first_position, first_position + n)
        for kind, offset, ids in ((POSITIVE, p, pos_ids), (NEGATIVE, p + len(pos_ids), neg_ids)):
            # Token 0 is predicted from the prompt's last position, token i from token i-1.
            where = [start + p - 1] + [start + offset + i for i in range(len(ids) - 1)]
            rows_, positions_, tokens_ = targets[kind]
            rows_.extend([b] * len(ids))
            positions_.extend(where[: len(ids)])
            tokens_.extend(ids)
    index = torch.arange(length)
    query, key = part[:, :, None], part[:, None, :]
    allowed = (index[None, None, :] <= index[None, :, None]) & (key != PAD) & ((key == PROMPT) | (key == query))
    allowed |= torch.eye(length, dtype=torch.bool)[None]  # padding reads itself: no empty row
    dtype = encoded.inputs_embeds.dtype
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)

    def located(kind: int) -> TargetPositions:
        return TargetPositions(*(torch.tensor(v, dtype=torch.long, device=device) for v in targets[kind]))

    return PairedBatch(encoded.inputs_embeds, mask[:, None].to(device), positions.to(device),
                       located(POSITIVE), located(NEGATIVE))
