"""Decoding attention that reads each sample's prompt once for all of its beams.

After the prefill, the ``num_beams`` rows of a sample share the same prompt keys and values
(150-300 positions) and differ only in the few tokens generated since. Hugging Face's
``DynamicCache`` stores the prompt once per beam, copies it whenever beams are reordered and
concatenates a new position onto the whole cache at every step; on a CPU those copies and the
per-row attention over the prompt cost more than the model's weights at the release's sizes.
transformers has no shared-prefix ("bifurcated") attention, so this module adds one through
its documented extension points instead of a patched model:

- :class:`SharedPrefixCache`, a ``Cache`` whose layers hold the prompt once per *sample*
  (never copied between beams, gathered only when a sample leaves) and the generated keys and
  values once per *row* (reordered each step, a few dozen positions);
- :func:`shared_prefix_attention`, registered with ``AttentionInterface``: the queries of a
  sample's beams (and, under grouped-query attention, of each key head's query heads) are
  multiplied with the prompt keys in one matrix product, and one softmax runs over prompt and
  generated positions together, in the order of transformers' eager attention (scores times
  scale, mask, float32 softmax, weights times values).

The model runs its own layers unchanged; :func:`shared_prefix_steps` switches its attention
implementation to this one only while a step runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import AttentionInterface, Cache, DynamicCache

SHARED_PREFIX_ATTENTION = "uniad_shared_prefix"
# Architectures whose attention is plain scaled dot-product over the cache's keys and values
# (no sliding window, soft-capping or sinks) and on which the steps are tested: Llama
# (Llama-2 of the release, SmolLM2, the tiny test model). Others step as transformers does.
SHARED_PREFIX_MODEL_TYPES = frozenset({"llama"})


@dataclass
class SharedKeysValues:
    """What the cache hands one layer's attention: the prompt of each sample, the steps of each row."""

    prompt_keys: Tensor  # (samples, kv_heads, prompt, head_dim)
    prompt_values: Tensor
    prompt_padding: Tensor  # (samples, prompt) bool, True at left padding
    step_keys: Tensor  # (rows, kv_heads, steps, head_dim), rows = samples * rows_per_sample
    step_values: Tensor


class SharedPrefixCache(Cache):
    """Prompt keys/values once per sample, generated ones once per row (see the module doc).

    Rows are sample-major: row ``s * rows_per_sample + b`` is beam ``b`` of sample ``s``.
    """

    def __init__(self, prompt: DynamicCache, prompt_mask: Tensor) -> None:
        super().__init__(layers=[])
        self.prompt_keys = [layer.keys for layer in prompt.layers]
        self.prompt_values = [layer.values for layer in prompt.layers]
        self.prompt_padding = ~prompt_mask.bool()
        self.step_keys: list[Tensor | None] = [None] * len(self.prompt_keys)
        self.step_values: list[Tensor | None] = [None] * len(self.prompt_keys)
        self.rows_per_sample = 1

    def select_rows(self, parents: Tensor) -> None:
        """Row ``i`` continues old row ``parents[i]``; every live sample keeps the same number
        of rows (the searches in :mod:`uniad.model.decode` expand, reorder and drop samples
        only in whole groups), so the prompt is gathered only when samples leave."""
        old_samples = parents // self.rows_per_sample
        samples = torch.unique_consecutive(old_samples)
        rows_per_sample = len(parents) // len(samples)
        if len(samples) * rows_per_sample != len(parents) or not torch.equal(
                old_samples, samples.repeat_interleave(rows_per_sample)):
            raise ValueError("each live sample must keep the same number of consecutive rows")
        if len(samples) != len(self.prompt_padding):
            self.prompt_keys = [keys[samples] for keys in self.prompt_keys]
            self.prompt_values = [values[samples] for values in self.prompt_values]
            self.prompt_padding = self.prompt_padding[samples]
        if self.step_keys[0] is not None:
            self.step_keys = [keys[parents] for keys in self.step_keys]
            self.step_values = [values[parents] for values in self.step_values]
        self.rows_per_sample = rows_per_sample

    def update(self, key_states: Tensor, value_states: Tensor, layer_idx: int, *args, **kwargs
               ) -> tuple[SharedKeysValues, None]:
        """Append one step's keys and values for every row; hand attention both parts."""
        old_keys, old_values = self.step_keys[layer_idx], self.step_values[layer_idx]
        keys = key_states if old_keys is None else torch.cat([old_keys, key_states], dim=2)
        values = value_states if old_values is None else torch.cat([old_values, value_states], dim=2)
        self.step_keys[layer_idx], self.step_values[layer_idx] = keys, values
        both = SharedKeysValues(self.prompt_keys[layer_idx], self.prompt_values[layer_idx],
                                self.prompt_padding, keys, values)
        return both, None

    def get_seq_length(self, layer_idx: int = 0) -> int:
        steps = self.step_keys[layer_idx]
        return self.prompt_padding.shape[1] + (0 if steps is None else steps.shape[2])


