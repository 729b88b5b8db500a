"""Narrate a video end to end with a trained UniAD: the glue behind ``uniad narrate``.

probe -> slots -> encoder checked against the checkpoint -> features (cached) -> cast bank
-> one AD per slot -> SRT/WebVTT/JSON (+ speech, + mixed video). Every check that can
fail (missing files, wrong encoder) runs before the first generation, so a mistake costs
seconds, not a film's worth of decoding.

With ``describer="vlm:FOLDER"`` or ``"openai:URL"`` there is no checkpoint, encoder or
feature step: the describer reads frames itself. With ``read_text`` the video is read by
OCR first; read-out cues take their part of the gaps before the describer gets the rest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from uniad.errors import DataError, UniADError
from uniad.narrate.cast import build_bank, read_cast
from uniad.narrate.encoder import CLIPVisionEncoder, VisualEncoder, encoder_from_name
from uniad.narrate.extract import (
    cache_path, check_encoder, extract_features, store_encoder, video_id_for,
)
from uniad.narrate.dialogue import read_dialogue
from uniad.narrate.describers import (
    check_read_text, parse_describer, prompted_describer, read_screen_text,
)
from uniad.narrate.pipeline import describe_slots, find_slots, render
from uniad.narrate.screen_text import place_cues
from uniad.narrate.slots import Slot
from uniad.narrate.tracks import NarratedAD
from uniad.narrate.video import probe

log = logging.getLogger(__name__)


@dataclass
class NarrationResult:
    """What a narration produced; ``timings`` (seconds per stage) go into ``ad.json`` too."""

    slots: list[Slot]
    ads: list[NarratedAD]
    paths: dict[str, Path]
    features: Path | None  # None: the describer reads frames, not features
    encoder: str | None  # None: no visual encoder (a vlm:/openai: describer)
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


def _uniad_describer(model, video, cast, encoder, fps, cache_dir, out, allow_encoder_mismatch,
                     max_characters, screen_texts):
    """UniAD's describer: encoder checked against the checkpoint, features (cached), bank.

    Returns the describer, the open feature store (the caller closes it), the feature
    file, the encoder's name, whether the cache was hit, and the recorded mismatch."""
    from uniad.data.features import FeatureStore
    from uniad.narrate.describer import UniADDescriber

    expected = model.config.model
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
    store = FeatureStore(features, fps=fps)
    describer = UniADDescriber(model, store, video_id, bank, max_characters=max_characters,
                               screen_texts=screen_texts)
    return describer, store, features, visual.name, cache_hit, mismatch


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
    min_gap: float = 1.5,
    max_len: float = 8.0,
    words_per_second: float = 2.5,
    fps: float = 5.0,
    max_characters: int | None = None,
    cache_dir: str | Path | None = None,
    engine: Any = None,
    device: str = "cpu",
    allow_encoder_mismatch: bool = False,
    describer: str = "uniad",
    describer_model: str | None = None,
    api_key: str | None = None,
    frames_per_slot: int = 4,
    read_text: str = "off",
    ocr_languages: str = "eng",
    ocr_fps: float = 1.0,
    ocr_min_confidence: float = 60.0,
    portraits: bool = True,
) -> NarrationResult:
    """Write an AD track for ``video`` into ``out_dir`` (see the module docstring).

    ``cache_dir`` defaults to ``<out_dir>/cache``; ``engine`` (a TTS engine) defaults to
    espeak-ng when ``speak``; ``mix`` needs ``speak``.

    ``allow_encoder_mismatch`` accepts an encoder whose *name* differs from the one the
    checkpoint recorded (the width must still match): the mismatch is logged as a warning
    and recorded in ``ad.json`` (``info.encoder_mismatch``). It exists for ``uniad demo``,
    whose model was trained on synthetic-world features and never saw real frames, so any
    encoder is "wrong" for it and the point is only to show the path. It is deliberately
    not a CLI flag: on a real checkpoint another encoder's features give confident nonsense.

    ``describer`` is ``uniad`` (``checkpoint_or_model`` needed), ``vlm:FOLDER`` or
    ``openai:URL`` (no checkpoint; see :mod:`uniad.narrate.describers`);
    ``read_text`` (``off|cues|context|both``) what on-screen text does.
    """
    video, out = Path(video), Path(out_dir)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    if not video.is_file():
        raise DataError(video, "video file not found")
    if mix and not speak:
        raise UniADError("mixing needs speech: pass --speak with --mix")
    for member in read_cast(cast):  # cheap: a missing photo fails before any decoding
        for photo in member.photos:
            if not photo.is_file():
                raise DataError(cast, f"photo {photo} not found", record=member.record,
                                field="photos")
    if speak and engine is None:  # a missing espeak-ng shows here, not after generation
        from uniad.narrate.speech import EspeakEngine

        engine = EspeakEngine()
    kind, target = parse_describer(describer)
    check_read_text(read_text)
    if kind == "uniad" and checkpoint_or_model is None:
        raise UniADError("--describer uniad needs --checkpoint (or choose --describer "
                         "vlm:FOLDER or openai:URL, which need none)")
    info = probe(video)
    slots = find_slots(video, info, subtitles, min_gap=min_gap, max_len=max_len)
    dialogue = read_dialogue(subtitles) if subtitles else []
    screen = (read_screen_text(video, dialogue, ocr_languages, ocr_fps, ocr_min_confidence)
              if read_text != "off" else [])
    cues, free = (place_cues(screen, slots, words_per_second, min_gap)
                  if read_text in ("cues", "both") else ([], slots))
    told = screen if read_text in ("context", "both") else []
    lap("screen_text")

    store = None
    try:
        if kind == "uniad":
            model = load_model(checkpoint_or_model, device)
            lap("load")
            describer_, store, features, visual_name, cache_hit, mismatch = _uniad_describer(
                model, video, cast, encoder, fps, cache_dir, out, allow_encoder_mismatch,
                max_characters, told)
            lap("features")
        else:
            describer_ = prompted_describer(kind, target, video, cast, dialogue, told,
                                            model_name=describer_model, api_key=api_key,
                                            frames=frames_per_slot, portraits=portraits,
                                            device=device)
            features, visual_name, cache_hit, mismatch = None, None, False, None
            lap("load")
        ads = describe_slots(free, describer_, words_per_second=words_per_second)
    finally:
        if store is not None:
            store.close()
    ads = sorted(cues + ads, key=lambda ad: ad.start)
    lap("describe")

    checkpoint = checkpoint_or_model if isinstance(checkpoint_or_model, (str, Path)) else None
    run_info = {"video": str(video), "cast": str(cast),
                "subtitles": str(subtitles) if subtitles else None,
                "checkpoint": str(checkpoint) if checkpoint else None,
                "describer": describer, "read_text": read_text,
                "screen_text": [asdict(t) for t in screen],
                "encoder": visual_name, "fps": fps, "words_per_second": words_per_second,
                "min_gap": min_gap, "slots": [[s.start, s.end] for s in slots],
                "feature_cache_hit": cache_hit,
                "timings": timings}
    if mismatch:
        run_info["encoder_mismatch"] = mismatch
    paths = render(ads, video, out, info.duration, engine=engine if speak else None, mix=mix,
                   info=run_info)
    lap("render")
    log.info("narrated %d of %d slots of %s in %.1f s (%s)", len(ads), len(slots), video,
             sum(timings.values()), ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return NarrationResult(slots, ads, paths, features, visual_name, cache_hit, timings)
