"""Worlds changed so that one source of information is gone: the ablations of `uniad bench
learn` that the model's switches cannot express.

:func:`shuffle_event_frames` gives every AD event the frames of another event (drawn
across all movies), so the pictures no longer show the event's action and object: a
model that reads them must fall to chance on actions and objects. The annotations, bank
and recognised-character lists are kept as they are (the recogniser saw the true frames),
so naming can still work.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from uniad.data.features import write_feature_store
from uniad.world.synthetic import (
    BANK_FILE, EVAL_FILE, FEATURES_FILE, TRAIN_FILE, WORLD_FILE, load_world,
)


def shuffle_event_frames(world: Path, out: Path, seed: int = 0) -> Path:
    """A copy of ``world`` in ``out`` whose events show other events' frames."""
    record = load_world(world)
    fps = float(record["parameters"]["fps"])
    out.mkdir(parents=True, exist_ok=True)
    for name in (WORLD_FILE, TRAIN_FILE, EVAL_FILE, BANK_FILE):
        shutil.copy(world / name, out / name)
    with h5py.File(world / FEATURES_FILE, "r") as store:
        features = {movie: store[movie][:].astype(np.float32) for movie in record["movies"]}
        encoder = store.attrs.get("encoder")
    spans = _event_spans(world, fps)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(spans))
    shuffled = {movie: frames.copy() for movie, frames in features.items()}
    for (movie, first, last), source in zip(spans, order):
        src_movie, src_first, src_last = spans[source]
        take = np.linspace(src_first, src_last, last - first + 1).round().astype(int)
        shuffled[movie][first:last + 1] = features[src_movie][take]
    write_feature_store(out / FEATURES_FILE, shuffled, fps=fps, layout="timeline",
                        dtype="float16", encoder=str(encoder) if encoder else None)
    return out


def _event_spans(world: Path, fps: float) -> list[tuple[str, int, int]]:
    """(movie, first frame, last frame) of every event of the world's annotations."""
    from uniad.data.formats import read_mad_eval, read_mad_train

    events = [*read_mad_train(world / TRAIN_FILE), *read_mad_eval(world / EVAL_FILE)]
    return [(e.video_id, int(round(e.start * fps)), int(round(e.end * fps))) for e in events]
