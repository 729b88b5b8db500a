"""Narrate a video end to end: the glue behind ``uniad narrate``.

probe -> gaps (voice activity + subtitles, shot cuts) -> on-screen text (optional OCR:
read-out cues take their part of the gaps) -> the describer (a UniAD checkpoint: encoder
checked against it, features cached, cast bank; or a vision-language model that reads
frames itself) -> one description per gap planned to realistic timing and fitted speech ->
the deliverables of :mod:`deliver`. Every check that can fail (missing files, wrong
encoder, bad options) runs before the first generation, so a mistake costs seconds, not a
film's worth of decoding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from uniad.config import (
    DescriberConfig, NarrateConfig, NarrationConfig, ScreenTextConfig, check_section,
)
from uniad.errors import DataError, UniADError
from uniad.model.folder import WEIGHTS_FILE, checkpoint_dir
from uniad.narrate.core import Describer, Description, NarratedAD, Slot, StageClock
from uniad.narrate.deliver.deliverables import write_deliverables
from uniad.narrate.deliver.plan import plan_cues
from uniad.narrate.deliver.speech import make_engine
from uniad.narrate.describe.cast import build_bank, read_cast
from uniad.narrate.describe.choose import check_describer, prompted_describer, read_screen_text
from uniad.narrate.describe.encoder import (
    CLIPVisionEncoder, VisualEncoder, demo_encoder, encoder_from_name,
)
from uniad.narrate.describe.extract import FrameFeatures, check_encoder, video_id_for
from uniad.narrate.describe.journal import JOURNAL_FILE, JournaledDescriber
from uniad.narrate.media.ocr import TesseractOCR
from uniad.narrate.media.scan import scan_film
from uniad.narrate.media.video import probe
from uniad.narrate.timeline.dialogue import read_dialogue
from uniad.narrate.timeline.gaps import find_gaps, speech_spans
from uniad.narrate.timeline.screen_text import place_cues

log = logging.getLogger(__name__)

SYNTHETIC_ENCODER = "synthetic"  # what `uniad synth` feature stores (and demo models) record


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
    encoder: VisualEncoder | str | Path | None, recorded: str | None,
    bundled: Path | None = None,
) -> VisualEncoder:
    """The visual encoder to use: one given, a CLIP folder, or (none given) the copy the
    checkpoint carries (``bundled``, its ``visual_encoder/``), else the random test encoder
    the checkpoint's name describes. Real CLIP weights cannot be downloaded here, so a
    checkpoint trained on them without a copy needs ``--visual-encoder``; one given always
    wins over the copy."""
    if isinstance(encoder, (str, Path)):
        return CLIPVisionEncoder(encoder)
    if encoder is not None:
        return encoder
    if bundled is not None:
        log.info("visual encoder: the checkpoint's own copy, %s", bundled)
        return CLIPVisionEncoder(bundled)
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


def _uniad_describer(model, video, duration, cast, encoder, fps, cache_dir, out,
                     allow_encoder_mismatch, max_characters, screen_texts):
    """UniAD's describer: encoder checked against the checkpoint, features (encoded where
    read, cached), bank. Returns the describer, its feature store (the caller closes it),
    the encoder's name and the recorded mismatch."""
    from uniad.narrate.describe.uniad import UniADDescriber

    expected = model.config.model
    bundled = getattr(model, "visual_encoder_folder", None)
    if encoder is None and bundled is None and expected.visual_encoder == SYNTHETIC_ENCODER:
        # A `uniad demo` checkpoint: trained on synthetic-world features no frame can
        # produce. Its narration uses the demo's own deterministic random CLIP (rebuilt from
        # its recipe), as the demo does, and says so in the log and in ad.json.
        encoder = demo_encoder(None, expected.feature_dim)
        allow_encoder_mismatch = True
    visual = resolve_encoder(encoder, expected.visual_encoder, bundled)
    trained_on, mismatch = expected.visual_encoder, None
    if (allow_encoder_mismatch and trained_on and visual.name != trained_on
            and visual.feature_dim == expected.feature_dim):
        mismatch = {"trained_on": trained_on, "used": visual.name}
        log.warning("narrating with encoder %r, but the checkpoint was trained on %r features: "
                    "the ADs show the pipeline, not the model's skill", visual.name, trained_on)
        trained_on = visual.name
    check_encoder(visual.name, visual.feature_dim, trained_on, expected.feature_dim,
                  f"visual encoder {visual.name}")
    cache = Path(cache_dir) if cache_dir is not None else out / "cache"
    video_id = video_id_for(video)
    bank = build_bank(cast, visual, video_id)
    store = FrameFeatures(video, visual, fps, duration, cache)
    describer = UniADDescriber(model, store, video_id, bank, max_characters=max_characters,
                               screen_texts=screen_texts)
    return describer, store, visual.name, mismatch


