"""What ``uniad train`` trains on and with: the tokenizer, then the data once, then the model.

The order matters: the AD length limit (``data.max_ad_tokens``) counts tokens, so the
tokenizer comes first (for the "tiny" LLM it is trained on the split's own texts); the
split is then opened once with the events that fit, and the model is built last around the
same tokenizer, recording the features' encoder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch

from uniad.config import UniADConfig
from uniad.data.dataset import ADDataset, character_pool
from uniad.data.formats import Annotations, read_annotations
from uniad.data.schema import ADEvent
from uniad.data.splits import open_split
from uniad.model.llm import load_tokenizer
from uniad.model.sequence import (
    FIXED_TEXTS, SequenceBuilder, character_text, context_text, within_target_limit,
)
from uniad.model.uniad import UniAD


def tokenizer_corpus(events: Sequence[ADEvent], config: UniADConfig) -> list[str]:
    """Every text the LLM reads for training on ``events``, as often as it reads it: per event
    the AD, the context line and the character lines, plus the layout's fixed words. It trains
    the "tiny" LLM's tokenizer, and BPE merges what is frequent, so the repetitions count:
    deduplicated, a character line took 18 tokens instead of 7, and the tiny model
    learned far more slowly (loss 0.95 instead of 0.07 after 2,300 steps). With the ADs
    alone, three character lines took 70 positions, one per byte.
    """
    texts: list[str] = list(FIXED_TEXTS)
    model = config.model
    for event in events:
        texts.append(event.text)
        texts.extend(context_text(c.text, model.context_line) for c in event.context if c.text)
        texts.extend(character_text(c, model.character_line)
                     for c in character_pool(event, config.data.character_source, True))
    return texts


def build_for_training(annotations: str | Path, features: str | Path, bank: str | Path | None,
                       config: UniADConfig) -> tuple[UniAD, ADDataset]:
    """The model `uniad train` trains and the training split it reads (see the module doc).

    ADs longer than ``data.max_ad_tokens`` are left out (the release drops them; so do we,
    with a logged count). The model's config (a copy: ``config`` itself is never written to)
    records the features' encoder, so `uniad narrate` can refuse others; write
    ``model.config`` into the run folder. The seed is set before building so every rank
    starts alike (DDP also broadcasts rank 0's).
    """
    read = read_annotations(annotations)
    tokenizer = load_tokenizer(config.model.llm, corpus=tokenizer_corpus(read.events, config))
    kept = within_target_limit(read.events, SequenceBuilder(tokenizer, config.model),
                               config.data.max_ad_tokens, check_previous=config.model.contrastive_loss)
    train_set = open_split(annotations, features, bank, config.data, training=True,
                           seed=config.train.seed, read=Annotations(read.format, kept))
    train_set.features.check_width(config.model.feature_dim)
    encoder = train_set.features.attrs.get("encoder") or None
    config = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                   visual_encoder=encoder))
    torch.manual_seed(config.train.seed)
    return UniAD.build(config, tokenizer=tokenizer), train_set
