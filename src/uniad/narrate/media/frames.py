"""A few frames of a time span, for describers that look at pictures (VLMs).

UniAD reads a slot through precomputed features; a vision-language model reads a handful
of images. Decoding the whole film for those would waste minutes, so each frame is
reached by seeking to the keyframe before it and decoding forward (PyAV).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import av
from PIL import Image

from uniad.errors import DataError
from uniad.narrate.media.video import _origin, _to_image, _video_stream, open_media


def frame_times(start: float, end: float, count: int) -> list[float]:
    """``count`` times spread over ``[start, end]``: the centres of equal pieces."""
    step = (end - start) / count
    return [round(start + (i + 0.5) * step, 3) for i in range(count)]


SEEK_AFTER_S = 2.0  # a later frame further ahead than this is reached by seeking


def frames_at(path: str | Path, times: Sequence[float], size: int | None = None
              ) -> list[Image.Image]:
    """The frame shown at each of ``times`` (seconds from the container's start): the first
    decoded frame at or after it, the rule of :func:`~uniad.narrate.media.video.iter_frames`,
    so a frame read here equals the one a full decode would give at that time. Times are
    visited in order; a jump of more than :data:`SEEK_AFTER_S` seeks to the keyframe before
    the target, a shorter one decodes forward. Past the last frame, the last frame."""
    path = Path(path)
    images: list[Image.Image | None] = [None] * len(times)
    with open_media(path) as container:
        stream = _video_stream(path, container)
        stream.thread_type = "AUTO"
        origin = _origin(container)
        decoded: Iterator[av.VideoFrame] | None = None
        current: av.VideoFrame | None = None
        for i in sorted(range(len(times)), key=times.__getitem__):
            target = times[i] + origin
            try:
                if decoded is None or current is None or target - current.time > SEEK_AFTER_S:
                    container.seek(int(target / av.time_base), backward=True, any_frame=False)
                    decoded, current = container.decode(stream), None
                while current is None or current.time + 1e-6 < target:
                    frame = next(decoded, None)
                    if frame is None:
                        break  # the stream ended: keep the last frame
                    if frame.time is not None:
                        current = frame
            except av.FFmpegError as exc:
                raise DataError(path, f"decoding the frame at {times[i]:.2f} s failed ({exc})") from exc
            if current is None:
                raise DataError(path, f"no frame at {times[i]:.2f} s (the video is shorter?)")
            images[i] = _to_image(current, size)
    return images  # type: ignore[return-value]


def frames_between(path: str | Path, start: float, end: float, count: int = 4,
                   size: int | None = 448) -> list[Image.Image]:
    """``count`` RGB frames of ``[start, end]`` (see :func:`frame_times`), the shorter
    side scaled to ``size`` pixels (VLM processors resize anyway)."""
    return frames_at(path, frame_times(start, end, count), size)
