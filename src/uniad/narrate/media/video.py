"""Decode a real video with PyAV: its facts, frames sampled at a fixed rate, and its audio.

Everything streams: frames are yielded as they are decoded and audio is resampled frame by
frame, so a two-hour film never sits in memory as pixels. Every failure (missing file,
corrupt container, no video stream) becomes a :class:`~uniad.errors.DataError` naming the
file, because PyAV's own exceptions do not say which input was at fault.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image
from tqdm import tqdm

from uniad.errors import DataError


@dataclass(frozen=True)
class VideoInfo:
    """What narration needs to know about a video before decoding it."""

    duration: float  # seconds
    fps: float  # the stream's average frame rate
    width: int
    height: int
    has_audio: bool
    audio_language: str | None = None  # the first audio stream's language tag, if any


@contextmanager
def open_media(path: str | Path) -> Iterator[av.container.InputContainer]:
    """Open ``path`` with PyAV, turning "missing" and "unreadable" into errors naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise DataError(path, f"cannot be read as audio/video ({exc.strerror or exc})") from exc
    try:
        yield container
    finally:
        container.close()


def _video_stream(path: Path, container: av.container.InputContainer) -> av.VideoStream:
    if not container.streams.video:
        raise DataError(path, "has no video stream (is it an audio file?)")
    return container.streams.video[0]


def _origin(container: av.container.InputContainer) -> float:
    """Time zero of the presentation: MPEG-TS and edited MP4s start at a non-zero timestamp,
    while subtitles and players count from the container's start."""
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """Container duration when known, else the stream's: both are optional in FFmpeg."""
    if container.duration is not None:
        return container.duration / av.time_base
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def probe(path: str | Path) -> VideoInfo:
    """Read a video's duration, frame rate, size and audio presence without decoding."""
    path = Path(path)
    with open_media(path) as container:
        stream = _video_stream(path, container)
        rate = stream.average_rate or stream.guessed_rate
        audio = container.streams.audio
        return VideoInfo(
            duration=_duration(container, stream),
            fps=float(rate) if rate else 0.0,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            has_audio=bool(audio),
            audio_language=audio[0].metadata.get("language") if audio else None,
        )


def iter_frames(
    path: str | Path,
    fps: float = 5.0,
    size: int | None = None,
    progress: bool = True,
) -> Iterator[tuple[float, Image.Image]]:
    """Yield ``(timestamp, RGB image)`` at ``fps``: frame k is the first decoded frame at or
    after ``k / fps`` seconds, stamped ``k / fps``: the MAD timeline, where row k of a feature
    store is time ``k / fps``. Time 0 is the container's start (see :func:`_origin`).

    ``size`` scales frames so their shorter side is ``size`` pixels during the colour
    conversion (FFmpeg's swscale, much cheaper than resizing in PIL afterwards); encoders
    resize to 224 anyway, so full-resolution frames would only cost memory.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = Path(path)
    with open_media(path) as container:
        stream = _video_stream(path, container)
        stream.thread_type = "AUTO"  # frame-threaded decoding: several times faster on H.264
        duration = _duration(container, stream)
        origin = _origin(container)
        expected = math.ceil(duration * fps - 1e-6) if duration else None
        bar = tqdm(total=expected, unit="frame", desc=f"decode {path.name}", disable=not progress)
        next_index = 0
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                # One decoded frame may cover several sample times when the target rate
                # exceeds the video's; repeat it rather than leave holes in the timeline.
                while frame.time - origin + 1e-6 >= next_index / fps:
                    if expected is not None and next_index >= expected:
                        return
                    yield next_index / fps, _to_image(frame, size)
                    next_index += 1
                    bar.update(1)
        except av.FFmpegError as exc:
            raise DataError(path, f"decoding failed after {next_index} frames ({exc})") from exc
        finally:
            bar.close()


def iter_frame_batches(
    path: str | Path, fps: float = 5.0, batch_size: int = 32, size: int | None = None
) -> Iterator[tuple[list[float], list[Image.Image]]]:
    """:func:`iter_frames` grouped into batches for an encoder: (timestamps, images)."""
    times: list[float] = []
    images: list[Image.Image] = []
    for t, image in iter_frames(path, fps=fps, size=size):
        times.append(t)
        images.append(image)
        if len(images) == batch_size:
            yield times, images
            times, images = [], []
    if images:
        yield times, images


def _to_image(frame: av.VideoFrame, size: int | None) -> Image.Image:
    if size is None:
        return frame.to_image()
    scale = size / min(frame.width, frame.height)
    width = max(1, round(frame.width * scale))
    height = max(1, round(frame.height * scale))
    return frame.to_image(width=width, height=height)


def decode_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """The first audio stream as mono float32 in [-1, 1] at ``sample_rate``.

    Decoded and resampled frame by frame (FFmpeg's swresample through
    :class:`av.AudioResampler`); only the mono result is kept (about 3.7 MB per minute at
    16 kHz). Sample 0 is the container's time zero: audio that starts later is preceded by
    silence, so sample times match subtitle and frame times.
    """
    path = Path(path)
    with open_media(path) as container:
        if not container.streams.audio:
            raise DataError(path, "has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        origin = _origin(container)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                if not chunks and frame.time is not None and frame.time > origin:
                    chunks.append(np.zeros(round((frame.time - origin) * sample_rate), np.float32))
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        except av.FFmpegError as exc:
            raise DataError(path, f"audio decoding failed ({exc})") from exc
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample mono float32 audio with FFmpeg's swresample (same path as decoding)."""
    if rate_in == rate_out or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt", layout="mono"
    )
    frame.sample_rate = rate_in
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_out)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)
