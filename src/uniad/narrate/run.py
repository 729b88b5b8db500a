"""Narrate a video end to end with a trained UniAD: the glue behind ``uniad narrate``.

probe -> gaps (voice activity + subtitles, shot cuts) -> encoder checked against the
checkpoint -> features (cached) -> cast bank -> one description per gap planned to
realistic timing and fitted speech -> the deliverables of :mod:`deliver`. Every check that can
fail (missing files, wrong encoder) runs before the first generation, so a mistake costs
seconds, not a film's worth of decoding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uniad.errors import DataError, UniADError
from uniad.narrate.cast import build_bank, read_cast
from uniad.narrate.encoder import CLIPVisionEncoder, VisualEncoder, encoder_from_name
from uniad.narrate.extract import (
    cache_path, check_encoder, extract_features, store_encoder, video_id_for,
)
from uniad.narrate.deliver import write_deliverables
from uniad.narrate.gaps import find_gaps, speech_spans
from uniad.narrate.plan import plan_cues
from uniad.narrate.settings import NarrationSettings
from uniad.narrate.shots import shot_cuts
from uniad.narrate.slots import Slot, read_subtitle_cues
from uniad.narrate.stages import StageClock
from uniad.narrate.speech import make_engine
from uniad.narrate.tracks import NarratedAD
from uniad.narrate.video import probe

log = logging.getLogger(__name__)

SYNTHETIC_ENCODER = "synthetic"  # what `uniad synth` feature stores (and demo models) record


@dataclass
class NarrationResult:
    """What a narration produced; ``timings`` (seconds per stage) go into ``ad.json`` too."""

    slots: list[Slot]
    ads: list[NarratedAD]
    paths: dict[str, Path]
    features: Path
    encoder: str
    cache_hit: bool
    timings: dict[str, float] = field(default_factory=dict)


def resolve_encoder(
    encoder: VisualEncoder | str | Path | None, recorded: str | None
) -> VisualEncoder:
    """The visual encoder to use: one given, a CLIP folder, or (none given) the random test
    encoder the checkpoint's name describes. Real CLIP weights cannot be downloaded here,
    so a checkpoint trained on them needs ``--visual-encoder``."""
    if isinstance(encoder, (str, Path)):
        return CLIPVisionEncoder(encoder)
    if encoder is not None:
        return encoder
    rebuilt = encoder_from_name(recorded) if recorded else None
    if rebuilt is None:
        raise UniADError(
            f"no visual encoder given: the checkpoint was trained on features from "
            f"{recorded or 'an unrecorded encoder'!r}; pass --visual-encoder with a local "
            "folder of those weights (for MAD checkpoints CLIP ViT-L/14, e.g. a copy of "
            "openai/clip-vit-large-patch14; nothing is downloaded)"
        )
    return rebuilt


def load_model(checkpoint_or_model: Any, device: str = "cpu") -> Any:
    """A UniAD instance, or one loaded from a ``save_pretrained`` folder."""
    if isinstance(checkpoint_or_model, (str, Path)):
        from uniad.model.uniad import UniAD

        return UniAD.from_pretrained(checkpoint_or_model, device=device)
    return checkpoint_or_model


def narrate(
    video: str | Path,
    cast: str | Path,
    checkpoint_or_model: Any,
    out_dir: str | Path,
    *,
    subtitles: str | Path | None = None,
    encoder: VisualEncoder | str | Path | None = None,
    speak: bool = False,
    mix: bool = False,
    settings: NarrationSettings | None = None,
    fps: float = 5.0,
    max_characters: int | None = None,
    cache_dir: str | Path | None = None,
    engine: Any = None,
    device: str = "cpu",
    allow_encoder_mismatch: bool = False,
) -> NarrationResult:
    """Write an AD track for ``video`` into ``out_dir`` (see the module docstring).

    ``cache_dir`` defaults to ``<out_dir>/cache``; ``engine`` (a TTS engine) defaults to
    ``settings.voice`` when ``speak``; ``mix`` needs ``speak``.

    ``allow_encoder_mismatch`` accepts an encoder whose *name* differs from the one the
    checkpoint recorded (the width must still match): the mismatch is logged as a warning
    and recorded in ``ad.json`` (``info.encoder_mismatch``). It exists for ``uniad demo``,
    whose model was trained on synthetic-world features and never saw real frames, so any
    encoder is "wrong" for it and the point is only to show the path. It is deliberately
    not a CLI flag: on a real checkpoint another encoder's features give confident nonsense.
    """
    from uniad.data.features import FeatureStore
    from uniad.narrate.describer import UniADDescriber

    video, out = Path(video), Path(out_dir)
    clock = StageClock()
    timings, lap = clock.timings, clock.lap
    if not video.is_file():
        raise DataError(video, "video file not found")
    if mix and not speak:
        raise UniADError("mixing needs speech: pass --speak with --mix")
    for member in read_cast(cast):  # cheap: a missing photo fails before any decoding
        for photo in member.photos:
            if not photo.is_file():
                raise DataError(cast, f"photo {photo} not found", record=member.record,
                                field="photos")
    settings = settings or NarrationSettings()
    if speak and engine is None:  # a missing voice shows here, not after generation
        engine = make_engine(settings.voice)
    info = probe(video)
    dialogue = speech_spans(video, info, settings, subtitles)
    cuts = shot_cuts(video, threshold=settings.cut_threshold) if settings.split_at_cuts else []
    slots = find_gaps(dialogue, info.duration, settings, cuts)
    model = load_model(checkpoint_or_model, device)
    lap("load")

    expected = model.config.model
    if encoder is None and expected.visual_encoder == SYNTHETIC_ENCODER:
        # A `uniad demo` checkpoint: trained on synthetic-world features no frame can
        # produce. Its narration uses the demo's own deterministic random CLIP (rebuilt from
        # its recipe), as the demo does, and says so in the log and in ad.json.
        from uniad.narrate.demo_step import demo_encoder

        encoder = demo_encoder(None, expected.feature_dim)
        allow_encoder_mismatch = True
    visual = resolve_encoder(encoder, expected.visual_encoder)
    trained_on, mismatch = expected.visual_encoder, None
    if (allow_encoder_mismatch and trained_on and visual.name != trained_on
            and visual.feature_dim == expected.feature_dim):
        mismatch = {"trained_on": trained_on, "used": visual.name}
        log.warning("narrating with encoder %r, but the checkpoint was trained on %r features: "
                    "the ADs show the pipeline, not the model's skill", visual.name, trained_on)
        trained_on = visual.name  # the store written below must still hold this encoder's
    check_encoder(visual.name, visual.feature_dim, trained_on, expected.feature_dim,
                  f"visual encoder {visual.name}")
    cache = Path(cache_dir) if cache_dir is not None else out / "cache"
    cache_hit = cache_path(video, visual.name, fps, cache).is_file()
    features = extract_features(video, visual, fps=fps, cache_dir=cache)
    name, width = store_encoder(features)
    check_encoder(name, width, trained_on, expected.feature_dim, str(features))
    video_id = video_id_for(video)
    bank = build_bank(cast, visual, video_id)
    lap("features")

    store = FeatureStore(features, fps=fps)
    try:
        describer = UniADDescriber(model, store, video_id, bank, max_characters=max_characters)
        lines = read_subtitle_cues(subtitles) if subtitles is not None else []
        plan = plan_cues(slots, describer, settings, engine if speak else None, lines)
    finally:
        store.close()
    lap("describe")

    checkpoint = checkpoint_or_model if isinstance(checkpoint_or_model, (str, Path)) else None
    run_info = {"video": str(video), "cast": str(cast),
                "subtitles": str(subtitles) if subtitles else None,
                "checkpoint": str(checkpoint) if checkpoint else None,
                "encoder": visual.name, "fps": fps, "voice": engine.name if speak else None,
                "shot_cuts": cuts, "slots": [[s.start, s.end] for s in slots],
                "feature_cache_hit": cache_hit,
                "timings": timings}
    if mismatch:
        run_info["encoder_mismatch"] = mismatch
    paths = write_deliverables(plan, video, out, info.duration, dialogue, settings, run_info,
                               has_audio=info.has_audio, mix=mix)
    lap("render")
    ads = plan.normal()
    log.info("narrated %d of %d slots of %s in %.1f s (%s)", len(ads), len(slots), video,
             sum(timings.values()), ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return NarrationResult(slots, ads, paths, features, visual.name, cache_hit, timings)
