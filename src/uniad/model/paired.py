"""The contrastive step's two targets read from one pass over their shared prompt.

The release scores the previous AD (the hinge's negative) with a second full forward: the
same prompt (characters, video, 150-300 positions) with another target. Under causal
attention the prompt's hidden states do not depend on what follows it, so one row can hold
``[prompt | positive target | negative target]``: a 4D attention mask lets each target see
the prompt and itself only, and the negative's positions restart after the prompt, so every
target position computes what it would in its own pass. The first token of both targets is
predicted from the prompt's last position. Forward and backward then touch the prompt once.

The batch is then packed: its rows, without their left padding, are laid end to end in one
row of ``N`` positions, so the linear layers (most of a step) read no padding at all.
Attention runs per sample through :func:`packed_attention` (registered with transformers as
the packed twin of SDPA and of eager): each sample's span attends to itself under its own
mask, with the attention function the model is configured with. A single row with a block-diagonal
``(N, N)`` mask would compute the same, at ``N^2`` instead of ``sum(L_i^2)`` attention cost.
A sample without a negative holds ``[prompt | positive]`` only.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from uniad.errors import UniADError

from uniad.model.sequence import Segment, TextSegment, VisualKey, encode_batch, sequence_length

POSITIVE, NEGATIVE = 1, 2  # the two targets of a sample


@dataclass
class TargetPositions:
    """Where a target's tokens are predicted: hidden state ``(rows[i], positions[i])``
    predicts ``tokens[i]`` of sample ``samples[i]`` (flat over the batch; the row itself
    where a row holds one sample)."""

    rows: torch.Tensor
    positions: torch.Tensor
    tokens: torch.Tensor
    samples: torch.Tensor | None = None

    @property
    def owners(self) -> torch.Tensor:
        return self.rows if self.samples is None else self.samples


@dataclass
class PairedBatch:
    """LLM inputs for prompt + both targets, packed in one row, and where each target is
    scored. Sample ``i`` holds ``packed_spans[i]`` (start, end) of the row; its mask is the
    last ``end - start`` rows and columns of ``attention_mask[i]``."""

    inputs_embeds: torch.Tensor  # (1, N, D)
    attention_mask: torch.Tensor  # (B, 1, L, L), bool: True where a query may read a key
    position_ids: torch.Tensor  # (1, N)
    packed_spans: list[tuple[int, int]]
    positive: TargetPositions
    negative: TargetPositions

    @property
    def size(self) -> int:
        return len(self.packed_spans)


# The implementations a packed call can run inside; each gets a packed twin, registered
# with transformers for attention and for mask building (the twin builds the same masks).
INNER_ATTENTION = {"sdpa": lambda module: ALL_ATTENTION_FUNCTIONS["sdpa"],
                   "eager": lambda module: sys.modules[type(module).__module__].eager_attention_forward}


def packed_name(configured: str) -> str:
    return f"uniad_packed_{configured}"


def packed_attention(module, query, key, value, attention_mask, *, configured: str,
                     packed_spans: list[tuple[int, int]] | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """The model's own attention (``configured``), sample by sample on a packed row.

    Without ``packed_spans`` (any ordinary call) it is that attention, unchanged. With
    them, each span attends to itself under its sample's bool mask (made additive, 0 or the
    dtype's minimum, for eager, which adds it); ``(1, N, H, d)`` out.
    """
    inner = INNER_ATTENTION[configured](module)
    if packed_spans is None:
        return inner(module, query, key, value, attention_mask, **kwargs)
    if configured == "sdpa":
        return _packed_sdpa(module, query, key, value, attention_mask, packed_spans, **kwargs)
    lengths = [end - start for start, end in packed_spans]
    out = []
    for i, (n, q, k, v) in enumerate(zip(lengths, *(t.split(lengths, dim=2) for t in (query, key, value)))):
        mask = attention_mask[i : i + 1, :, -n:, -n:]
        mask = torch.zeros((), dtype=query.dtype, device=mask.device).where(mask, torch.finfo(query.dtype).min)
        out.append(inner(module, q, k, v, mask, **kwargs)[0])
    return torch.cat(out, dim=1), None


def _packed_sdpa(module, query, key, value, attention_mask, packed_spans, *, dropout: float = 0.0,
                 scaling: float | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' SDPA call (``sdpa_attention_forward``: grouped key/value heads
    repeated, the bool mask as is, no causal flag) per span, with the key/value heads
    repeated once for the whole row and one transpose at the end instead of one per span."""
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    # split, not slices: a slice's backward writes its gradient into a zero tensor of the
    # whole row, once per span and tensor; split's backward is one concatenation.
    lengths = [end - start for start, end in packed_spans]
    out = [F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask[i : i + 1, :, -n:, -n:],
                                          dropout_p=dropout, scale=scaling)
           for i, (n, q, k, v) in enumerate(zip(lengths, *(t.split(lengths, dim=2) for t in (query, key, value))))]
    return torch.cat(out, dim=2).transpose(1, 2).contiguous(), None


