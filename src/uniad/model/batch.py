"""Pad a batch's clips and exemplars into the tensors the visual mappers read.

Samples carry ragged visual inputs: clips of different lengths, a varying number of
characters, exemplars with different token counts. The mappers want one padded tensor
and a mask per kind, so every video block and every character of the batch is stacked
into a row; ``owners`` remembers which sample's segment each row fills, so the mapper
outputs can be routed back into that sample's slots by :func:`uniad.model.sequence.encode_batch`.
Which clips feed a video block is read from the segments (``EmbedSegment.clips``), so the
layout decided by the builder is the only place that choice is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence

from uniad.data.schema import Sample
from uniad.model.sequence import EmbedSegment, Segment, sample_clips


@dataclass
class PaddedBlocks:
    """``values`` (N, Tmax, ...) zero-padded, ``mask`` (N, Tmax) bool (True = real row),
    ``owners[n]`` = (sample position in the batch, the segment row n fills)."""

    values: torch.Tensor
    mask: torch.Tensor
    owners: list[tuple[int, EmbedSegment]]


def pad_rows(rows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(T_i, ...)`` tensors into ``(N, Tmax, ...)`` and a ``(N, Tmax)`` validity mask."""
    values = pad_sequence(list(rows), batch_first=True)
    lengths = torch.tensor([row.shape[0] for row in rows])
    mask = torch.arange(values.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    return values, mask


def gather_blocks(
    samples: Sequence[Sample], segment_lists: Sequence[Sequence[Segment]], kind: str
) -> PaddedBlocks | None:
    """The mapper input for every ``kind`` ("video" or "character") block of the batch.

    A video block is its clips concatenated in time (previous + current when compressed
    together); a character block is that character's exemplar ``(K, D)``. None when the
    batch has no block of this kind (e.g. no characters anywhere).
    """
    rows: list[torch.Tensor] = []
    owners: list[tuple[int, EmbedSegment]] = []
    for b, (sample, segments) in enumerate(zip(samples, segment_lists, strict=True)):
        clips = sample_clips(sample) if kind == "video" else None
        for seg in segments:
            if not isinstance(seg, EmbedSegment) or seg.kind != kind:
                continue
            if kind == "video":
                rows.append(torch.cat([clips[c] for c in seg.clips], dim=0))
            else:
                rows.append(sample.characters[seg.index].exemplar)
            owners.append((b, seg))
    if not rows:
        return None
    values, mask = pad_rows(rows)
    return PaddedBlocks(values, mask, owners)
