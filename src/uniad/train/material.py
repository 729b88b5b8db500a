"""A training split from a user's own described episodes (``uniad data build``).

A user who has described episodes of their own show (each: a video and its AD track as SRT
or WebVTT, one cue per AD) and the show's cast file (names + photos,
:mod:`uniad.narrate.describe.cast`) gets the three files ``uniad train`` reads, in the
benchmark formats:

- ``features.h5``: every episode's frames at ``fps`` through the visual encoder the
  checkpoint to fine-tune was trained on (its recorded ``model.visual_encoder``, or the one
  given), one ``(N, D)`` dataset per episode (timeline layout), as narration extracts them;
- ``bank.safetensors``: the cast photos through the same encoder (one averaged exemplar
  per character), the cast listed under every episode;
- ``train.json`` (and ``heldout.json`` for the last ``held_out`` episodes): MAD training
  records. ``char`` is the whole cast; ``ad_chars_in_chars`` (what the release trains on)
  the cast members whose name the AD text contains (full name, role, or short name, as
  whole words); ``context`` the episode's previous AD.

Each step is checked before the slow one starts: every file exists, the SRT parses, the
cast reads, the encoder is the checkpoint's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uniad.data.features import write_feature_store
from uniad.data.schema import Character
from uniad.errors import DataError, UniADError
from uniad.io import write_json
from uniad.model.sequence import TOKENWISE_MAPPERS
from uniad.narrate.describe.cast import build_bank, read_cast
from uniad.narrate.describe.encoder import RANDOM_PREFIX, VisualEncoder, encoder_from_name
from uniad.narrate.describe.extract import FrameFeatures, video_id_for
from uniad.narrate.media.video import probe
from uniad.narrate.run import resolve_encoder
from uniad.narrate.timeline.subtitles import read_subtitle_cues

log = logging.getLogger(__name__)

FEATURES, BANK, TRAIN, HELD_OUT = "features.h5", "bank.safetensors", "train.json", "heldout.json"


@dataclass(frozen=True)
class Episode:
    video: Path
    ad_track: Path

    @property
    def video_id(self) -> str:
        return video_id_for(self.video)


def named_in(text: str, cast: Sequence[Character]) -> list[Character]:
    """The cast members the AD names: full name, role or short name as whole words."""
    found = []
    for c in cast:
        names = {n for n in (c.name, c.role, c.display_name) if n and n.strip()}
        if any(re.search(rf"(?<!\w){re.escape(n.strip())}(?!\w)", text) for n in names):
            found.append(c)
    return found


def _char(c: Character) -> dict[str, str]:
    return {"id": c.id, "name": c.name, "role": c.role}  # the release's key order


def episode_records(episode: Episode, cast: Sequence[Character]) -> list[dict]:
    """MAD training records of one episode's AD track, each with the previous AD as context."""
    cues = sorted(read_subtitle_cues(episode.ad_track))
    records, previous = [], None
    for start, end, text in cues:
        text = " ".join(text.split())
        if not text:
            continue
        if end <= start:
            raise DataError(episode.ad_track, f"cue at {start:.3f} s ends at {end:.3f} s")
        named = [_char(c) for c in named_in(text, cast)]
        record = {"movie_id": episode.video_id, "start": start, "end": end, "ad": text,
                  "char": [_char(c) for c in cast], "ad_chars": named, "ad_chars_in_chars": named,
                  "context": [previous] if previous else []}
        records.append(record)
        previous = {"start": start, "end": end, "ad": text, "ad_chars_in_chars": named}
    if not records:
        raise DataError(episode.ad_track, "no AD cues: the AD track must hold one cue per AD")
    return records


