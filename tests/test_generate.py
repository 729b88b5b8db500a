"""Batched generation: the batch, the padding and the KV cache must not change an AD, and
the ``standard`` rules must give what Hugging Face ``generate`` gives."""

from __future__ import annotations

import pytest
import torch
from model_samples import make_sample, tiny_config
from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

from uniad.errors import UniADError
from uniad.model.uniad import UniAD

NEW_TOKENS = 8
GREEDY = dict(num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0, max_new_tokens=NEW_TOKENS)
BEAMS = dict(num_beams=3, repetition_penalty=1.2, no_repeat_ngram_size=3, max_new_tokens=NEW_TOKENS)


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


def ragged_samples(n: int = 3):
    """Different prompt lengths (characters, frames, context) so batching pads left."""
    base = [
        dict(characters=(("Anna Berg", "Emma Stone"), ("Tom Hale", "Ryan Gosling"))),
        dict(frames=6, previous_frames=(), characters=(), context=()),
        dict(frames=2, previous_frames=(5,), context=("Tom walks.", "He stops.")),
    ]
    return [make_sample(f"s{i}", seed=i + 1, **base[i % 3]) for i in range(n)]


@pytest.mark.parametrize("rules", ["hf432", "standard"])
@pytest.mark.parametrize("settings", [GREEDY, BEAMS], ids=["greedy", "beam"])
def test_ids_do_not_depend_on_batch_size_or_padding(model, settings, rules):
    """Beam ids at batch 1, 3 and 24 (left padding up to the longest prompt) are identical;
    transformers 5's own penalty gave 8/24 at batch 3 and 4/24 at batch 24 (issue 15)."""
    samples = ragged_samples(24)
    outputs = {b: model.generate_ids(samples, **settings, rules=rules, batch_size=b) for b in (1, 3, 24)}
    assert outputs[1] == outputs[3] == outputs[24]
    assert all(len(ids) > 0 for ids in outputs[1])
    assert len({tuple(ids) for ids in outputs[1]}) > 1  # the visual inputs reach the output


def hf_generate(model: UniAD, samples, settings: dict) -> list[list[int]]:
    """Hugging Face ``generate`` on the same prompts, in one left-padded batch.

    The repetition penalty goes in as an explicit processor: given through
    ``repetition_penalty``, transformers 5 exempts the first pad_len generated tokens of a
    left-padded row (the bug ``uniad.model.decode`` fixes)."""
    segments = [model.builder.build(s, with_target=False) for s in samples]
    batch = model.encode(segments, model.visual_embeddings(samples, segments))
    processors = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(settings["repetition_penalty"])])
    out = model.llm.generate(
        inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
        num_beams=settings["num_beams"], no_repeat_ngram_size=settings["no_repeat_ngram_size"],
        max_new_tokens=settings["max_new_tokens"], do_sample=False, logits_processor=processors,
        eos_token_id=model.tokenizer.eos_token_id, pad_token_id=model.tokenizer.pad_token_id)
    eos = model.tokenizer.eos_token_id
    return [row[: row.index(eos)] if eos in row else row for row in out.tolist()]


@pytest.mark.parametrize("settings", [GREEDY, BEAMS, dict(BEAMS, num_beams=5, max_new_tokens=12)],
                         ids=["greedy", "beam3", "beam5"])
@pytest.mark.parametrize("batch", [1, 8])
def test_standard_rules_equal_hugging_face_generate(model, settings, batch):
    model.eval()
    model.config.model.placeholder_logits = False  # HF generate has no placeholder columns
    try:
        samples = ragged_samples(batch)
        ours = model.generate_ids(samples, **settings, rules="standard", batch_size=batch)
        with torch.no_grad():
            theirs = hf_generate(model, samples, settings)
    finally:
        model.config.model.placeholder_logits = True
    assert ours == theirs


def recompute_loop(model: UniAD, sample, steps: int) -> list[int]:
    """Greedy decoding the slow way: the whole sequence re-read at every step, no cache."""
    segments = [model.builder.build(sample, with_target=False)]
    prompt = model.encode(segments, model.visual_embeddings([sample], segments)).inputs_embeds
    embed = model.llm.get_input_embeddings()
    base = model.llm.get_base_model()
    tokens: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            embeds = torch.cat([prompt, embed(torch.tensor([tokens], dtype=torch.long))], dim=1)
            hidden = base.get_decoder()(inputs_embeds=embeds).last_hidden_state[0, -1]
            logits = torch.cat([base.get_output_embeddings()(hidden), model.placeholders @ hidden])
            token = int(logits.argmax())
            if token == model.tokenizer.eos_token_id:
                break
            tokens.append(token)
    return tokens


def test_cached_greedy_equals_recomputing_every_step(model):
    model.eval()
    for sample in ragged_samples():
        assert model.generate_ids([sample], **GREEDY)[0] == recompute_loop(model, sample, NEW_TOKENS)


def test_generate_decodes_text_and_keeps_the_training_mode(model):
    model.train()
    texts = model.generate(ragged_samples()[:1], **GREEDY)
    assert model.training and not model.lora_merged
    ids = model.generate_ids(ragged_samples()[:1], **GREEDY)[0]
    vocab = model.llm.get_input_embeddings().num_embeddings
    expected = model.tokenizer.decode([t for t in ids if t < vocab], skip_special_tokens=True).strip()
    assert texts == [expected]
    model.eval()


def test_a_loaded_model_generates_in_eval_mode_without_switching_per_call(model, tmp_path, monkeypatch):
    """from_pretrained hands back an evaluation-mode model (as transformers does): its frozen
    LoRA is merged by the first call and stays merged, with no mode switch per call
    (narration calls once per gap; each switch re-applied every LoRA setting and went back
    to training mode, unmerging the adapters until the next call merged them again)."""
    for name, p in model.named_parameters():
        if "lora_" in name:
            p.requires_grad_(False)
    model.save_pretrained(tmp_path / "run")
    loaded = UniAD.from_pretrained(tmp_path / "run").to(torch.float64)
    assert not loaded.training
    switches = []
    monkeypatch.setattr(UniAD, "train", lambda self, mode=True: switches.append(mode) or self)
    first = loaded.generate_ids(ragged_samples(), **BEAMS)
    assert loaded.lora_merged
    weights = {n: p.clone() for n, p in loaded.llm.named_parameters() if "base_layer" in n}
    assert loaded.generate_ids(ragged_samples(), **BEAMS) == first
    assert switches == [] and loaded.lora_merged
    assert all(torch.equal(weights[n], p) for n, p in loaded.llm.named_parameters() if n in weights)
    monkeypatch.undo()
    for name, p in model.named_parameters():
        if "lora_" in name:
            p.requires_grad_(True)


def test_unknown_generation_setting_is_named(model):
    with pytest.raises(UniADError, match="unknown generation setting.*use_cache"):
        model.generate(ragged_samples()[:1], use_cache=False)


def test_frozen_lora_is_merged_for_inference_and_gives_the_same_ads(model):
    """Merged adapters cost nothing per token; the ADs must not change."""
    model.eval()
    for name, p in model.named_parameters():  # LoRA frozen: mergeable
        if "lora_" in name:
            p.requires_grad_(False)
    samples = ragged_samples()
    model.unmerge_lora()
    with torch.no_grad():
        unmerged = [model.generate_ids([s], **BEAMS)[0] for s in samples]  # merges on the way
    assert model.lora_merged
    assert model.generate_ids(samples, **BEAMS) == unmerged
    model.train()
    assert not model.lora_merged
    model.eval()
