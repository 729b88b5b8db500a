"""Frame sampling: a clip of any length -> the fixed number of frames the model reads.

The release samples differently for training and evaluation (REFERENCE.md section 2):

- training (``"tsn"``, the release's ``video_sample``): zero-pad clips shorter than
  ``video_length``, split the frames into ``video_length`` near-equal segments (the
  first ``n mod L`` segments one frame longer) and draw one random frame from each;
- MAD evaluation (``"linspace"``): ``np.linspace(0, n - 1, video_length).astype(int)``,
  no padding (short clips repeat frames);
- CMD-AD / TV-AD evaluation (``"linspace_pad"``): linspace when the clip has at least
  ``video_length`` frames, otherwise the clip zero-padded to ``video_length``;
- ``"all"``: every frame, for analysis and narration of long slots.

The functions work on axis 0 only, so per-frame query tokens ``(T, Q, D)`` (CMD-AD,
TV-AD) sample exactly like ``(T, D)`` frames.
"""

from __future__ import annotations

from typing import get_args

import numpy as np

from uniad.config import Sampling

SAMPLINGS = get_args(Sampling)  # declared once, as the config field's choices


def tsn_indices(num_frames: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """One random index from each of ``length`` near-equal segments of ``num_frames``.

    Segment sizes follow the release: ``num_frames // length`` each, and the first
    ``num_frames % length`` segments take one extra frame, so every frame belongs to
    exactly one segment. Requires ``num_frames >= length`` (pad first).
    """
    if num_frames < length:
        raise ValueError(f"tsn_indices needs at least {length} frames, got {num_frames}")
    base, extra = divmod(num_frames, length)
    sizes = np.full(length, base, dtype=np.int64)
    sizes[:extra] += 1
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return starts + rng.integers(0, sizes)


def linspace_indices(num_frames: int, length: int) -> np.ndarray:
    """The release's evaluation indices: ``np.linspace(0, n - 1, L).astype(int)``."""
    if num_frames < 1:
        raise ValueError("cannot sample from an empty clip")
    return np.linspace(0, num_frames - 1, length).astype(int)


def zero_pad(frames: np.ndarray, length: int) -> np.ndarray:
    """Append zero frames up to ``length`` (the release pads short training clips)."""
    missing = length - frames.shape[0]
    if missing <= 0:
        return frames
    pad = np.zeros((missing, *frames.shape[1:]), dtype=frames.dtype)
    return np.concatenate([frames, pad], axis=0)


def sample_frames(
    frames: np.ndarray,
    length: int,
    method: str,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Sample a clip ``(n, ...)`` to ``(length, ...)`` (or ``(n, ...)`` for ``"all"``);
    ``method`` is one of :data:`SAMPLINGS`.

    ``rng`` is required for ``"tsn"``; the caller seeds it so that a sample can be
    reproduced from (seed, epoch, index).
    """
    if frames.shape[0] == 0:
        raise ValueError("cannot sample from an empty clip")
    if method == "tsn":
        if rng is None:
            raise ValueError("tsn sampling needs a random generator")
        padded = zero_pad(frames, length)
        return padded[tsn_indices(padded.shape[0], length, rng)]
    if method == "linspace":
        return frames[linspace_indices(frames.shape[0], length)]
    if method == "linspace_pad":
        if frames.shape[0] < length:
            return zero_pad(frames, length)
        return frames[linspace_indices(frames.shape[0], length)]
    if method == "all":
        return frames
    raise ValueError(f"unknown frame sampling '{method}' (choose from {', '.join(SAMPLINGS)})")