class ReadOutDescriber:
    """The describer with on-screen text cues folded in: a read-out cue's own slot gets its
    text ("A sign reads: ..."), every other slot goes to ``describe``. Read-outs then go
    through the same planning, speech fitting and deliverables as descriptions."""

    def __init__(self, describe: Describer, read_outs: Sequence[NarratedAD], gaps: Sequence[Slot],
                 free: Sequence[Slot]) -> None:
        self.describe = describe
        self.avoids = getattr(describe, "avoids", False)
        self.read_outs: dict[tuple[float, float], NarratedAD] = {}
        starts = sorted([*(s.start for s in free), *(c.start for c in read_outs)])
        for cue in read_outs:
            # The read-out's slot runs to whatever comes next in its gap (a free part or
            # another read-out): the planner then times it by its words, as place_cues did.
            gap_end = next((g.end for g in gaps if g.start <= cue.start < g.end), cue.end)
            end = min([t for t in starts if cue.end <= t < gap_end] or [gap_end])
            self.read_outs[(cue.start, end)] = cue

    def slots(self) -> list[Slot]:
        return [Slot(start, end) for start, end in self.read_outs]

    def __call__(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD],
                 avoid: Sequence[str] = ()) -> Description:
        cue = self.read_outs.get((slot.start, slot.end))
        if cue is not None:
            return Description(cue.text, cue.characters, dict(cue.meta))
        return self.describe(slot, max_words, previous, avoid=avoid)


def describer_identity(checkpoint_or_model: Any, describer: DescriberConfig,
                       model_settings: NarrateConfig, screen_text: ScreenTextConfig,
                       video: Path, cast: str | Path, subtitles: str | Path | None,
                       encoder: str | None, fps: float | None) -> dict[str, Any] | None:
    """Everything that changes a describer's answers, for the journal's keys; None (no
    journal) for a UniAD given as an object, whose weights have no name to check."""
    identity: dict[str, Any] = {
        **{k: v for k, v in asdict(describer).items() if k != "api_key"},
        "model_settings": asdict(model_settings), "screen_text": asdict(screen_text),
        "video": str(video.resolve()), "cast": str(Path(cast).resolve()),
        "subtitles": str(Path(subtitles).resolve()) if subtitles else None,
        "encoder": encoder, "fps": fps}
    if describer.kind != "uniad":
        return identity
    if not isinstance(checkpoint_or_model, (str, Path)):
        return None
    weights = checkpoint_dir(checkpoint_or_model) / WEIGHTS_FILE
    stat = weights.stat()  # a retrained checkpoint in the same folder is another describer
    return {**identity, "checkpoint": str(weights.resolve()), "weights": [stat.st_size, stat.st_mtime_ns]}


