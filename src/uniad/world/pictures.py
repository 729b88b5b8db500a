"""A rendered world's movies as pictures and features: the frames of each movie drawn
(:mod:`uniad.world.render`) and encoded, its cast photos written with a cast file and
turned into exemplars by narration's own bank builder (:func:`uniad.narrate.describe.cast.build_bank`).

So a rendered world's features and exemplars are exactly what `uniad narrate` would compute
from the same pictures: only the world's truth (who, what, which) stays outside.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from uniad.data.schema import Character
from uniad.io import write_text
from uniad.narrate.describe.cast import build_bank
from uniad.narrate.describe.encoder import VisualEncoder
from uniad.world import render

log = logging.getLogger(__name__)

PHOTOS_FOLDER = "photos"
CASTS_FOLDER = "casts"


def write_cast_csv(path: Path, cast: Sequence[Character], photos: Sequence[Sequence[Path]]) -> Path:
    """A cast file in the CSV format `uniad narrate --cast` reads, photos relative to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["id", "name", "role", "short_name", "gender", "photos"])
    for character, own in zip(cast, photos):
        cells = ";".join(Path(os.path.relpath(p, path.parent)).as_posix() for p in own)
        writer.writerow([character.id, character.name, character.role,
                         character.short_name, character.gender, cells])
    return write_text(path, table.getvalue())


def staged_scenes(scenes: Sequence, idents: Sequence[int], actions: Sequence[str],
                  objects: Sequence[str]) -> list[render.Staged]:
    """Each scene of a movie as :mod:`render` draws it: pool identities of the subject and
    bystander (cast index -> identity), the action's and object's words."""
    return [render.Staged(sc.first, sc.last, idents[sc.subject], actions[sc.action],
                          objects[sc.obj], None if sc.bystander is None else idents[sc.bystander])
            for sc in scenes]


def encode_frames(encoder: VisualEncoder, frames: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 pictures through ``encoder`` -> ``(N, D)`` float32."""
    return encoder.encode([render.to_image(f) for f in frames])


class MoviePictures:
    """Renders and encodes each movie of a rendered world written into ``out_dir``."""

    def __init__(self, out_dir: Path, encoder: VisualEncoder, identities: int, seed: int,
                 actions: Sequence[str], objects: Sequence[str]) -> None:
        self.out_dir = out_dir
        self.encoder = encoder
        self.seed = seed
        self.actions, self.objects = actions, objects
        self.photos = render.save_photos(out_dir / PHOTOS_FOLDER, identities, seed)

    def movie(self, movie_id: str, index: int, cast: list[Character], idents: list[int],
              scenes: Sequence, num_frames: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Features ``(num_frames, D)`` of the movie's frames and one exemplar per character
        (the mean of its two photos' features), keyed by character id."""
        rng = np.random.default_rng([self.seed, index, 1])
        staged = staged_scenes(scenes, idents, self.actions, self.objects)
        frames = render.render_timeline(staged, num_frames, render.background(rng), rng)
        features = encode_frames(self.encoder, frames)
        cast_file = write_cast_csv(self.out_dir / CASTS_FOLDER / f"{movie_id}.csv", cast,
                                   [self.photos[i] for i in idents])
        bank = build_bank(cast_file, self.encoder, movie_id)
        exemplars = {c.id: bank.exemplar(movie_id, c.id)[0].numpy() for c in cast}
        log.info("rendered and encoded %s: %d frames", movie_id, num_frames)
        return features, exemplars
