"""Decode a real video with PyAV: its facts, frames sampled at a fixed rate, and its audio.

Everything streams: frames are yielded as they are decoded and audio is resampled frame by
frame, so a two-hour film never sits in memory as pixels. Every failure (missing file,
corrupt container, no video stream) becomes a :class:`~uniad.errors.DataError` naming the
file, because PyAV's own exceptions do not say which input was at fault.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
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


class _Timeline:
    """Which sample times of a ``fps`` timeline a decoded frame fills: sample k is the
    first frame at or after ``k / fps`` seconds (one frame may fill several samples when
    ``fps`` exceeds the video's rate; the timeline stops at ``expected`` samples)."""

    def __init__(self, fps: float, expected: int | None) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.expected, self.next = fps, expected, 0

    @property
    def done(self) -> bool:
        return self.expected is not None and self.next >= self.expected

    def times(self, frame_time: float) -> Iterator[float]:
        """The sample times ``frame_time`` (from time zero) fills, in order."""
        while frame_time + 1e-6 >= self.next / self.fps and not self.done:
            yield self.next / self.fps
            self.next += 1


def _expected(container: av.container.InputContainer, stream: av.VideoStream, fps: float
              ) -> int | None:
    duration = _duration(container, stream)
    return math.ceil(duration * fps - 1e-6) if duration else None


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
        origin = _origin(container)
        timeline = _Timeline(fps, _expected(container, stream, fps))
        bar = tqdm(total=timeline.expected, unit="frame", desc=f"decode {path.name}",
                   disable=not progress)
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                for t in timeline.times(frame.time - origin):
                    yield t, _to_image(frame, size)
                    bar.update(1)
                if timeline.done:
                    return
        except av.FFmpegError as exc:
            raise DataError(path, f"decoding failed after {timeline.next} frames ({exc})") from exc
        finally:
            bar.close()


@dataclass(frozen=True)
class FrameSink:
    """A consumer of the film's frames at its own rate: ``feed(time, image)`` for each
    sample of the ``fps`` timeline, frames scaled to ``size`` (shorter side; None: full)."""

    fps: float
    feed: Callable[[float, Image.Image], None]
    size: int | None = None


def decode_once(path: str | Path, sinks: Sequence[FrameSink] = (),
                audio_rate: int | None = None) -> np.ndarray | None:
    """One pass over the film: every sink gets its frames (as :func:`iter_frames` would
    yield them at its rate) and, with ``audio_rate``, the first audio stream comes back as
    :func:`decode_audio` returns it (None when the film has none). Narration reads the
    soundtrack (voice activity), shot cuts and on-screen text this way instead of decoding
    the film once for each."""
    path = Path(path)
    with open_media(path) as container:
        streams: list[av.stream.Stream] = []
        video = _video_stream(path, container) if sinks else None
        if video is not None:
            video.thread_type = "AUTO"
            streams.append(video)
        audio = _AudioTrack(container, audio_rate) if audio_rate and container.streams.audio else None
        if audio is not None:
            streams.append(audio.stream)
        if not streams:
            return None
        origin = _origin(container)
        timelines = [(sink, _Timeline(sink.fps, _expected(container, video, sink.fps)))
                     for sink in sinks] if video is not None else []
        bar = tqdm(total=round(_duration(container, streams[0])), unit="s",
                   desc=f"decode {path.name}", disable=not timelines)
        try:
            for frame in container.decode(*streams):
                if frame.time is None:
                    continue
                if audio is not None and isinstance(frame, av.AudioFrame):
                    audio.add(frame)
                    continue
                for sink, timeline in timelines:
                    for t in timeline.times(frame.time - origin):
                        sink.feed(t, _to_image(frame, sink.size))
                if int(frame.time - origin) > bar.n:  # whole seconds decoded
                    bar.update(int(frame.time - origin) - bar.n)
        except av.FFmpegError as exc:
            raise DataError(path, f"decoding failed at {bar.n} s ({exc})") from exc
        finally:
            bar.close()
        return audio.samples() if audio is not None else None


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


class _AudioTrack:
    """The first audio stream, resampled to mono float32 frame by frame as it is decoded."""

    def __init__(self, container: av.container.InputContainer, rate: int) -> None:
        self.stream = container.streams.audio[0]
        self.rate, self.origin = rate, _origin(container)
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        self.chunks: list[np.ndarray] = []

    def add(self, frame: av.AudioFrame) -> None:
        if not self.chunks and frame.time is not None and frame.time > self.origin:
            self.chunks.append(np.zeros(round((frame.time - self.origin) * self.rate), np.float32))
        self.chunks.extend(f.to_ndarray().reshape(-1) for f in self.resampler.resample(frame))

    def samples(self) -> np.ndarray:
        self.chunks.extend(f.to_ndarray().reshape(-1) for f in self.resampler.resample(None))
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self.chunks).astype(np.float32, copy=False)


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
        track = _AudioTrack(container, sample_rate)
        try:
            for frame in container.decode(track.stream):
                track.add(frame)
        except av.FFmpegError as exc:
            raise DataError(path, f"audio decoding failed ({exc})") from exc
        return track.samples()


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
