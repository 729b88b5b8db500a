"""A sample film made on the spot with the ffmpeg binary: video, dialogue subtitles, cast.

``uniad demo`` ends by narrating a video, and no film can ship with the package, so it
generates one: FFmpeg's ``testsrc`` pattern with a 440 Hz tone that sounds only while
someone speaks (a stand-in for dialogue), an SRT of the same lines, and a cast file (the
format :func:`uniad.narrate.cast.read_cast` reads) with still images as photos. Because
the dialogue and silent intervals are known exactly, a caller (the demo, the tests) can
check that the ADs land in the gaps. The generators are also what the tests build their
media from, so no binary fixture lives in the repository.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import srt

from uniad.data.schema import Character
from uniad.errors import UniADError

Interval = tuple[float, float]
Line = tuple[float, float, str]

# Every BLOCK seconds two lines are spoken; the gaps between them (3 s and 4 s) are long
# enough for an AD at the default --min-gap of 1.5 s.
BLOCK = 10.0
BLOCK_LINES = ((0.5, 2.0), (5.0, 6.5))
LINES = ("Where were you?", "Out.", "Sit down.", "Who called?", "Nobody.", "Look at me.")

# Names from the synthetic world's lists (uniad.world.synthetic), so a model trained there
# has seen them as AD names.
DEFAULT_CAST = (
    Character(id="anna", name="A. Okafor", role="Anna Berg", short_name="Anna", gender="female"),
    Character(id="tom", name="T. Moreau", role="Tom Stone", short_name="Tom", gender="male"),
)
# Two photos per character, two shades of one colour: the bank averages them.
PHOTO_COLOURS = (("red", "darkred"), ("blue", "navy"), ("green", "darkgreen"),
                 ("orange", "chocolate"), ("purple", "indigo"), ("gold", "goldenrod"))


def require_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        raise UniADError("generating sample media needs the ffmpeg binary "
                         "(e.g. apt install ffmpeg)")


def run_ffmpeg(args: Sequence[str]) -> None:
    """Run ``ffmpeg -y`` quietly; a failure raises with ffmpeg's own last words."""
    require_ffmpeg()
    done = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], capture_output=True, text=True)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines() or ["no message"]
        raise UniADError(f"ffmpeg failed ({said[-1]}): ffmpeg {' '.join(args)}")


def mute_filter(silent: Sequence[Interval]) -> str:
    """``volume`` muting each interval: the tone is loud everywhere else."""
    return ",".join(f"volume=0:enable='between(t,{a},{b})'" for a, b in silent) or "anull"


def make_video(
    path: Path,
    duration: float,
    fps: int = 25,
    silent: Sequence[Interval] = (),
    audio: bool = True,
    size: str = "160x120",
    pattern: str = "testsrc",
    preset: str = "ultrafast",
    language: str | None = "eng",
) -> Path:
    """An H.264 (+ AAC) mp4: an FFmpeg test ``pattern`` (``testsrc``, ``testsrc2``, ...) and,
    with ``audio``, a 440 Hz tone muted over ``silent``, tagged with ``language``."""
    args = ["-f", "lavfi", "-i", f"{pattern}=size={size}:rate={fps}:duration={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={duration}"]
        args += ["-af", mute_filter(silent), "-c:a", "aac"]
        if language:
            args += ["-metadata:s:a:0", f"language={language}"]
    args += ["-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", str(path)]
    run_ffmpeg(args)
    return path


def make_image(path: Path, color: str = "red", size: str = "64x64") -> Path:
    """A small still image of one colour (a stand-in for a cast photo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(["-f", "lavfi", "-i", f"color=c={color}:size={size}", "-frames:v", "1", str(path)])
    return path


def make_srt(path: Path, dialogue: Sequence[Line]) -> Path:
    """Subtitles holding ``dialogue`` as ``(start, end, text)`` lines."""
    subs = [srt.Subtitle(i + 1, timedelta(seconds=a), timedelta(seconds=b), text)
            for i, (a, b, text) in enumerate(dialogue)]
    path.write_text(srt.compose(subs), encoding="utf-8")
    return path


def dialogue_layout(duration: float) -> tuple[tuple[Line, ...], tuple[Interval, ...]]:
    """The lines spoken in a ``duration``-second sample and the silences around them
    (the complement of the lines in ``[0, duration]``)."""
    blocks = range(int(duration // BLOCK) + 1)
    spans = [(k * BLOCK + a, min(k * BLOCK + b, duration)) for k in blocks for a, b in BLOCK_LINES]
    spans = [(a, b) for a, b in spans if a < duration - 0.5]  # no line cut to a blip
    lines = tuple((a, b, LINES[i % len(LINES)]) for i, (a, b) in enumerate(spans))
    edges = [0.0, *(t for a, b in spans for t in (a, b)), duration]
    silent = tuple((a, b) for a, b in zip(edges[::2], edges[1::2]) if b > a)
    return lines, silent


def write_cast(path: Path, cast: Sequence[Character], photos_per_character: int = 2) -> Path:
    """A JSON cast file with ``photos_per_character`` images per character beside it."""
    if len(cast) > len(PHOTO_COLOURS):
        raise UniADError(f"sample media has photo colours for {len(PHOTO_COLOURS)} characters, "
                         f"got {len(cast)}")
    entries = []
    for character, colours in zip(cast, PHOTO_COLOURS):
        photos = [make_image(path.parent / "photos" / f"{character.id}-{k}.png",
                             colours[k % len(colours)]).relative_to(path.parent).as_posix()
                  for k in range(photos_per_character)]
        entries.append({"id": character.id, "name": character.name, "role": character.role,
                        "short_name": character.short_name, "gender": character.gender,
                        "photos": photos})
    path.write_text(json.dumps({"cast": entries}, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class SampleMedia:
    """The files of a sample film and what is known about its timeline."""

    video: Path
    subtitles: Path
    cast: Path
    duration: float
    dialogue: tuple[Line, ...]  # (start, end, text) of each spoken line
    silent: tuple[Interval, ...]  # where nobody speaks (and the tone is muted)


def make_sample_media(
    out_dir: Path,
    duration: float = 30.0,
    cast: Sequence[Character] | None = None,
    size: str = "320x240",
) -> SampleMedia:
    """Write ``sample.mp4``, ``sample.srt`` and ``cast.json`` (+ ``photos/``) into ``out_dir``."""
    if duration < BLOCK_LINES[0][1]:
        raise UniADError(f"a sample film needs at least {BLOCK_LINES[0][1]} s, got {duration}")
    out_dir, duration = Path(out_dir), float(duration)
    out_dir.mkdir(parents=True, exist_ok=True)
    dialogue, silent = dialogue_layout(duration)
    return SampleMedia(
        video=make_video(out_dir / "sample.mp4", duration, silent=silent, size=size),
        subtitles=make_srt(out_dir / "sample.srt", dialogue),
        cast=write_cast(out_dir / "cast.json", DEFAULT_CAST if cast is None else cast),
        duration=duration, dialogue=dialogue, silent=silent,
    )
