"""Shot cuts by frame difference: a description should not straddle a cut.

A cut is where consecutive small greyscale frames differ by more than ``threshold`` on
average (pixel values in ``[0, 1]``). Hand-written rather than PySceneDetect because that
package pulls OpenCV (100+ MB) for what is one mean over a frame difference here, and
frames already come from our PyAV decoder (:func:`uniad.narrate.media.video.iter_frames`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from uniad.narrate.media.video import iter_frames


def shot_cuts(
    video: str | Path, fps: float = 10.0, threshold: float = 0.3, size: int = 32
) -> list[float]:
    """Times (seconds) of the shot cuts of ``video``, sampled at ``fps``: each cut is
    stamped at the first frame of the new shot."""
    cuts: list[float] = []
    previous: np.ndarray | None = None
    for t, image in iter_frames(video, fps=fps, size=size, progress=False):
        frame = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        if previous is not None and previous.shape == frame.shape \
                and float(np.abs(frame - previous).mean()) > threshold:
            cuts.append(round(t, 3))
        previous = frame
    return cuts
