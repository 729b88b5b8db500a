"""Speak each AD and lay the speech out on one narration track.

The TTS engine is a plug (:class:`TTSEngine`); the default calls the ``espeak-ng`` binary,
which ships in every Linux distribution and needs no model download. A spoken AD must end
inside its slot: :func:`fit_speech` first speaks faster, and only if the fastest
intelligible rate is still too long trims the end with a short fade.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from uniad.errors import UniADError
from uniad.io import write_bytes
from uniad.narrate.tracks import NarratedAD
from uniad.narrate.video import resample


@runtime_checkable
class TTSEngine(Protocol):
    """Text to mono float32 samples; ``rate_wpm`` is the speaking rate in words/minute."""

    name: str

    def synthesize(self, text: str, rate_wpm: int) -> tuple[np.ndarray, int]: ...


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV to mono float32 (what espeak-ng writes; stdlib ``wave`` suffices)."""
    with wave.open(str(path), "rb") as f:
        if f.getsampwidth() != 2:
            raise UniADError(f"{path}: expected 16-bit PCM WAV, got {8 * f.getsampwidth()}-bit")
        data = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
        channels, rate = f.getnchannels(), f.getframerate()
    samples = data.reshape(-1, channels).mean(axis=1) / 32768.0
    return samples.astype(np.float32), rate


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Mono float32 in [-1, 1] to 16-bit PCM WAV (clipped, never wrapped)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
    return write_bytes(path, buffer.getvalue())


class EspeakEngine:
    """``espeak-ng`` through its command line (``-w`` writes a WAV we read back)."""

    MIN_WPM, MAX_WPM = 80, 450  # espeak-ng's accepted -s range

    def __init__(self, voice: str = "en", binary: str = "espeak-ng") -> None:
        found = shutil.which(binary)
        if found is None:
            raise UniADError(
                f"text-to-speech needs the '{binary}' program, which is not installed "
                "(apt install espeak-ng, or narrate without speech)"
            )
        self.binary = found
        self.voice = voice
        self.name = f"espeak-ng:{voice}"

    def synthesize(self, text: str, rate_wpm: int) -> tuple[np.ndarray, int]:
        rate = int(min(max(rate_wpm, self.MIN_WPM), self.MAX_WPM))
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            # Text on stdin: no shell quoting issues, no argument-length limit.
            result = subprocess.run(
                [self.binary, "-v", self.voice, "-s", str(rate), "-w", str(wav), "--stdin"],
                input=text, capture_output=True, text=True,
            )
            if result.returncode != 0 or not wav.is_file():
                detail = result.stderr.strip()
                raise UniADError(f"espeak-ng failed (voice {self.voice!r}): {detail}")
            return read_wav(wav)


@dataclass(frozen=True)
class Speech:
    """One spoken AD placed on the timeline."""

    start: float
    samples: np.ndarray
    sample_rate: int
    rate_wpm: int
    trimmed: bool = False

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def fit_speech(
    engine: TTSEngine,
    text: str,
    start: float,
    max_duration: float,
    rate_wpm: int = 160,
    max_rate_wpm: int = 240,
    fade_s: float = 0.08,
) -> Speech:
    """Speak ``text`` so that it lasts at most ``max_duration`` seconds.

    Speed up proportionally (with 5 % headroom, since TTS duration is not exactly linear in
    rate), capped at ``max_rate_wpm`` beyond which speech stops being intelligible; if still
    too long, cut the end with a ``fade_s`` fade-out so it does not click.
    """
    samples, sr = engine.synthesize(text, rate_wpm)
    rate = rate_wpm
    length = len(samples) / sr
    if length > max_duration:
        rate = min(max_rate_wpm, int(np.ceil(rate_wpm * length / max_duration * 1.05)))
        samples, sr = engine.synthesize(text, rate)
    limit = int(max_duration * sr)
    trimmed = len(samples) > limit
    if trimmed:
        samples = samples[:limit].copy()
        fade = min(limit, int(fade_s * sr))
        if fade:
            samples[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return Speech(start, samples, sr, rate, trimmed)


def speak_ads(
    ads: Sequence[NarratedAD], engine: TTSEngine, rate_wpm: int = 160, max_rate_wpm: int = 240
) -> list[Speech]:
    """Speak every non-empty AD within its own ``[start, end]`` (see :func:`fit_speech`)."""
    return [
        fit_speech(engine, ad.text, ad.start, ad.end - ad.start, rate_wpm, max_rate_wpm)
        for ad in tqdm(ads, desc="speech", unit="AD")
        if ad.text.strip()
    ]


def assemble_track(speeches: Sequence[Speech], duration: float, sample_rate: int) -> np.ndarray:
    """One mono narration track of ``duration`` seconds with each speech at its start time
    (resampled to ``sample_rate`` when the engine's differs); overlaps are summed."""
    track = np.zeros(int(round(duration * sample_rate)), dtype=np.float32)
    for speech in speeches:
        samples = resample(speech.samples, speech.sample_rate, sample_rate)
        begin = int(round(speech.start * sample_rate))
        piece = samples[: max(0, len(track) - begin)]
        track[begin : begin + len(piece)] += piece
    return track
