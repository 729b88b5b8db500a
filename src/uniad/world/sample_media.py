"""A sample film made on the spot with the ffmpeg binary: video, dialogue subtitles, cast.

``uniad demo`` ends by narrating a video, and no film can ship with the package, so it
generates one: FFmpeg's ``testsrc`` pattern with a 440 Hz tone that sounds only while
someone speaks (a stand-in for dialogue), an SRT of the same lines, and a cast file (the
format :func:`uniad.narrate.describe.cast.read_cast` reads) with still images as photos. Because
the dialogue and silent intervals are known exactly, a caller (the demo, the tests) can
check that the ADs land in the gaps. The generators are also what the tests build their
media from, so no binary fixture lives in the repository.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import srt

from uniad.data.schema import Character
from uniad.errors import UniADError
from uniad.narrate.deliver.speech import EspeakEngine, Speech, assemble_track, write_wav
from uniad.narrate.media.ffmpeg import run_ffmpeg

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


@dataclass(frozen=True)
class DialogueFilm:
    """A film whose soundtrack is synthesised speech at known times, with known shot cuts."""

    video: Path
    subtitles: Path
    duration: float
    speech: tuple[Interval, ...]  # audible extent of each spoken line (the VAD truth)
    cuts: tuple[float, ...]


def audible_extent(samples: np.ndarray, sample_rate: int, level: float = 0.01) -> Interval:
    """First and last time ``|sample| > level``: TTS pads its output with silence."""
    loud = np.flatnonzero(np.abs(samples) > level)
    if loud.size == 0:
        return (0.0, 0.0)
    return (loud[0] / sample_rate, (loud[-1] + 1) / sample_rate)


def speak_lines(
    out_dir: Path, lines: Sequence[tuple[float, str]], duration: float, engine: object | None = None
) -> tuple[Path, tuple[Interval, ...], list[Line]]:
    """``dialogue.wav`` in ``out_dir``: each ``(start, text)`` line spoken by ``engine``
    (espeak-ng by default) from ``start``; returns the wav, each line's audible extent (the
    VAD truth) and the subtitle lines (text timed to its audible extent)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tts = engine if engine is not None else EspeakEngine()
    rate, placed, spans, subs = 16000, [], [], []
    for start, text in lines:
        samples, sr = tts.synthesize(text, 170)
        a, b = audible_extent(samples, sr)
        placed.append(Speech(start, samples, sr, 170))
        spans.append((round(float(start + a), 3), round(float(start + b), 3)))
        subs.append((start + a, start + b, text))
    wav = write_wav(out_dir / "dialogue.wav", assemble_track(placed, duration, rate), rate)
    return wav, tuple(spans), subs


def make_dialogue_film(
    out_dir: Path,
    lines: Sequence[tuple[float, str]],
    duration: float,
    cuts: Sequence[float] = (),
    engine: object | None = None,
    size: str = "160x120",
    fps: int = 25,
) -> DialogueFilm:
    """``film.mp4`` + ``film.srt`` in ``out_dir``: each ``(start, text)`` line spoken by
    ``engine`` (espeak-ng by default) from ``start``; the picture alternates FFmpeg's
    ``testsrc`` and a black frame at each of ``cuts``, so shot changes are known too."""
    out_dir = Path(out_dir)
    wav, spans, subs = speak_lines(out_dir, lines, duration, engine)
    edges = [0.0, *sorted(cuts), duration]
    sources, labels = [], []
    for i, (a, b) in enumerate(zip(edges, edges[1:])):
        pattern = "testsrc=" if i % 2 == 0 else "color=c=black:"
        sources += ["-f", "lavfi", "-i", f"{pattern}size={size}:rate={fps}:duration={b - a:.3f}"]
        labels.append(f"[{i}:v]")
    n = len(labels)
    graph = f"{''.join(labels)}concat=n={n}:v=1:a=0[v]"
    video = out_dir / "film.mp4"
    run_ffmpeg([*sources, "-i", str(wav), "-filter_complex", graph, "-map", "[v]",
                "-map", f"{n}:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
                "yuv420p", "-c:a", "aac", "-metadata:s:a:0", "language=eng", "-shortest",
                str(video)])
    return DialogueFilm(video, make_srt(out_dir / "film.srt", subs), duration,
                        spans, tuple(float(c) for c in cuts))


# --- on-screen text -------------------------------------------------------------------

Placement = Literal["title", "sign", "subtitle"]


@dataclass(frozen=True)
class Caption:
    """Text drawn on a generated video from ``start`` to ``end``: a ``title`` card (white on
    black, full frame), a ``sign`` (black on a white panel near the top) or a burnt-in
    ``subtitle`` (white on a black strip at the bottom)."""

    start: float
    end: float
    text: str
    where: Placement


def _drawtext_escape(text: str) -> str:
    """Text as drawtext's ``text=`` value inside single quotes (filtergraph escaping)."""
    return text.replace("\\", "\\\\\\\\").replace("'", "\u2019").replace(":", "\\:").replace(
        "%", "\\%")


def caption_filter(caption: Caption, height: int) -> str:
    """The drawbox/drawtext chain that draws ``caption`` on a ``height``-pixel frame only
    while it is on screen."""
    on = f"enable='between(t,{caption.start},{caption.end})'"
    text = f"text='{_drawtext_escape(caption.text)}'"
    if caption.where == "title":
        return (f"drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:{on},"
                f"drawtext={text}:fontsize=h/8:fontcolor=white:x=(w-tw)/2:y=(h-th)/2:{on}")
    if caption.where == "sign":
        return (f"drawtext={text}:fontsize=h/9:fontcolor=black:box=1:boxcolor=white:"
                f"boxborderw={height // 30}:x=(w-tw)/2:y=h/8:{on}")
    return (f"drawtext={text}:fontsize=h/16:fontcolor=white:box=1:boxcolor=black:"
            f"boxborderw=4:x=(w-tw)/2:y=h-th-h/20:{on}")


def make_text_video(
    path: Path,
    duration: float,
    captions: Sequence[Caption],
    silent: Sequence[Interval] = (),
    size: str = "640x360",
    fps: int = 25,
    pattern: str = "smptebars",
) -> Path:
    """:func:`make_video` (``smptebars`` by default: ``testsrc``/``testsrc2`` draw a
    running timecode, which is on-screen text too; a tone muted over ``silent``) with
    ``captions`` drawn on it at known times: the test film for on-screen text."""
    height = int(size.split("x")[1])
    chain = ",".join(caption_filter(c, height) for c in captions) or "null"
    args = ["-f", "lavfi", "-i", f"{pattern}=size={size}:rate={fps}:duration={duration}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={duration}",
            "-vf", chain, "-af", mute_filter(silent), "-c:a", "aac",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    run_ffmpeg(args)
    return path