for _configured in INNER_ATTENTION:
    AttentionInterface.register(packed_name(_configured), functools.partial(packed_attention, configured=_configured))
    AttentionMaskInterface.register(packed_name(_configured), ALL_MASK_ATTENTION_FUNCTIONS[_configured])


def use_packed_attention(config, on: bool) -> None:
    """Switch a model config's attention to its packed twin (``on``) or back. Training
    keeps the twin on: gradient checkpointing recomputes layers in backward, after the
    forward that packed them has returned, and must find the same attention."""
    name = config._attn_implementation
    if on and name in INNER_ATTENTION:
        config._attn_implementation = packed_name(name)
    elif not on and name.startswith(packed_name("")):
        config._attn_implementation = name.removeprefix(packed_name(""))


@contextlib.contextmanager
def packed_calls(decoder: torch.nn.Module, batch: PairedBatch) -> Iterator[dict]:
    """Keyword arguments for ``decoder(...)`` on a packed batch; inside, its attention is
    the packed twin of the one it is configured with (:func:`packed_attention`)."""
    config = decoder.config
    before = config._attn_implementation
    use_packed_attention(config, True)
    if not config._attn_implementation.startswith(packed_name("")):
        raise UniADError(f"the shared negative pass packs its batch, which needs attention "
                         f"{' or '.join(INNER_ATTENTION)}, not {before!r} (model.negative_pass=separate runs without)")
    try:
        yield {"packed_spans": batch.packed_spans}
    finally:
        config._attn_implementation = before


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
    """Each sample's prompt, positive target, then negative (if any), packed in one row."""
    rows = [[*p, *pos, *(neg or ())] for p, pos, neg in zip(prompts, positives, negatives, strict=True)]
    encoded = encode_batch(rows, tokenizer, embed_tokens, visual_embeds)
    device = encoded.inputs_embeds.device
    lengths = [(sequence_length(p), _ids(pos), _ids(neg or ())) for p, pos, neg in zip(prompts, positives, negatives)]
    positions: list[int] = []
    spans: list[tuple[int, int]] = []
    targets: dict[int, tuple[list[int], list[int], list[int]]] = {POSITIVE: ([], [], []), NEGATIVE: ([], [], [])}
    for b, (p, pos_ids, neg_ids) in enumerate(lengths):
        start = spans[-1][1] if spans else 0
        positions += [*range(p + len(pos_ids)), *range(p, p + len(neg_ids))]
        spans.append((start, start + p + len(pos_ids) + len(neg_ids)))
        for kind, offset, ids in ((POSITIVE, p, pos_ids), (NEGATIVE, p + len(pos_ids), neg_ids)):
            # Token 0 is predicted from the prompt's last position, token i from token i-1.
            samples, where, tokens = targets[kind]
            samples += [b] * len(ids)
            where += [start + p - 1, *range(start + offset, start + offset + len(ids) - 1)][: len(ids)]
            tokens += ids
    # Per-sample masks, right-aligned in (B, L, L) as the rows were left-padded: causal, and a
    # negative query does not read the positive target's keys.
    count = torch.tensor([[p, len(pos), len(neg)] for p, pos, neg in lengths])
    length = int(count.sum(1).max())
    index = torch.arange(length)
    first = length - count.sum(1, keepdim=True)  # (B, 1): where each sample starts
    positive_from, negative_from = first + count[:, :1], first + count[:, :2].sum(1, keepdim=True)
    key_ok = index[None] >= first  # padding keys are never read
    positive_key = (index[None] >= positive_from) & (index[None] < negative_from)
    negative_query = index[None] >= negative_from
    allowed = (index[None, None, :] <= index[None, :, None]) & key_ok[:, None, :]
    allowed &= ~(negative_query[:, :, None] & positive_key[:, None, :])

    def located(kind: int) -> TargetPositions:
        samples, where, tokens = (torch.tensor(v, dtype=torch.long, device=device) for v in targets[kind])
        return TargetPositions(torch.zeros_like(samples), where, tokens, samples)

    real = encoded.attention_mask.flatten().nonzero().squeeze(1)  # row-major: samples in order
    packed = encoded.inputs_embeds.flatten(0, 1).index_select(0, real)[None]
    return PairedBatch(packed, allowed[:, None].to(device), torch.tensor([positions], device=device), spans,
                       located(POSITIVE), located(NEGATIVE))
