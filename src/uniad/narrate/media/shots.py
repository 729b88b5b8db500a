"""Shot cuts by frame difference: a description should not straddle a cut.

A cut is where consecutive small greyscale frames differ by more than ``threshold`` on
average (pixel values in ``[0, 1]``). Hand-written rather than PySceneDetect because that
package pulls OpenCV (100+ MB) for what is one mean over a frame difference here, and
frames already come from our PyAV decoder (:func:`uniad.narrate.media.video.iter_frames`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from uniad.narrate.media.video import iter_frames


CUT_FPS, CUT_SIZE = 10.0, 32  # frames compared per second, and their shorter side in pixels


class ShotCuts:
    """Shot cuts found frame by frame (``feed`` each frame of a :data:`CUT_FPS` timeline,
    e.g. as a :class:`~uniad.narrate.media.video.FrameSink`): each cut is stamped at the
    first frame of the new shot."""

    def __init__(self, threshold: float = 0.3) -> None:
        self.threshold = threshold
        self.cuts: list[float] = []
        self._previous: np.ndarray | None = None

    def feed(self, t: float, image: Image.Image) -> None:
        frame = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        previous, self._previous = self._previous, frame
        if previous is not None and previous.shape == frame.shape \
                and float(np.abs(frame - previous).mean()) > self.threshold:
            self.cuts.append(round(t, 3))


def shot_cuts(
    video: str | Path, fps: float = CUT_FPS, threshold: float = 0.3, size: int = CUT_SIZE
) -> list[float]:
    """Times (seconds) of the shot cuts of ``video``, sampled at ``fps``."""
    found = ShotCuts(threshold)
    for t, image in iter_frames(video, fps=fps, size=size, progress=False):
        found.feed(t, image)
    return found.cuts
