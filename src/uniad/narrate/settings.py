"""The settings of a deliverable narration: gaps, timing, voice, fitting, mixing.

One small frozen dataclass with precise types (``Literal`` choices, checked ranges) so a
general config validator can absorb it; ``uniad narrate`` and ``uniad render`` build it
from their flags, and ``ad.json`` records it. Defaults follow practitioners' tools (gaps
>= 1.2 s from speech padded by 0.15 s, +20 % faster synthesis, ``atempo`` <= 1.15x, 10 dB
ducking) and the REFRAMED realism rule (< 300 words per minute, planned at 180).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

from uniad.errors import UniADError

Voice = Literal["piper", "espeak"]
GapSource = Literal["vad", "energy"]

_CHOICES: dict[str, tuple[str, ...]] = {"voice": get_args(Voice),
                                         "gap_source": get_args(GapSource)}
_RANGES: dict[str, tuple[float, float]] = {
    "vad_aggressiveness": (0, 3),
    "pad_s": (0.0, 2.0),
    "min_gap_s": (0.3, 30.0),
    "max_len_s": (1.0, 120.0),
    "cut_threshold": (0.01, 1.0),
    "plan_wpm": (60.0, 299.0),
    "max_rate_gain": (0.0, 0.5),
    "max_tempo": (1.0, 2.0),
    "duck_db": (0.0, 40.0),
}


@dataclass(frozen=True)
class NarrationSettings:
    """How gaps are found, how fast descriptions are planned and how speech is fitted."""

    gap_source: GapSource = "vad"  # speech spans from webrtcvad, or from frame energy
    vad_aggressiveness: int = 2  # webrtcvad mode: 0 (keeps most audio as speech) .. 3
    pad_s: float = 0.15  # dialogue spans widened by this on each side
    min_gap_s: float = 1.2  # shorter gaps get no description
    max_len_s: float = 8.0  # longer gaps are split into pieces
    split_at_cuts: bool = True  # gaps also split at shot cuts
    cut_threshold: float = 0.3  # mean absolute frame difference (0..1) that makes a cut
    plan_wpm: float = 180.0  # words (PTB tokens) per minute a description is planned at
    voice: Voice = "piper"
    max_rate_gain: float = 0.20  # re-synthesis up to this much faster
    max_tempo: float = 1.15  # then ffmpeg atempo up to this factor
    duck_db: float = 10.0  # the soundtrack dips this much under a description
    extended: bool = False  # also write a video paused where a description needs more time

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            choices = _CHOICES.get(f.name, ())
            if choices and value not in choices:
                raise UniADError(f"narration setting '{f.name}' must be one of "
                                 f"{', '.join(choices)}, got {value!r}")
            if f.name in _RANGES:
                low, high = _RANGES[f.name]
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not low <= value <= high:
                    raise UniADError(f"narration setting '{f.name}' must be a number in "
                                     f"[{low}, {high}], got {value!r}")
        if self.min_gap_s > self.max_len_s:
            raise UniADError(f"narration settings: min_gap_s={self.min_gap_s} must not exceed "
                             f"max_len_s={self.max_len_s} (no gap could be used)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
