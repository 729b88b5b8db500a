"""The narration pipeline around the model: slots -> descriptions -> tracks, speech, mix.

The model is reached through one callable (:class:`Describer`) so that this module needs
no torch and tests can drive it with a stub; ``uniad narrate`` wraps UniAD's generate in a
describer that reads the slot's frames from the feature store and the cast from the bank.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from uniad.narrate.mix import mix_into_video
from uniad.narrate.slots import Slot, slots_from_audio, slots_from_subtitles, split_long_slots
from uniad.narrate.speech import TTSEngine, assemble_track, speak_ads, write_wav
from uniad.narrate.tracks import NarratedAD, fit_text, write_tracks
from uniad.narrate.video import VideoInfo, decode_audio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Description:
    """What a describer says about one slot."""

    text: str
    characters: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)  # scores, beam, ...


class Describer(Protocol):
    """Describe ``slot`` in at most ``max_words`` words (a request: the model may exceed it).
    ``previous`` holds the ADs narrated so far, oldest first (UniAD's context)."""

    def __call__(self, slot: Slot, max_words: int, previous: Sequence[NarratedAD]) -> Description:
        ...


def find_slots(
    video: str | Path,
    info: VideoInfo,
    subtitles: str | Path | None = None,
    min_gap: float = 1.5,
    max_len: float = 8.0,
) -> list[Slot]:
    """AD slots of a video: from its subtitles when given, else from its soundtrack, else
    (a silent video) the whole timeline; long slots split into ``max_len`` pieces."""
    if subtitles is not None:
        slots = slots_from_subtitles(subtitles, info.duration, min_gap)
    elif info.has_audio:
        rate = 16000
        slots = slots_from_audio(decode_audio(video, rate), rate, info.duration, min_gap)
    else:
        slots = [Slot(0.0, info.duration)] if info.duration >= min_gap else []
    slots = split_long_slots(slots, max_len)
    log.info("%d AD slots (%.0f s of %.0f s)", len(slots), sum(s.duration for s in slots),
             info.duration)
    return slots


def describe_slots(
    slots: Sequence[Slot],
    describe: Describer,
    words_per_second: float = 2.5,
    min_words: int = 3,
) -> list[NarratedAD]:
    """Ask ``describe`` for each slot with room for ``min_words`` words.

    A description over budget is asked for once more with the budget it overshot by
    removed (the model usually finds a shorter sentence); only if that is still too long
    is it cut with :func:`fit_text`. ``meta`` records the budget and whether it was cut.
    """
    ads: list[NarratedAD] = []
    for slot in tqdm(slots, desc="describe", unit="slot"):
        budget = slot.word_budget(words_per_second)
        if budget < min_words:
            continue
        found = describe(slot, budget, ads)
        words = len(found.text.split())
        retried = words > budget
        if retried:
            found = describe(slot, max(min_words, 2 * budget - words), ads)
        text = fit_text(found.text, budget)
        if not text:
            continue
        meta = {**found.meta, "word_budget": budget, "retried": retried,
                "cut": text != " ".join(found.text.split())}
        ads.append(NarratedAD(slot.start, slot.end, text, found.characters, meta))
    return ads


def render(
    ads: Sequence[NarratedAD],
    video: str | Path,
    out_dir: str | Path,
    duration: float,
    engine: TTSEngine | None = None,
    mix: bool = True,
    sample_rate: int = 48000,
    duck_db: float = 12.0,
    info: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``ad.srt``, ``ad.vtt``, ``ad.json``; with an ``engine`` also ``ad.wav``, and
    with ``mix`` the video with the AD track added (``<name>.ad<ext>``)."""
    out = Path(out_dir)
    paths = write_tracks(ads, out, info)
    if engine is None:
        return paths
    speeches = speak_ads(ads, engine)
    paths["wav"] = write_wav(out / "ad.wav", assemble_track(speeches, duration, sample_rate),
                             sample_rate)
    if mix:
        video = Path(video)
        intervals = [(s.start, s.start + s.duration) for s in speeches]
        paths["video"] = mix_into_video(video, paths["wav"], out / f"{video.stem}.ad{video.suffix}",
                                        intervals, duck_db=duck_db)
    return paths
