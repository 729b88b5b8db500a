"""A few frames of a time span, for describers that look at pictures (VLMs).

UniAD reads a slot through precomputed features; a vision-language model reads a handful
of images. Decoding the whole film for those would waste minutes, so each frame is
reached by seeking to the keyframe before it and decoding forward (PyAV).
"""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image

from uniad.errors import DataError
from uniad.narrate.media.video import _origin, _to_image, _video_stream, open_media


def frame_times(start: float, end: float, count: int) -> list[float]:
    """``count`` times spread over ``[start, end]``: the centres of equal pieces."""
    step = (end - start) / count
    return [round(start + (i + 0.5) * step, 3) for i in range(count)]


def frames_between(path: str | Path, start: float, end: float, count: int = 4,
                   size: int | None = 448) -> list[Image.Image]:
    """``count`` RGB frames of ``[start, end]`` (see :func:`frame_times`), the shorter
    side scaled to ``size`` pixels (VLM processors resize anyway)."""
    path = Path(path)
    images: list[Image.Image] = []
    with open_media(path) as container:
        stream = _video_stream(path, container)
        origin = _origin(container)
        for t in frame_times(start, end, count):
            target = t + origin
            container.seek(int(target / av.time_base), backward=True, any_frame=False)
            found = None
            try:
                for frame in container.decode(stream):
                    if frame.time is None:
                        continue
                    found = frame
                    if frame.time + 1e-6 >= target:
                        break
            except av.FFmpegError as exc:
                raise DataError(path, f"decoding the frame at {t:.2f} s failed ({exc})") from exc
            if found is None:
                raise DataError(path, f"no frame at {t:.2f} s (the video is shorter?)")
            images.append(_to_image(found, size))
    return images
