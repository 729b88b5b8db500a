"""Test media made on the fly with the ffmpeg binary: no binary fixtures in the repository.

The video is FFmpeg's ``testsrc`` pattern with a sine tone muted over known intervals, so
tests know exactly where the silent gaps are; the SRT holds dialogue with known gaps.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import srt

DURATION = 12.0
SILENT = ((2.0, 4.5), (7.0, 9.5))  # muted intervals of the tone (seconds)
DIALOGUE = ((0.5, 2.0, "Where were you?"), (5.0, 6.5, "Out."), (10.0, 11.0, "Sit down."))


def require_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("tests/media.py needs the ffmpeg binary (apt install ffmpeg)")


def _run(args: list[str]) -> None:
    require_ffmpeg()
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _mute_filter(silent: tuple[tuple[float, float], ...]) -> str:
    """``volume`` muting each interval: the tone is loud everywhere else."""
    return ",".join(f"volume=0:enable='between(t,{a},{b})'" for a, b in silent) or "anull"


def make_video(
    path: Path,
    duration: float = DURATION,
    fps: int = 25,
    silent: tuple[tuple[float, float], ...] = SILENT,
    audio: bool = True,
    size: str = "160x120",
) -> Path:
    """An H.264/AAC mp4: testsrc + a 440 Hz tone muted over ``silent``."""
    args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}:duration={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={duration}"]
        args += ["-af", _mute_filter(silent), "-c:a", "aac", "-metadata:s:a:0", "language=fra"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    _run(args)
    return path


def make_wav(path: Path, duration: float = 2.0) -> Path:
    """An audio-only file: a valid media file with no video stream."""
    _run(["-f", "lavfi", "-i", f"sine=frequency=300:duration={duration}", str(path)])
    return path


def make_image(path: Path, color: str = "red") -> Path:
    """A small still image (a stand-in for a cast photo)."""
    _run(["-f", "lavfi", "-i", f"color=c={color}:size=64x64", "-frames:v", "1", str(path)])
    return path


def make_srt(path: Path, dialogue=DIALOGUE) -> Path:
    subs = [
        srt.Subtitle(i + 1, timedelta(seconds=a), timedelta(seconds=b), text)
        for i, (a, b, text) in enumerate(dialogue)
    ]
    path.write_text(srt.compose(subs), encoding="utf-8")
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
    _run(["-i", str(src), "-c", "copy", str(dst)])
    return dst
