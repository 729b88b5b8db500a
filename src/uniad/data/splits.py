"""Files on disk -> one dataset split: the one way training, evaluation and ``inspect``
open annotations, features and a character bank together."""

from __future__ import annotations

from pathlib import Path

from uniad.config import DataConfig
from uniad.data.charbank import CharacterBank
from uniad.data.dataset import ADDataset
from uniad.data.features import FeatureStore
from uniad.data.formats import Annotations, read_annotations
from uniad.errors import UniADError


def open_split(
    annotations: str | Path,
    features: str | Path,
    bank: str | Path | None,
    config: DataConfig,
    training: bool,
    seed: int,
    read: Annotations | None = None,
) -> ADDataset:
    """An :class:`ADDataset` over one annotation file (any supported format); ``read``:
    that file as :func:`read_annotations` already read it."""
    events = (read or read_annotations(annotations)).events
    store = FeatureStore(features, fps=config.fps, time_rounding=config.time_rounding)
    characters = CharacterBank.load(bank) if bank else None
    dataset = ADDataset(events, store, characters, config, training=training, seed=seed)
    if len(dataset) == 0:
        raise UniADError(
            f"{annotations}: no usable events ({len(dataset.dropped)} dropped; first: "
            f"{': '.join(dataset.dropped[0]) if dataset.dropped else 'none'})"
        )
    return dataset
