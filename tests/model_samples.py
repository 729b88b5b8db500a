"""Hand-built samples and a tiny config for the model tests (random tensors, no files)."""

from __future__ import annotations

import torch

from uniad.config import UniADConfig
from uniad.data.schema import ADEvent, Character, CharacterEntry, Sample

FEATURE_DIM = 8


def tiny_config(**model: object) -> UniADConfig:
    """The release layout at toy sizes on the tiny random LLM (width 64)."""
    config = UniADConfig()
    config.model.llm = "tiny"
    config.model.feature_dim = FEATURE_DIM
    config.model.num_latents = 3
    config.model.num_char_tokens = 2
    config.model.perceiver_depth = 1
    config.model.perceiver_head_dim = 16
    config.model.lora_dropout = 0.0  # dropout would make loss comparisons noisy
    for key, value in model.items():
        setattr(config.model, key, value)
    return config


def make_sample(
    sample_id: str = "s",
    *,
    frames: int = 4,
    previous_frames: tuple[int, ...] = (3,),
    characters: tuple[tuple[str, str], ...] = (("Anna Berg", "Emma Stone"),),
    exemplar_tokens: int = 1,
    context: tuple[str, ...] = ("Anna opens the door.",),
    target: str | None = "She sits down at the table.",
    seed: int = 0,
    feature_dim: int = FEATURE_DIM,
) -> Sample:
    """A sample with random features; ``context`` oldest first, as ``Sample`` keeps it."""
    g = torch.Generator().manual_seed(seed)
    events = tuple(
        ADEvent("movie", float(i), float(i) + 1.0, text) for i, text in enumerate(context)
    )
    event = ADEvent(
        "movie", 10.0, 12.0, target or "", context=tuple(reversed(events))  # nearest first
    )
    entries = [
        CharacterEntry(
            Character(f"nm{i}", actor, role), torch.randn(exemplar_tokens, feature_dim, generator=g)
        )
        for i, (role, actor) in enumerate(characters)
    ]
    return Sample(
        sample_id=sample_id,
        event=event,
        video=torch.randn(frames, feature_dim, generator=g),
        previous_videos=[torch.randn(n, feature_dim, generator=g) for n in previous_frames],
        context_texts=list(context),
        characters=entries,
        target=target,
    )
