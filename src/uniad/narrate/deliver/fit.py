"""Speech that fits its gap: faster synthesis, then tempo, then a shorter text, then drop.

Each description is synthesised at the voice's natural rate and measured. If it runs past
its gap: synthesise again up to ``max_rate_gain`` faster (the voice stays natural), then
stretch with FFmpeg's ``atempo`` up to ``max_tempo`` (pitch kept), then ask the describer
for fewer words and start again, then drop it and report the overflow. With extended AD
the last step keeps the fastest version and records how long the video must pause.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from uniad.narrate.deliver.speech import NATURAL_WPM, Speech, TTSEngine, read_wav, write_wav
from uniad.narrate.media.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)

FitStatus = Literal["fits", "rate", "tempo", "rephrased", "extended", "dropped"]
HEADROOM = 1.03  # TTS length is not exactly linear in rate: ask for a little more


@dataclass(frozen=True)
class Fitted:
    """A description's speech after fitting: ``speech`` is None when it was dropped."""

    text: str
    status: FitStatus
    speech: Speech | None
    rate_wpm: int
    tempo: float = 1.0
    overflow_s: float = 0.0  # how much longer than its gap the fastest version was


def atempo(samples: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """``samples`` played ``factor`` times faster at the same pitch (FFmpeg ``atempo``)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        write_wav(src, samples, sample_rate)
        run_ffmpeg(["-i", str(src), "-af", f"atempo={factor:.4f}", str(dst)])
        out, _ = read_wav(dst)
    return out


def _speak(engine: TTSEngine, text: str, start: float, rate: int) -> Speech:
    samples, sr = engine.synthesize(text, rate)
    return Speech(start, samples, sr, rate)


def fit_speech(
    engine: TTSEngine,
    text: str,
    start: float,
    max_duration: float,
    rephrase: Callable[[int], str] | None = None,
    max_rate_gain: float = 0.20,
    max_tempo: float = 1.15,
    extended: bool = False,
    natural_wpm: int = NATURAL_WPM,
) -> Fitted:
    """Speak ``text`` from ``start`` within ``max_duration`` seconds (see module docstring).

    ``rephrase(max_words)`` asks the describer for a shorter text ("" = nothing shorter);
    it is tried once, with the word count the fastest speech could have held.
    """
    speech = _speak(engine, text, start, natural_wpm)
    if speech.duration <= max_duration:
        return Fitted(text, "fits", speech, natural_wpm)
    fastest = int(natural_wpm * (1 + max_rate_gain))
    rate = min(fastest, math.ceil(natural_wpm * speech.duration / max_duration * HEADROOM))
    speech = _speak(engine, text, start, rate)
    if speech.duration <= max_duration:
        return Fitted(text, "rate", speech, rate)
    tempo = speech.duration / max_duration * HEADROOM
    if tempo <= max_tempo:
        faster = atempo(speech.samples, speech.sample_rate, tempo)
        # atempo's output can be a few ms longer than the ratio says: never spill over
        faster = faster[: int(max_duration * speech.sample_rate)]
        return Fitted(text, "tempo", Speech(start, faster, speech.sample_rate, rate),
                      rate, round(tempo, 3))
    overflow = round(speech.duration / max_tempo - max_duration, 3)
    if rephrase is not None:
        words = len(text.split())
        shorter = rephrase(max(1, math.floor(words * max_duration * max_tempo / speech.duration)))
        if shorter and len(shorter.split()) < words:
            again = fit_speech(engine, shorter, start, max_duration, None, max_rate_gain,
                               max_tempo, extended, natural_wpm)
            if again.status != "dropped" and again.status != "extended":
                return Fitted(shorter, "rephrased", again.speech, again.rate_wpm, again.tempo)
    if extended:
        longest = atempo(speech.samples, speech.sample_rate, max_tempo)
        return Fitted(text, "extended", Speech(start, longest, speech.sample_rate, rate), rate,
                      max_tempo, overflow)
    log.warning("AD at %.2f s dropped: %.2f s too long for its %.2f s gap even at %d wpm and "
                "%.2fx tempo: %r", start, overflow, max_duration, rate, max_tempo, text)
    return Fitted(text, "dropped", None, rate, max_tempo, overflow)