def narrate(
    video: str | Path,
    cast: str | Path,
    checkpoint_or_model: Any,
    out_dir: str | Path,
    *,
    subtitles: str | Path | None = None,
    narration: NarrationConfig | None = None,
    screen_text: ScreenTextConfig | None = None,
    describer: DescriberConfig | None = None,
    model_settings: NarrateConfig | None = None,
    encoder: VisualEncoder | str | Path | None = None,
    speak: bool = False,
    mix: bool = False,
    cache_dir: str | Path | None = None,
    engine: Any = None,
    device: str = "cpu",
    allow_encoder_mismatch: bool = False,
) -> NarrationResult:
    """Write an AD track for ``video`` into ``out_dir`` (see the module docstring).

    The settings come as the config sections ``uniad narrate``'s flags build, each
    checked here before any file is read: ``narration`` (gaps, timing, voice),
    ``screen_text`` (OCR), ``describer`` (``uniad`` needs ``checkpoint_or_model``;
    ``vlm:FOLDER`` and ``openai:URL`` need none, see :mod:`uniad.narrate.describe.choose`)
    and ``model_settings`` (UniAD's feature rate and cast size; ``fps`` None: the
    checkpoint's ``data.fps``). ``cache_dir`` defaults to ``<out_dir>/cache``; ``engine``
    (a TTS engine) defaults to ``narration.voice`` when ``speak``; ``mix`` needs ``speak``.

    ``allow_encoder_mismatch`` accepts an encoder whose *name* differs from the one the
    checkpoint recorded (the width must still match): the mismatch is logged as a warning
    and recorded in ``ad.json`` (``info.encoder_mismatch``). It exists for ``uniad demo``,
    whose model was trained on synthetic-world features and never saw real frames, so any
    encoder is "wrong" for it and the point is only to show the path. It is deliberately
    not a CLI flag: on a real checkpoint another encoder's features give confident nonsense.
    """
    settings = (narration or NarrationConfig()).validate()
    screen_text = (screen_text or ScreenTextConfig()).validate()
    describer = (describer or DescriberConfig()).validate()
    model_settings = model_settings or NarrateConfig()
    check_section(model_settings, "narrate")
    read_text = screen_text.read_text
    video, out = Path(video), Path(out_dir)
    clock = StageClock()
    timings, lap = clock.timings, clock.lap
    if mix and not speak:
        raise UniADError("mixing needs speech: pass --speak with --mix")
    if describer.kind == "uniad" and checkpoint_or_model is None:
        raise UniADError("--describer uniad needs --checkpoint (or choose --describer "
                         "vlm:FOLDER or openai:URL, which need none)")
    check_describer(describer)
    if not video.is_file():
        raise DataError(video, "video file not found")
    for member in read_cast(cast):  # cheap: a missing photo fails before any decoding
        for photo in member.photos:
            if not photo.is_file():
                raise DataError(cast, f"photo {photo} not found", record=member.record,
                                field="photos")
    if speak and engine is None:  # a missing voice shows here, not after generation
        engine = make_engine(settings.voice)
    said = read_dialogue(subtitles) if subtitles else []  # a bad file fails before decoding
    ocr = (TesseractOCR(screen_text.ocr_languages, min_confidence=screen_text.ocr_min_confidence)
           if read_text != "off" else None)  # a missing Tesseract or language fails here
    info = probe(video)
    scan = scan_film(video, info.has_audio,
                     settings.cut_threshold if settings.split_at_cuts else None,
                     ocr, screen_text.ocr_fps)
    dialogue = speech_spans(video, info, settings, subtitles, samples=scan.audio)
    cuts = scan.cuts
    slots = find_gaps(dialogue, info.duration, settings, cuts)
    screen = read_screen_text(scan.screen, said) if ocr is not None else []
    read_outs, free = (place_cues(screen, slots, settings.plan_wpm / 60.0, settings.min_gap_s)
                       if read_text in ("cues", "both") else ([], slots))
    told = screen if read_text in ("context", "both") else []
    lap("screen_text")

    store = journal = None
    try:
        if describer.kind == "uniad":
            model = load_model(checkpoint_or_model, device)
            lap("load")
            fps = model_settings.fps or model.config.data.fps
            describe, store, visual_name, mismatch = _uniad_describer(
                model, video, info.duration, cast, encoder, fps, cache_dir, out,
                allow_encoder_mismatch, model_settings.max_characters, told)
            lap("features")
        else:
            describe = prompted_describer(describer, video, cast, said, told, device=device)
            visual_name, mismatch, fps = None, None, None
            lap("load")
        identity = describer_identity(checkpoint_or_model, describer, model_settings,
                                      screen_text, video, cast, subtitles, visual_name, fps)
        if identity is not None:
            describe = journal = JournaledDescriber(describe, out / JOURNAL_FILE, identity)
        describe_all = ReadOutDescriber(describe, read_outs, slots, free)
        planned = sorted([*free, *describe_all.slots()], key=lambda s: s.start)
        plan = plan_cues(planned, describe_all, settings, engine if speak else None)
        features = store.path if store is not None else None
        cache_hit = store is not None and store.encoded_now == 0
        if store is not None:
            log.info("%s: %s", store.path, "feature cache hit, no frame encoded" if cache_hit
                     else f"{store.encoded_now} frames encoded (only those the model read)")
    finally:
        if store is not None:
            store.close()
        if journal is not None:
            journal.close()
    lap("describe")

    checkpoint = checkpoint_or_model if isinstance(checkpoint_or_model, (str, Path)) else None
    run_info = {"video": str(video), "cast": str(cast),
                "subtitles": str(subtitles) if subtitles else None,
                "checkpoint": str(checkpoint) if checkpoint else None,
                "describer": describer.describer, "read_text": read_text,
                "screen_text": [asdict(t) for t in screen],
                "encoder": visual_name, "fps": fps, "voice": engine.name if speak else None,
                "shot_cuts": cuts, "slots": [[s.start, s.end] for s in slots],
                "feature_cache_hit": cache_hit,
                "frames_encoded": store.encoded_now if store is not None else None,
                "timings": timings}
    if mismatch:
        run_info["encoder_mismatch"] = mismatch
    paths = write_deliverables(plan, video, out, info.duration, dialogue, settings, run_info,
                               has_audio=info.has_audio, mix=mix)
    lap("render")
    ads = plan.normal()
    log.info("narrated %d of %d slots of %s in %.1f s (%s)", len(ads), len(slots), video,
             sum(timings.values()), ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return NarrationResult(slots, ads, paths, features, visual_name, cache_hit, timings)
