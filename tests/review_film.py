"""A narrated generated film to review: the folder `uniad review` opens in the tests.

A 12 s film with espeak-ng dialogue at known times, a cast of Anna and Tom, a stub
describer (one text per gap), the espeak voice (fast), every deliverable but the mix.
"""

from __future__ import annotations

import json
from pathlib import Path

from uniad.config import NarrationConfig
from uniad.narrate.deliver.deliverables import write_deliverables
from uniad.narrate.timeline.gaps import find_gaps, speech_spans
from uniad.narrate.core import Description
from uniad.narrate.deliver.plan import plan_cues
from uniad.narrate.deliver.speech import make_engine
from uniad.narrate.media.video import probe
from uniad.world.sample_media import DialogueFilm, make_dialogue_film

LINES = ((0.5, "Where were you?"), (5.0, "Out."), (9.0, "Sit down."))
TEXTS = ("Anna looks up.", "Tom leaves the room.", "The door shuts.", "Night falls.")


def narrated_folder(root: Path) -> tuple[Path, DialogueFilm]:
    """``root/out``: a narration output folder (ad.json, tracks, ad.wav, ad.html)."""
    film = make_dialogue_film(root / "media", LINES, 12.0)
    cast = root / "media" / "cast.json"
    cast.write_text(json.dumps([{"name": "Anna Berg", "role": "Anna", "photos": ["a.png"]},
                                {"name": "Tom Lind", "role": "Tom", "photos": ["t.png"]}]))
    settings = NarrationConfig(voice="espeak")
    info = probe(film.video)
    dialogue = speech_spans(film.video, info, settings)
    gaps = find_gaps(dialogue, info.duration, settings)
    texts = iter(TEXTS)
    plan = plan_cues(gaps, lambda slot, n, prev: Description(next(texts, "")), settings,
                     make_engine("espeak"))
    write_deliverables(plan, film.video, root / "out", info.duration, dialogue, settings,
                       {"video": str(film.video), "cast": str(cast)}, mix=False)
    return root / "out", film
