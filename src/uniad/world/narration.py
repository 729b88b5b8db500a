"""The demo's last step: narrate a film it generates itself.

:func:`narrate_film` (a rendered world's model): the film of an unseen movie of the world
(:mod:`uniad.world.film`), narrated with the world's encoder folder as `uniad narrate
--visual-encoder` would, then each cue judged against the film's true track.

:func:`narrate_sample` (a vector world's model, which never saw a frame):
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

import json
import logging
import os
from pathlib import Path
from typing import Any

from uniad.config import NarrateConfig
from uniad.narrate.core import NarratedAD
from uniad.narrate.deliver.review import write_review_page
from uniad.narrate.run import NarrationResult, load_model, narrate
from uniad.world.film import CueVerdict, Film, judge_narration, make_film
from uniad.world.sample_media import make_sample_media
from uniad.world.synthetic import ENCODER_FOLDER

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


def narrate_film(
    model: Any,
    world: Path,
    out_dir: Path,
    seconds: float = 60.0,
    engine: Any = None,
    device: str = "cpu",
) -> tuple[Film, NarrationResult, list[CueVerdict]]:
    """Make the film of an unseen movie of ``world`` in ``out_dir/film`` and narrate it
    into ``out_dir`` (every deliverable: SRT, WebVTT, DAPT, JSON, speech, mixed video,
    review page), with the world's fitted encoder and the nearest cast member as the
    recognised character; then judge each cue against the film's truth."""
    out_dir = Path(out_dir)
    film = make_film(out_dir / "film", world, seconds, engine=engine)
    log.info("narrating the %.0f s film %s", film.duration, film.video)
    result = narrate(
        film.video, film.cast, load_model(model, device), out_dir, subtitles=film.subtitles,
        encoder=Path(world) / ENCODER_FOLDER, speak=True, mix=True, engine=engine,
        device=device, model_settings=NarrateConfig(max_characters=1),
    )
    _review_with_truth(result, film, out_dir)
    return film, result, judge_narration(result.ads, film.events)


def _review_with_truth(result: NarrationResult, film: Film, out_dir: Path) -> None:
    """Write ``ad.html`` again with the film's true track on the timeline beside the
    generated one (narration itself never sees the truth)."""
    info = json.loads(result.paths["json"].read_text())["info"]
    shown = result.paths.get("video", film.video)
    write_review_page(result.ads, result.paths["html"], os.path.relpath(shown, out_dir), "ad.vtt",
                      film.duration, [tuple(d) for d in info["dialogue"]],
                      reference=[NarratedAD(e.start, e.end, e.text) for e in film.events])
