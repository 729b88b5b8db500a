"""A film of an unseen movie of a rendered world, made to be narrated as a user would.

The demo's last step gives `uniad narrate` what a user gives it: an H.264 MP4 (the frames
go through real compression), a cast CSV with two photos per character, dialogue spoken
by the offline voice at known times and its subtitles. The movie is new: its cast is
drawn from the world's identity pool (faces the model has seen) with names drawn anew
(name-face pairs it has not), and each AD event fills the silence between two lines.
Beside the film lie its true AD track, ``reference.ad.srt``, and ``truth.json`` (who does
what in each event), which narration never reads: :func:`judge_narration` compares the
narrated cues with them afterwards.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from uniad.io import write_json
from uniad.narrate.media.ffmpeg import run_ffmpeg
from uniad.narrate.core import NarratedAD
from uniad.world import render
from uniad.world.accuracy import Judgement, judge
from uniad.world.pictures import PHOTOS_FOLDER, staged_scenes, write_cast_csv
from uniad.world.sample_media import make_srt, speak_lines
from uniad.world.synthetic import (
    EventTruth, Scene, draw_cast, make_pool, draw_scenes, event_truth, load_world,
    scene_text, world_params,
)

FILM_INDEX = 10_000  # the film's movie index: its rng stream is no world movie's
BLOCK = 7.0  # seconds per (spoken line, described event)
LINES = ("Where were you?", "Out.", "Sit down.", "Who called?", "Nobody.", "Look at me.",
         "Not now.", "Fine.")
VIDEO_SCALE = 2  # frames are rendered at render.SIZE and stored at twice that
VIDEO_FILE, CAST_FILE, SUBTITLES_FILE = "film.mp4", "cast.csv", "film.srt"
REFERENCE_FILE, TRUTH_FILE = "reference.ad.srt", "truth.json"


@dataclass(frozen=True)
class FilmEvent:
    """One true AD of the film: when (seconds) and what."""

    start: float
    end: float
    text: str
    truth: EventTruth


@dataclass(frozen=True)
class Film:
    video: Path
    cast: Path
    subtitles: Path
    reference: Path
    truth: Path
    duration: float
    events: tuple[FilmEvent, ...]
    dialogue: tuple[tuple[float, float], ...]


def write_film_video(path: Path, frames: np.ndarray, fps: float, audio: Path) -> Path:
    """H.264 at ``fps`` (PyAV), the dialogue muxed in as AAC (ffmpeg)."""
    silent = path.with_suffix(".video.mp4")
    with av.open(str(silent), "w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.height, stream.width = frames.shape[1] * VIDEO_SCALE, frames.shape[2] * VIDEO_SCALE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for pixels in frames:
            big = pixels.repeat(VIDEO_SCALE, axis=0).repeat(VIDEO_SCALE, axis=1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(big, format="rgb24")))
        container.mux(stream.encode())
    run_ffmpeg(["-i", str(silent), "-i", str(audio), "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                "-c:a", "aac", "-metadata:s:a:0", "language=eng", "-shortest", str(path)])
    silent.unlink()
    return path


def make_film(out_dir: Path, world: Path, seconds: float = 60.0, engine: Any = None) -> Film:
    """Render, voice and write the film of an unseen movie of ``world`` into ``out_dir``."""
    out_dir, world = Path(out_dir), Path(world)
    record = load_world(world)
    params = world_params(record)
    pool = make_pool(params)
    rng = np.random.default_rng([params.seed, FILM_INDEX])
    cast, idents = draw_cast(rng, params, pool["genders"], pool["actors"])
    blocks = max(1, int(seconds // BLOCK))
    duration = blocks * BLOCK
    lines = [(k * BLOCK + 0.3, LINES[k % len(LINES)]) for k in range(blocks)]
    wav, spoken, subs = speak_lines(out_dir / "media", lines, duration, engine)
    fps = params.fps
    ends = [s for s, _ in lines[1:]] + [duration]
    frame_spans = [(math.ceil((b + 0.4) * fps), math.floor((nxt - 0.2) * fps))
                   for (_, b), nxt in zip(spoken, ends)]
    scenes = draw_scenes(rng, params, len(cast), frame_spans)
    staged = staged_scenes(scenes, idents, params.actions, params.objects)
    frames = render.render_timeline(staged, int(round(duration * fps)), render.background(rng),
                                    rng)
    video = write_film_video(out_dir / VIDEO_FILE, frames, fps, wav)

    photo_dir = out_dir / PHOTOS_FOLDER  # the cast's photos beside the cast file, as a user has them
    photo_dir.mkdir(parents=True, exist_ok=True)
    photos = [[Path(shutil.copy(source, photo_dir / source.name))
               for source in sorted((world / PHOTOS_FOLDER).glob(f"id{ident:02d}-*.png"))]
              for ident in idents]
    cast_file = write_cast_csv(out_dir / CAST_FILE, cast, photos)
    subtitles = make_srt(out_dir / SUBTITLES_FILE, subs)

    events = tuple(_film_event(n, sc, cast, params) for n, sc in enumerate(scenes))
    reference = make_srt(out_dir / REFERENCE_FILE, [(e.start, e.end, e.text) for e in events])
    truth = write_json(out_dir / TRUTH_FILE, {
        "world": str(world), "duration": duration,
        "cast": [{"id": c.id, "role": c.role, "short_name": c.short_name, "gender": c.gender,
                  "identity": i} for c, i in zip(cast, idents)],
        "dialogue": [[a, b, text] for a, b, text in subs],
        "events": [{"start": e.start, "end": e.end, "text": e.text,
                    **dataclasses.asdict(e.truth)} for e in events],
    })
    return Film(video, cast_file, subtitles, reference, truth, duration, events, spoken)


def _film_event(n: int, sc: Scene, cast, params) -> FilmEvent:
    truth = event_truth(f"film#{n}", "film", sc, cast, params)
    return FilmEvent(round(sc.first / params.fps, 3), round(sc.last / params.fps, 3),
                     scene_text(sc, cast, params), truth)


@dataclass(frozen=True)
class CueVerdict:
    """A narrated cue against the true event it overlaps most (None: it overlaps none)."""

    cue: NarratedAD
    event: FilmEvent | None
    judgement: Judgement | None

    @property
    def right(self) -> bool:
        """The right character (name or pronoun, as the true track refers) and action."""
        return self.judgement is not None and self.judgement.correct and self.judgement.action


def _overlap(cue: NarratedAD, event: FilmEvent) -> float:
    return min(cue.end, event.end) - max(cue.start, event.start)


def judge_narration(cues: list[NarratedAD], events: tuple[FilmEvent, ...]) -> list[CueVerdict]:
    """Each cue judged against the true event it overlaps most."""
    verdicts = []
    for cue in sorted(cues, key=lambda c: c.start):
        best = max(events, key=lambda e: _overlap(cue, e), default=None)
        if best is None or _overlap(cue, best) <= 0:
            verdicts.append(CueVerdict(cue, None, None))
        else:
            verdicts.append(CueVerdict(cue, best, judge(cue.text, best.truth)))
    return verdicts
