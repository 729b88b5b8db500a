"""Add the narration to the video as an extra audio-description track.

The original streams are copied bit for bit (``-map 0 -c copy``): re-encoding a film to
add AD would cost quality and hours. One audio stream is added: the original soundtrack
ducked by ``duck_db`` while AD speaks, mixed with the narration, AAC-encoded, titled
"Audio description", tagged with the original's language and flagged with the
``visual_impaired`` and ``descriptions`` dispositions so players list it as an AD
track rather than as a default (MP4 keeps both; Matroska keeps ``visual_impaired``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from uniad.io import atomic_path
from uniad.narrate.core import Interval, bridge_gaps
from uniad.narrate.deliver.speech import write_wav
from uniad.narrate.media.ffmpeg import require_ffmpeg, run_ffmpeg
from uniad.narrate.media.video import open_media

log = logging.getLogger(__name__)


ENVELOPE_RATE = 100  # gain samples per second: 10 ms steps, ffmpeg resamples smoothly


def duck_envelope(
    intervals: Sequence[Interval], duration: float, duck_db: float, ramp_s: float,
    hold_s: float = 1.0, rate: int = ENVELOPE_RATE,
) -> np.ndarray:
    """Gain over time for the original soundtrack: 1 outside AD, ``10^(-duck_db/20)`` while
    AD speaks, with linear ramps of ``ramp_s`` before and after so music dips, not jumps.
    ADs less than ``hold_s`` apart share one dip: the sound does not pump between them.

    The envelope is audio (a WAV ffmpeg multiplies the soundtrack by, ``amultiply``) rather
    than a ``volume`` expression: an expression needs one term per AD, and FFmpeg's parser
    refuses the thousands a feature film has.
    """
    t = np.arange(int(np.ceil(duration * rate)) + 1) / rate
    depth = np.zeros_like(t)
    # Each (bridged) AD is a trapezoid: 0 -> 1 over the ramp, 1 while it speaks, back to 0.
    for a, b in bridge_gaps(intervals, hold_s):
        rise = np.clip((t - (a - ramp_s)) / ramp_s, 0, 1)
        fall = np.clip(((b + ramp_s) - t) / ramp_s, 0, 1)
        depth = np.maximum(depth, np.minimum(rise, fall))
    return (10 ** (-duck_db / 20 * depth)).astype(np.float32)


def _filter_graph(has_audio: bool, duration: float) -> str:
    if not has_audio:  # nothing to duck: the AD track is the narration, padded to the video
        return f"[1:a]apad=whole_dur={duration:.3f}[ad]"
    return (
        "[0:a:0][2:a]amultiply[duck];"
        # normalize=0: amix must not halve both inputs; the narration sits on top.
        "[duck][1:a]amix=inputs=2:duration=first:normalize=0[ad]"
    )


def mix_into_video(
    video: str | Path,
    ad_wav: str | Path,
    out_path: str | Path,
    intervals: Sequence[Interval],
    duck_db: float = 12.0,
    ramp_s: float = 0.25,
    language: str | None = None,
    title: str = "Audio description",
    bitrate: str = "160k",
) -> Path:
    """Write ``out_path``: every stream of ``video`` untouched plus the AD mix (through a
    temporary file, so a full disk leaves no truncated video under the final name).

    ``intervals`` are the (start, end) times where narration speaks (the ducking windows).
    ``language`` defaults to the original audio's language tag, else ``eng``.
    """
    require_ffmpeg()
    video, out_path = Path(video), Path(out_path)
    with open_media(video) as container:
        audio = list(container.streams.audio)
        duration = container.duration / av.time_base if container.duration else 0.0
    lang = language or (audio[0].metadata.get("language") if audio else None) or "eng"
    index = len(audio)  # the new stream's position among the output's audio streams
    with tempfile.TemporaryDirectory() as tmp, atomic_path(out_path) as partial:
        envelope = Path(tmp) / "duck.wav"
        write_wav(envelope, duck_envelope(intervals, duration, duck_db, ramp_s), ENVELOPE_RATE)
        log.info("mixing AD into %s", out_path)
        run_ffmpeg([
            "-i", str(video), "-i", str(ad_wav), "-i", str(envelope),
            "-filter_complex", _filter_graph(bool(audio), duration),
            "-map", "0", "-map", "[ad]", "-c", "copy",
            f"-c:a:{index}", "aac", f"-b:a:{index}", bitrate,
            f"-metadata:s:a:{index}", f"title={title}",
            # MP4/MOV keep no stream title: players show the handler name there instead.
            f"-metadata:s:a:{index}", f"handler_name={title}",
            f"-metadata:s:a:{index}", f"language={lang}",
            f"-disposition:a:{index}", "visual_impaired+descriptions",
            str(partial),
        ])
    return out_path
