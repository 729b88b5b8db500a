"""The demo's last step: narrate a sample film that it generates itself.

A newcomer has no film, no cast photos and no CLIP weights, so the demo makes all three:
the sample media of :mod:`uniad.world.sample_media` and a small *random* CLIP tower
whose recipe is its name (:func:`uniad.narrate.describe.encoder.random_clip_name`), projected to
the model's feature width. A model trained on the synthetic world recorded the encoder
``"synthetic"``, which no frame can go through: :func:`uniad.narrate.run.narrate` then
picks that random CLIP itself and records the encoder mismatch. The ADs it writes show the
whole path (slots, features, cast bank, generation, tracks, speech, mix), not what the
model learned.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from uniad.narrate.run import NarrationResult, load_model, narrate
from uniad.world.sample_media import make_sample_media

log = logging.getLogger(__name__)

def narrate_sample(
    model: Any,
    out_dir: Path,
    seconds: float = 30.0,
    speak: bool = True,
    mix: bool = True,
    device: str = "cpu",
    engine: Any = None,
) -> NarrationResult:
    """Make a ``seconds``-long sample film in ``out_dir/media`` and narrate it with
    ``model`` (a UniAD or a checkpoint folder) into ``out_dir``: ``ad.srt``, ``ad.vtt``,
    ``ad.json`` (+ ``ad.wav`` with ``speak``, + ``sample.ad.mp4`` with ``mix``).

    Slots come from the sample's subtitles; ``engine`` (TTS) defaults to espeak-ng.
    """
    out_dir = Path(out_dir)
    model = load_model(model, device)
    media = make_sample_media(out_dir / "media", seconds)
    log.info("narrating the %.0f s sample film %s", seconds, media.video)
    return narrate(
        media.video, media.cast, model, out_dir, subtitles=media.subtitles,
        speak=speak, mix=mix, engine=engine, device=device,
    )
