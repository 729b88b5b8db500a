"""A training split -> the model ``uniad train`` builds for it and the events it keeps
(the split itself is opened by :func:`uniad.data.splits.open_split`)."""

from __future__ import annotations

import dataclasses

import torch

from uniad.config import UniADConfig
from uniad.data.dataset import ADDataset, character_pool
from uniad.model.sequence import CONTEXT_TEMPLATE, FIXED_TEXTS, character_text, within_target_limit
from uniad.model.uniad import UniAD


def tokenizer_corpus(dataset: ADDataset) -> list[str]:
    """Every text the LLM reads for ``dataset``, as often as it reads it: per event the AD,
    the context line and the character lines, plus the layout's fixed words. It trains
    the "tiny" LLM's tokenizer, and BPE merges what is frequent, so the repetitions count:
    deduplicated, a character line took 18 tokens instead of 7, and the tiny model
    learned far more slowly (loss 0.95 instead of 0.07 after 2,300 steps). With the ADs
    alone, three character lines took 70 positions, one per byte.
    """
    texts: list[str] = list(FIXED_TEXTS)
    source = dataset.config.character_source
    for event in dataset.events:
        texts.append(event.text)
        texts.extend(CONTEXT_TEMPLATE.format(c.text) for c in event.context if c.text)
        texts.extend(character_text(c) for c in character_pool(event, source, dataset.training))
    return texts


def within_token_limit(dataset: ADDataset, model: UniAD, config: UniADConfig) -> ADDataset:
    """The training set without ADs longer than ``data.max_ad_tokens`` (the release drops
    them; so do we, with a logged count). It needs the model's tokenizer, hence after build."""
    kept = within_target_limit(dataset.events, model.builder, config.data.max_ad_tokens,
                               check_previous=config.model.contrastive_loss)
    if len(kept) == len(dataset.events):
        return dataset
    return ADDataset(kept, dataset.features, dataset.bank, dataset.config,
                     training=True, seed=dataset.seed)


def build_for_training(train_set: ADDataset, config: UniADConfig) -> tuple[UniAD, ADDataset]:
    """The model `uniad train` trains on ``train_set`` and the part of the set it keeps.

    The model's config (a copy: ``config`` itself is never written to) records the
    features' encoder, so `uniad narrate` can refuse others; write ``model.config`` into the
    run folder. The seed is set before building so every rank starts alike (DDP also
    broadcasts rank 0's); the "tiny" LLM's tokenizer learns the split's texts.
    """
    train_set.features.check_width(config.model.feature_dim)
    encoder = train_set.features.attrs.get("encoder") or None
    config = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                   visual_encoder=encoder))
    torch.manual_seed(config.train.seed)
    model = UniAD.build(config, corpus=tokenizer_corpus(train_set))
    return model, within_token_limit(train_set, model, config)
