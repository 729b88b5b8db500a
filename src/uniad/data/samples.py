"""One assembler of a :class:`Sample`, for the dataset and for narration's describer.

Both read a span's frames through the store's one window check, sample them to
``data.video_length`` the same way, and lay out previous clips and context text the
same way, so a narrated slot is exactly the kind of sample the model was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from uniad.config import DataConfig
from uniad.data.features import FeatureStore
from uniad.data.sampling import sample_frames
from uniad.data.schema import ADEvent, CharacterEntry, Sample


def clip_tensor(store: FeatureStore, video_id: str, start: float, end: float, config: DataConfig,
                method: str, rng: np.random.Generator | None = None) -> torch.Tensor:
    """The span's frames (checked by :meth:`FeatureStore.window`) sampled to
    ``config.video_length`` with ``method``, as float32."""
    frames = store.window(video_id, start, end)
    sampled = sample_frames(frames, config.video_length, method, rng)
    return torch.from_numpy(np.ascontiguousarray(sampled, dtype=np.float32))


def assemble_sample(
    event: ADEvent,
    store: FeatureStore,
    config: DataConfig,
    method: str,
    previous: Sequence[tuple[float, float]],
    context_texts: Sequence[str],
    characters: Sequence[CharacterEntry],
    target: str | None,
    rng: np.random.Generator | None = None,
    video: torch.Tensor | None = None,
    screen_text: Sequence[str] = (),
) -> Sample:
    """``event``'s sample: its clip (``video`` when already read), the ``previous`` spans'
    clips oldest first, the context lines, the characters and the ``target`` (the AD to
    learn or score against; None for a slot to narrate); ``screen_text``: lines read on
    screen during a narrated slot (``model.use_screen_text``)."""
    if video is None:
        video = clip_tensor(store, event.video_id, event.start, event.end, config, method, rng)
    return Sample(
        sample_id=event.uid,
        event=event,
        video=video,
        previous_videos=[clip_tensor(store, event.video_id, s, e, config, method, rng)
                         for s, e in previous],
        context_texts=list(context_texts),
        characters=list(characters),
        target=target,
        screen_text=list(screen_text),
    )