def _by_sample(rows: Tensor, samples: int) -> Tensor:
    """``(rows, kv_heads, n, x)`` -> ``(samples, kv_heads, rows_per_sample * n, x)``."""
    _, kv_heads, n, x = rows.shape
    return (rows.view(samples, -1, kv_heads, n, x).transpose(1, 2).reshape(samples, kv_heads, -1, x))


def _by_row(samples: Tensor, rows: int) -> Tensor:
    """The inverse of :func:`_by_sample` for ``rows`` rows."""
    count, kv_heads, _, x = samples.shape
    return samples.view(count, kv_heads, rows // count, -1, x).transpose(1, 2).reshape(rows, kv_heads, -1, x)


def shared_prefix_attention(module: torch.nn.Module, query: Tensor, key: SharedKeysValues, value: None,
                            attention_mask: Tensor | None, scaling: float, dropout: float = 0.0,
                            **kwargs) -> tuple[Tensor, None]:
    """One decoding step's attention, ``query`` ``(rows, heads, 1, head_dim)``; returns
    ``(rows, 1, heads, head_dim)`` as transformers' attention functions do.

    The signature is ``AttentionInterface``'s: ``key`` is what :meth:`SharedPrefixCache.update`
    returned (``value`` is inside it), the padding mask travels with the cache (the model's
    ``attention_mask`` is None), and decoding runs without dropout."""
    if not isinstance(key, SharedKeysValues) or query.shape[2] != 1:
        raise TypeError("shared-prefix attention runs one decoding step on a SharedPrefixCache")
    if kwargs.get("sliding_window") is not None or kwargs.get("softcap") is not None:
        raise TypeError("shared-prefix attention has no sliding window or soft-capping")
    rows, heads, _, head_dim = query.shape
    samples, kv_heads, prompt_length, _ = key.prompt_keys.shape
    groups = heads // kv_heads  # query heads per key head (grouped-query attention)
    # (rows, kv_heads, groups, d): the query heads that read the same key head, side by side.
    query = query.view(rows, kv_heads, groups, head_dim)
    prompt_scores = _by_sample(query, samples) @ key.prompt_keys.transpose(2, 3)
    step_scores = _by_sample(query @ key.step_keys.transpose(2, 3), samples)
    scores = torch.cat([prompt_scores, step_scores], dim=-1) * scaling
    scores[..., :prompt_length].masked_fill_(key.prompt_padding[:, None, None, :], float("-inf"))
    # float32 at least, as eager attention (half-precision weights would lose the tail).
    weights = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))
    weights = weights.to(query.dtype)
    from_prompt = _by_row(weights[..., :prompt_length] @ key.prompt_values, rows)
    from_steps = _by_row(weights[..., prompt_length:], rows) @ key.step_values
    return (from_prompt + from_steps).reshape(rows, 1, heads, head_dim), None


AttentionInterface.register(SHARED_PREFIX_ATTENTION, shared_prefix_attention)


@contextmanager
def shared_prefix_steps(config) -> Iterator[None]:
    """Run the model's attention as :func:`shared_prefix_attention` inside the block (the
    prefill and training keep their own implementation)."""
    previous = config._attn_implementation
    config._attn_implementation = SHARED_PREFIX_ATTENTION
    try:
        yield
    finally:
        config._attn_implementation = previous
