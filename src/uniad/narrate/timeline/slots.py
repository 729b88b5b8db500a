"""Where audio description may speak: the gaps between dialogue.

AD must never talk over dialogue, so a slot is a stretch of the timeline with no speech,
shrunk by a small safety margin on each side that touches speech and kept only when it is
long enough to say something (``min_gap``). Speech comes from subtitles when the user has
them (exact and cheap, :mod:`uniad.narrate.timeline.subtitles`), else from the soundtrack
(:mod:`uniad.narrate.media.vad`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from uniad.narrate.core import Interval, Slot, merge

MARGIN = 0.2  # seconds kept free between dialogue and AD on each side


def slots_between(
    speech: Iterable[Interval], duration: float, min_gap: float = 1.5, margin: float = MARGIN
) -> list[Slot]:
    """The complement of ``speech`` within ``[0, duration]``, each side next to speech
    moved inwards by ``margin``, keeping slots of at least ``min_gap`` seconds."""
    slots: list[Slot] = []
    cursor, after_speech = 0.0, False
    for start, end in merge(speech) + [(duration, duration)]:
        start, end = min(max(start, 0.0), duration), min(max(end, 0.0), duration)
        gap_start = cursor + (margin if after_speech else 0.0)
        gap_end = start - (margin if start < duration else 0.0)
        if gap_end - gap_start >= min_gap:
            slots.append(Slot(round(gap_start, 3), round(gap_end, 3)))
        cursor, after_speech = max(cursor, end), True
    return slots


def split_long_slots(slots: Sequence[Slot], max_len: float) -> list[Slot]:
    """Split slots longer than ``max_len`` so each AD covers one moment of the video.

    A 40 s silent stretch is several shots; narrating it with one sentence would describe
    only its start. Pieces are equal so none falls under the original minimum.
    """
    out: list[Slot] = []
    for slot in slots:
        pieces = max(1, math.ceil(slot.duration / max_len - 1e-9))
        step = slot.duration / pieces
        out += [
            Slot(round(slot.start + i * step, 3), round(slot.start + (i + 1) * step, 3))
            for i in range(pieces)
        ]
    return out
