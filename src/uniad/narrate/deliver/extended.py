"""Extended AD: the video pauses (frozen frame, silent audio) while a long description plays.

A description that cannot fit its gap even after faster speech and tempo is kept for the
extended version: the video is cut at the end of that gap and the last frame held for the
missing seconds. This is a second deliverable; the normal one (no pauses) stays as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from uniad.io import atomic_path
from uniad.narrate.core import NarratedAD
from uniad.narrate.deliver.speech import Speech
from uniad.narrate.media.ffmpeg import run_ffmpeg

Pause = tuple[float, float]  # (time in the original video, seconds held)


def pauses_of(cues: Sequence[NarratedAD]) -> list[Pause]:
    """Where extended cues need the video held: at the end of their gap, for ``pause_s``."""
    return sorted((float(c.meta["gap"][1]), float(c.meta["pause_s"]))
                  for c in cues if c.meta.get("fit") == "extended")


def shift(t: float, pauses: Sequence[Pause]) -> float:
    """Time ``t`` of the original video on the extended timeline."""
    return t + sum(d for at, d in pauses if at <= t)


def extended_cues(cues: Sequence[NarratedAD], pauses: Sequence[Pause]) -> list[NarratedAD]:
    """Every cue on the extended timeline; an extended cue runs on through its pause."""
    out = []
    for cue in cues:
        start = shift(cue.start, pauses)
        extra = cue.meta.get("pause_s", 0.0) if cue.meta.get("fit") == "extended" else 0.0
        out.append(replace(cue, start=round(start, 3),
                           end=round(start + (cue.end - cue.start) + extra, 3)))
    return out


def extended_speech(speech: Sequence[Speech], pauses: Sequence[Pause]) -> list[Speech]:
    return [replace(s, start=shift(s.start, pauses)) for s in speech]


def write_extended_video(
    video: str | Path, out_path: str | Path, pauses: Sequence[Pause], duration: float,
    has_audio: bool = True,
) -> Path:
    """``out_path``: ``video`` re-encoded with the frame at each pause held (and the audio
    silent) for the pause's length. Re-encoding is unavoidable: the frames change."""
    edges = [0.0, *(at for at, _ in pauses), duration]
    holds = [d for _, d in pauses] + [0.0]
    parts, labels = [], []
    for i, (a, b) in enumerate(zip(edges, edges[1:])):
        parts.append(f"[0:v]trim=start={a:.3f}:end={b:.3f},setpts=PTS-STARTPTS,"
                     f"tpad=stop_mode=clone:stop_duration={holds[i]:.3f}[v{i}]")
        labels.append(f"[v{i}]")
        if has_audio:
            parts.append(f"[0:a]atrim=start={a:.3f}:end={b:.3f},asetpts=PTS-STARTPTS,"
                         f"apad=pad_dur={holds[i]:.3f}[a{i}]")
            labels.append(f"[a{i}]")
    n = len(edges) - 1
    graph = ";".join(parts) + f";{''.join(labels)}concat=n={n}:v=1:a={int(has_audio)}[v]"
    maps = ["-map", "[v]"]
    if has_audio:
        graph += "[a]"
        maps += ["-map", "[a]", "-c:a", "aac"]
    with atomic_path(out_path) as partial:
        run_ffmpeg(["-i", str(video), "-filter_complex", graph, *maps, "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", str(partial)])
    return Path(out_path)
