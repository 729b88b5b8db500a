"""The MAD release layout (``MAD.pt``, ``LLaMA_AD_pretrain.pt``): its key names <-> ours.

The release saves ``{"epoch", "name", "state_dict", "optimizer"}`` pickles whose keys carry
DDP's ``module.`` prefix (shared/data/release_checkpoint/LAYOUT.md). Our modules were laid
out so that almost every key maps by a fixed prefix rename; the exceptions are the two
placeholder embeddings (two (1, D) tables, each tied to an output copy, here rows of one
(2, D) parameter) and loralib's LoRA tensors (``lora_A`` / ``lora_B``, peft's
``lora_A.<adapter>.weight`` / ``lora_B.<adapter>.weight``, same orientation).

Every key must be placed and every weight of ours filled: a mismatch raises and lists the
keys, never a silent ``strict=False`` as in the release.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import torch
from torch import Tensor

from uniad.errors import UniADError
from uniad.model.release.placement import mismatch_error, place_keys
from uniad.model.release.reading import listing


ADAPTER = "default"  # peft's adapter name (apply_lora uses the default one)

# (release prefix, our prefix, part) in matching order; a key takes the first match.
PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("project_img.", "character_mapper.project.", "character_mapper"),
    ("perceiver_img.", "character_mapper.perceiver.", "character_mapper"),
    ("project.", "video_mapper.project.", "video_mapper"),
    ("perceiver.", "video_mapper.perceiver.", "video_mapper"),
    ("gpt.", "llm.base_model.model.", "llm"),
)
# Release placeholder tables -> row of our ``placeholders`` (0 = <video>, 1 = <v>).
PLACEHOLDERS = {"video_input_token_embedding.weight": 0, "image_input_token_embedding.weight": 1}
TIED = {
    "video_output_token_embedding.weight": "video_input_token_embedding.weight",
    "image_output_token_embedding.weight": "image_input_token_embedding.weight",
}
PLACEHOLDER_KEY = "placeholders"
LORA_SUFFIXES = {".lora_A": f".lora_A.{ADAPTER}.weight", ".lora_B": f".lora_B.{ADAPTER}.weight"}


def release_key_to_ours(key: str) -> tuple[str, str] | None:
    """``(our key, part)`` for a release key placed by renaming, None when none applies.

    Parts: video_mapper, character_mapper, lora, norm (LLM keys split by kind).
    """
    for release, ours, part in PREFIXES:
        if key.startswith(release):
            name = ours + key[len(release):]
            if part != "llm":
                return name, part
            for suffix, peft_suffix in LORA_SUFFIXES.items():
                if name.endswith(suffix):
                    return name[: -len(suffix)] + peft_suffix, "lora"
            return (name, "norm") if name.endswith("norm.weight") else None
    return None


def our_key_to_release(key: str) -> str | None:
    """The inverse of :func:`release_key_to_ours` (placeholders are handled apart)."""
    for release, ours, part in PREFIXES:
        if key.startswith(ours):
            name = release + key[len(ours):]
            if part != "llm":
                return name
            for suffix, peft_suffix in LORA_SUFFIXES.items():
                if name.endswith(peft_suffix):
                    return name[: -len(peft_suffix)] + suffix
            return name if name.endswith("norm.weight") else None
    return None


# -- release -> ours ------------------------------------------------------------------------


def check_width(release: Mapping[str, Tensor], hidden_size: int, source: str) -> None:
    """Fail early, with both numbers, when the checkpoint was made for another LLM width."""
    for key in (*PLACEHOLDERS, "project.weight"):
        if key in release:
            width = release[key].shape[0 if key == "project.weight" else -1]
            if width != hidden_size:
                raise UniADError(f"{source}: checkpoint width {width} != LLM hidden size "
                                 f"{hidden_size} (key {key}); pass the LLM it was trained on (--llm)")
            return


def release_to_ours(
    release: Mapping[str, Tensor],
    expected: Mapping[str, Tensor],
    source: str,
    hint: str = "",
) -> tuple[dict[str, Tensor], Counter]:
    """Map a (prefix-stripped) release state dict onto ``expected`` (our trainable weights).

    Returns ``(state, counts)``: tensors under our names and the number of release keys
    placed per part. Raises listing every unplaced release key, every weight of ours left
    unfilled and every shape that differs; ``hint`` is appended to that message.
    """
    placed = place_keys(release, expected, release_key_to_ours, source,
                        placeholders=PLACEHOLDERS, tied=TIED)
    state = placed.state
    if len(placed.rows) == len(PLACEHOLDERS):
        state[PLACEHOLDER_KEY] = placeholder_table(placed.rows)
    missing = [f"{our_key_to_release(k)} ({k})" for k in expected
               if k not in state and k != PLACEHOLDER_KEY]
    missing += [k for k in PLACEHOLDERS if k not in placed.rows]
    error = mismatch_error(source, placed.unused, missing, placed.shape_mismatches(expected), hint=hint)
    if error is not None:
        raise error
    return state, placed.counts


def placeholder_table(rows: Mapping[str, Tensor]) -> Tensor:
    """Our ``placeholders`` (2, D) from the release's two tables' rows."""
    return torch.stack([rows[name] for name, _ in sorted(PLACEHOLDERS.items(), key=lambda kv: kv[1])])


# -- ours -> release ------------------------------------------------------------------------


def ours_to_release(state: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Our trainable weights -> the release's key names and shapes (no ``module.`` prefix)."""
    out: dict[str, Tensor] = {}
    unplaced: list[str] = []
    for key, value in state.items():
        if key == PLACEHOLDER_KEY:
            for name, row in PLACEHOLDERS.items():
                out[name] = value[row : row + 1].clone()
            for output, tied in TIED.items():
                out[output] = out[tied].clone()
        elif (name := our_key_to_release(key)) is not None:
            out[name] = value
        else:
            unplaced.append(key)
    if unplaced:
        raise UniADError(f"{source}: {len(unplaced)} weight(s) have no place in the release's "
                         f"layout: {listing(sorted(unplaced))}")
    return out