def choose_encoder(checkpoint: str | Path | None, visual_encoder: str | None) -> tuple[VisualEncoder, bool]:
    """The encoder features must come from, and whether the checkpoint reads per-frame
    tokens ``(T, Q, D)`` (a CMD/TV-layout video Q-Former): ``visual_encoder`` (a CLIP folder
    or a ``random-clip:`` recipe) or the one the checkpoint recorded (the copy it carries in
    ``visual_encoder/``, if any)."""
    recorded, width, frame_tokens, bundled = None, None, False, None
    if checkpoint is not None:
        from uniad.model.folder import bundled_encoder, checkpoint_dir, read_config

        folder = checkpoint_dir(checkpoint)
        model, bundled = read_config(folder).model, bundled_encoder(folder)
        recorded, width = model.visual_encoder, model.feature_dim
        frame_tokens = model.mapper in TOKENWISE_MAPPERS
    if visual_encoder is not None and visual_encoder.startswith(RANDOM_PREFIX):
        encoder: VisualEncoder = encoder_from_name(visual_encoder)
    elif visual_encoder is None and recorded is None:
        raise UniADError("--checkpoint records no visual encoder (an imported release checkpoint"
                         "?); pass --visual-encoder with the CLIP folder its features came from")
    else:
        encoder = resolve_encoder(visual_encoder, recorded, bundled)
    if width is not None and encoder.feature_dim != width:
        raise UniADError(f"--visual-encoder {encoder.name}: width {encoder.feature_dim}, but "
                         f"{checkpoint} reads features of width {width}")
    if recorded and encoder.name != recorded:
        log.warning("features from %s, but %s was trained on %s", encoder.name, checkpoint, recorded)
    if frame_tokens:
        log.warning("%s reads per-frame query tokens (the release's VideoLLaMA Q-Former "
                    "features, which no encoder here computes): each frame's %s embedding "
                    "becomes one token", checkpoint, encoder.name)
    return encoder, frame_tokens


def episode_features(video: Path, encoder: VisualEncoder, fps: float, cache_dir: str | Path,
                     chunk: int = 256) -> np.ndarray:
    """Every frame of ``video`` at ``fps`` through narration's cached feature store (a rerun
    or a later ``uniad narrate`` of the same episode encodes nothing again), ``chunk``
    frames at a time so a long episode's pictures are never all in memory."""
    store = FrameFeatures(video, encoder, fps, probe(video).duration, cache_dir)
    try:
        return np.concatenate([store.rows(np.arange(i, min(i + chunk, store.frames)))
                               for i in range(0, store.frames, chunk)])
    finally:
        store.close()


def build_split(episodes: Sequence[Episode], cast_file: str | Path, out: str | Path,
                encoder: VisualEncoder, fps: float = 5.0, held_out: int = 0,
                cache_dir: str | Path | None = None, frame_tokens: bool = False) -> dict[str, Path]:
    """Write the split's files into ``out`` (see the module doc); returns their paths.
    ``frame_tokens`` writes each frame as one token, ``(N, 1, D)``, for a model whose video
    mapper reads per-frame tokens (``model.mapper=qformer``)."""
    out = Path(out)
    if not episodes:
        raise UniADError("give at least one --episode VIDEO AD_TRACK")
    if not 0 <= held_out < len(episodes):
        raise UniADError(f"--held-out {held_out}: must leave at least one of the "
                         f"{len(episodes)} episode(s) for training")
    ids = [e.video_id for e in episodes]
    if len(set(ids)) != len(ids):
        raise UniADError(f"episode videos must have distinct file names (ids {ids})")
    for e in episodes:
        if not e.video.is_file():
            raise DataError(e.video, "video not found")
    cast = [m.character for m in read_cast(cast_file)]
    records = [episode_records(e, cast) for e in episodes]  # every track parses before encoding
    out.mkdir(parents=True, exist_ok=True)
    features = {}
    for e in episodes:
        frames = episode_features(e.video, encoder, fps, cache_dir or out / "cache")
        features[e.video_id] = frames[:, None] if frame_tokens else frames
    paths = {"features": write_feature_store(out / FEATURES, features, fps=fps, layout="timeline",
                                             dtype="float32", encoder=encoder.name)}
    bank = build_bank(cast_file, encoder, ids[0])
    type(bank).from_tensors({c.id: bank.exemplar(ids[0], c.id) for c in cast},
                            cast={vid: cast for vid in ids}).save(out / BANK)
    paths["bank"] = out / BANK
    split = len(episodes) - held_out
    paths["train"] = write_json(out / TRAIN, [r for rs in records[:split] for r in rs])
    if held_out:
        paths["heldout"] = write_json(out / HELD_OUT, [r for rs in records[split:] for r in rs])
    log.info("built %s: %d training ADs from %d episode(s), %d held out", out,
             sum(map(len, records[:split])), split, sum(map(len, records[split:])))
    return paths
