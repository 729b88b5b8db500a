"""Batched generation: padding must not change a sample's AD, and the KV cache must not either."""

from __future__ import annotations

import pytest
import torch
from model_samples import make_sample, tiny_config

from uniad.errors import UniADError
from uniad.model.uniad import UniAD

NEW_TOKENS = 8
GREEDY = dict(num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0, max_new_tokens=NEW_TOKENS)


@pytest.fixture(scope="module")
def model() -> UniAD:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = tiny_config()
    config.generation.batch_size = 4
    # float64: a random tiny LLM is near-uniform over its vocabulary, so beam candidates
    # tie to within float32 rounding (measured: 1e-7 logit noise from padding flips beams
    # whose scores differ by 1e-3 after a few steps). In float64 the comparisons below
    # test the logic (padding, positions, masks, cache), not rounding.
    built = UniAD.build(config).to(torch.float64)
    with torch.no_grad():  # LoRA B starts at zero: give the adapters a visible effect
        for name, p in built.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.05)
    yield built
    torch.set_num_threads(threads)


def ragged_samples():
    """Different prompt lengths (characters, frames, context) so batching pads left."""
    return [
        make_sample("a", characters=(("Anna Berg", "Emma Stone"), ("Tom Hale", "Ryan Gosling")), seed=1),
        make_sample("b", frames=6, previous_frames=(), characters=(), context=(), seed=2),
        make_sample("c", frames=2, previous_frames=(5,), context=("Tom walks.", "He stops."), seed=3),
    ]


@pytest.mark.parametrize(
    "settings",
    [GREEDY, dict(num_beams=3, repetition_penalty=1.2, no_repeat_ngram_size=3, max_new_tokens=NEW_TOKENS)],
    ids=["greedy", "beam"],
)
def test_batched_generation_equals_one_at_a_time(model, settings):
    samples = ragged_samples()
    batched = model.generate_ids(samples, **settings)
    alone = [model.generate_ids([s], **settings)[0] for s in samples]
    assert batched == alone
    assert all(ids for ids in batched)
    assert len({tuple(ids) for ids in batched}) > 1  # the visual inputs reach the output


def recompute_loop(model: UniAD, sample, steps: int) -> list[int]:
    """Greedy decoding the slow way: the whole sequence re-read at every step, no cache."""
    segments = [model.builder.build(sample, with_target=False)]
    prompt = model.encode(segments, model.visual_embeddings([sample], segments)).inputs_embeds
    embed = model.llm.get_input_embeddings()
    tokens: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            embeds = torch.cat([prompt, embed(torch.tensor([tokens], dtype=torch.long))], dim=1)
            logits = model.llm(inputs_embeds=embeds, use_cache=False).logits[0, -1]
            token = int(logits.argmax())
            if token == model.tokenizer.eos_token_id:
                break
            tokens.append(token)
    return tokens


def test_cached_greedy_equals_recomputing_every_step(model):
    model.eval()
    for sample in ragged_samples():
        assert model.generate_ids([sample], **GREEDY)[0] == recompute_loop(model, sample, NEW_TOKENS)


def test_use_cache_false_is_refused_not_ignored(model):
    """transformers silently turns the cache back on for inputs_embeds; we say so."""
    with pytest.raises(UniADError, match="KV cache"):
        model.generate(ragged_samples()[:1], use_cache=False)


def test_generate_decodes_text_and_keeps_the_training_mode(model):
    model.train()
    texts = model.generate(ragged_samples()[:1], **GREEDY)
    assert model.training
    ids = model.generate_ids(ragged_samples()[:1], **GREEDY)[0]
    assert texts == [model.tokenizer.decode(ids, skip_special_tokens=True).strip()]
    model.eval()


def test_generation_settings_follow_the_config(model):
    kwargs = model.generation_kwargs()
    release = model.config.generation
    assert (kwargs["num_beams"], kwargs["repetition_penalty"], kwargs["no_repeat_ngram_size"]) == (
        release.num_beams, release.repetition_penalty, release.no_repeat_ngram_size
    )
    assert "temperature" not in kwargs  # greedy/beam: sampling knobs stay out
    sampled = type(release)(do_sample=True, temperature=0.7, top_p=0.9)
    chosen = model.generation_kwargs(sampled, max_new_tokens=3)
    assert {k: chosen[k] for k in ("do_sample", "temperature", "top_p", "max_new_tokens")} == {
        "do_sample": True, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 3
    }
