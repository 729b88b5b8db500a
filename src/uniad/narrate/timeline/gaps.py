"""Gaps for AD: free of voice activity and of subtitles, padded, long enough, split at cuts.

The practitioner recipe (Microsoft's AI audio descriptions engine): speech spans padded by
0.15 s, gaps of at least 1.2 s, split at shot cuts. Speech comes from a real VAD (see
:mod:`uniad.narrate.media.vad`) or the soundtrack's energy, united with the subtitles' dialogue
when given: a gap is free of both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from uniad.config import NarrationConfig
from uniad.narrate.core import Interval, Slot, merge
from uniad.narrate.media.vad import VAD_RATE, speech_intervals
from uniad.narrate.media.video import VideoInfo, decode_audio
from uniad.narrate.timeline.slots import slots_between, split_long_slots
from uniad.narrate.timeline.subtitles import read_subtitle_intervals

log = logging.getLogger(__name__)


def split_at(slots: Sequence[Slot], cuts: Sequence[float], min_gap: float) -> list[Slot]:
    """Split each slot at the cuts inside it, where both sides keep ``min_gap`` seconds
    (a sliver of a shot is better narrated with its neighbour than not at all)."""
    out: list[Slot] = []
    for slot in slots:
        start = slot.start
        for cut in sorted(c for c in cuts if slot.start < c < slot.end):
            if cut - start >= min_gap and slot.end - cut >= min_gap:
                out.append(Slot(start, round(cut, 3)))
                start = round(cut, 3)
        out.append(Slot(start, slot.end))
    return out


def speech_spans(
    video: str | Path, info: VideoInfo, settings: NarrationConfig,
    subtitles: str | Path | None = None, samples: np.ndarray | None = None,
) -> list[Interval]:
    """Dialogue: voice activity (or loud stretches) of the soundtrack, plus subtitle cues.
    ``samples``: the soundtrack at :data:`VAD_RATE` when already decoded (else decoded here)."""
    spans: list[Interval] = []
    if info.has_audio:
        if samples is None:
            samples = decode_audio(video, VAD_RATE)
        if settings.gap_source == "vad":
            from uniad.narrate.media.vad import voice_spans

            spans += voice_spans(samples, VAD_RATE, settings.vad_aggressiveness)
        else:
            spans += speech_intervals(samples, VAD_RATE)
    if subtitles is not None:
        spans += read_subtitle_intervals(subtitles)
    return merge(spans)


def find_gaps(
    speech: Sequence[Interval], duration: float, settings: NarrationConfig,
    cuts: Sequence[float] = (),
) -> list[Slot]:
    """The AD slots of a ``duration``-second timeline with ``speech`` spans and shot
    ``cuts``: padded, at least ``min_gap_s``, split at cuts, then at ``max_len_s``."""
    slots = slots_between(speech, duration, settings.min_gap_s, margin=settings.pad_s)
    if settings.split_at_cuts:
        slots = split_at(slots, cuts, settings.min_gap_s)
    slots = split_long_slots(slots, settings.max_len_s)
    log.info("%d AD gaps (%.0f s of %.0f s)", len(slots), sum(s.duration for s in slots),
             duration)
    return slots
