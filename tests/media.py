"""Test media made on the fly with the ffmpeg binary: no binary fixtures in the repository.

The generators live in :mod:`uniad.world.sample_media` (the demo makes its sample film
with them); this module fixes the tests' timeline and keeps the test-only helpers. The
video is FFmpeg's ``testsrc`` pattern with a sine tone muted over known intervals, so
tests know exactly where the silent gaps are; the SRT holds dialogue with known gaps.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from uniad.world import sample_media
from uniad.world.sample_media import make_image, run_ffmpeg  # noqa: F401 (re-export)

DURATION = 12.0
SILENT = ((2.0, 4.5), (7.0, 9.5))  # muted intervals of the tone (seconds)
DIALOGUE = ((0.5, 2.0, "Where were you?"), (5.0, 6.5, "Out."), (10.0, 11.0, "Sit down."))


def make_video(path: Path, duration: float = DURATION, silent=SILENT, language: str = "fra",
               **kwargs) -> Path:
    """The package's generator on the tests' timeline, audio tagged French (tests check
    that the language is read and carried over)."""
    return sample_media.make_video(path, duration, silent=silent, language=language, **kwargs)


def make_srt(path: Path, dialogue=DIALOGUE) -> Path:
    return sample_media.make_srt(path, dialogue)


def make_wav(path: Path, duration: float = 2.0) -> Path:
    """An audio-only file: a valid media file with no video stream."""
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=300:duration={duration}", str(path)])
    return path


def make_vtt(path: Path, dialogue=DIALOGUE) -> Path:
    def ts(t: float) -> str:
        return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:06.3f}"

    cues = "".join(f"{ts(a)} --> {ts(b)}\n{text}\n\n" for a, b, text in dialogue)
    path.write_text("WEBVTT\n\n" + cues, encoding="utf-8")
    return path


def ffprobe_streams(path: Path) -> list[dict]:
    """The streams of a file as ffprobe reports them (an independent check of PyAV/ffmpeg)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)["streams"]


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    )
    return float(out.stdout.strip())


def remux(src: Path, dst: Path) -> Path:
    """The same streams in another container (MPEG-TS starts its clock at 1.4 s)."""
    run_ffmpeg(["-i", str(src), "-c", "copy", str(dst)])
    return dst
