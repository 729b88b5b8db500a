"""Decoding steps must give the logits of running each row's whole sequence (prompt + its
own generated tokens) through the model from scratch, whatever the beams do: expand from
one row per sample, reorder, drop a finished sample, stay put. Shared-prefix steps on Llama,
and transformers' own cache steps on architectures they are not tested on."""

from __future__ import annotations

import pytest
import torch
from transformers import MistralConfig, MistralForCausalLM

from uniad.model.decode import PrefilledLM
from uniad.model.shared_prefix import SharedKeysValues, SharedPrefixCache, shared_prefix_attention
from uniad.model.tiny import build_tiny_llm

PROMPT_LENGTHS = (7, 4, 5)  # left padding of 0, 3 and 2 positions


@pytest.fixture(scope="module")
def llm():
    model, _ = build_tiny_llm(seed=3)
    return model.to(torch.float64)


@pytest.fixture(scope="module")
def mistral(llm):
    """The same sizes as the tiny Llama, another model type."""
    sizes = {k: getattr(llm.config, k) for k in ("vocab_size", "hidden_size", "intermediate_size",
                                                  "num_hidden_layers", "num_attention_heads",
                                                  "num_key_value_heads")}
    torch.manual_seed(4)
    return MistralForCausalLM(MistralConfig(**sizes, sliding_window=None)).eval().to(torch.float64)


def padded_prompts(model, generator):
    width = max(PROMPT_LENGTHS)
    hidden = model.config.hidden_size
    prompts = [torch.randn(n, hidden, generator=generator, dtype=torch.float64) for n in PROMPT_LENGTHS]
    embeds = torch.zeros(len(prompts), width, hidden, dtype=torch.float64)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for i, p in enumerate(prompts):
        embeds[i, width - len(p):], mask[i, width - len(p):] = p, 1
    return prompts, embeds, mask


def from_scratch(model, prompt, tokens: list[int]) -> torch.Tensor:
    """Next-token logits of one row, without any cache."""
    embeds = torch.cat([prompt, model.get_input_embeddings()(torch.tensor(tokens, dtype=torch.long))])[None]
    return model(inputs_embeds=embeds).logits[0, -1]


@pytest.mark.parametrize("case", ["llama", "llama, transformers' steps", "mistral"])
def test_steps_equal_whole_sequences_through_expand_reorder_and_drop(case, request):
    llm = request.getfixturevalue("mistral" if case == "mistral" else "llm")
    generator = torch.Generator().manual_seed(0)
    prompts, embeds, mask = padded_prompts(llm, generator)
    implementation = llm.config._attn_implementation
    lm = PrefilledLM(llm, shared_prefix=False) if "transformers" in case else PrefilledLM(llm)
    assert lm.shared_prefix == (case == "llama")  # shared only where tested
    with torch.no_grad():
        first = lm.prefill(embeds, mask)
        for i, prompt in enumerate(prompts):
            torch.testing.assert_close(first[i], from_scratch(llm, prompt, []), rtol=0, atol=1e-10)
        # (parents, which prompt each new row belongs to)
        steps = [
            ([0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 0, 0, 1, 1, 1, 2, 2, 2]),  # expand to 3 beams
            ([2, 0, 1, 5, 5, 3, 6, 7, 8], [0, 0, 0, 1, 1, 1, 2, 2, 2]),  # reorder within samples
            ([1, 2, 0, 8, 6, 7], [0, 0, 0, 2, 2, 2]),  # sample 1 finished and left
            ([0, 1, 2, 3, 4, 5], [0, 0, 0, 2, 2, 2]),  # nothing moves
        ]
        histories: list[list[int]] = [[] for _ in PROMPT_LENGTHS]
        for parents, owners in steps:
            tokens = torch.randint(0, llm.config.vocab_size, (len(parents),), generator=generator)
            histories = [histories[p] + [int(t)] for p, t in zip(parents, tokens)]
            logits = lm.advance(torch.tensor(parents), tokens)
            assert isinstance(lm.cache, SharedPrefixCache) == lm.shared_prefix
            for row, owner in enumerate(owners):
                expected = from_scratch(llm, prompts[owner], histories[row])
                torch.testing.assert_close(logits[row], expected, rtol=0, atol=1e-10)
    assert llm.config._attn_implementation == implementation  # prefill and training keep theirs


def test_prompt_is_stored_once_per_sample(llm):
    """The point of the cache: beams share the prompt, only generated positions are per row."""
    _, embeds, mask = padded_prompts(llm, torch.Generator().manual_seed(1))
    lm = PrefilledLM(llm)
    with torch.no_grad():
        lm.prefill(embeds, mask)
        prefilled = lm.cache.layers[0].keys.data_ptr()
        lm.advance(torch.tensor([0] * 5 + [1] * 5 + [2] * 5), torch.zeros(15, dtype=torch.long))
    assert lm.cache.prompt_keys[0].shape[0] == 3
    assert lm.cache.prompt_keys[0].data_ptr() == prefilled  # not copied to the beams
    assert lm.cache.step_keys[0].shape[:1] + lm.cache.step_keys[0].shape[2:3] == (15, 1)


def test_rows_must_stay_grouped_by_sample(llm):
    _, embeds, mask = padded_prompts(llm, torch.Generator().manual_seed(2))
    lm = PrefilledLM(llm)
    with torch.no_grad():
        lm.prefill(embeds, mask)
        with pytest.raises(ValueError, match="same number of consecutive rows"):
            lm.advance(torch.tensor([0, 0, 1, 2, 2, 2]), torch.zeros(6, dtype=torch.long))


def test_attention_refuses_what_it_does_not_compute():
    q = k = v = torch.zeros(1, 2, 1, 4)
    with pytest.raises(TypeError, match="SharedPrefixCache"):
        shared_prefix_attention(torch.nn.Identity(), q, k, v, None, scaling=0.5)
    shared = SharedKeysValues(k, v, torch.zeros(1, 1, dtype=torch.bool), k, v)
    with pytest.raises(TypeError, match="sliding window"):
        shared_prefix_attention(torch.nn.Identity(), q, shared, None, None, scaling=0.5, sliding_window=4)
