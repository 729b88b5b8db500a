"""The UniAD module on the tiny random LLM: what trains, the loss, save/load."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from model_samples import make_sample, tiny_config
from safetensors.torch import load_file, save_file

from uniad.errors import UniADError
from uniad.model.folder import ENCODER_DIR, ENCODER_NAME_FILE, read_encoder_name
from uniad.model.llm import save_llm
from uniad.model.tiny import TINY_LLAMA, build_tiny_tokenizer
from uniad.model.uniad import WEIGHTS_FILE, UniAD


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(**model) -> UniAD:
    torch.manual_seed(0)
    return UniAD.build(tiny_config(**model))


def batch():
    return [
        make_sample("a", characters=(("Anna Berg", "Emma Stone"), ("Tom Hale", "Ryan Gosling")), seed=1),
        make_sample("b", frames=6, previous_frames=(), characters=(), context=(), seed=2,
                    target="He picks up the phone."),
    ]


def llm_logits(model: UniAD, samples) -> torch.Tensor:
    """The LLM's logits over a batch (eval mode): what a checkpoint must reproduce."""
    model.eval()
    with torch.no_grad():
        segments = [model.builder.build(s) for s in samples]
        enc = model.encode(segments, model.visual_embeddings(samples, segments))
        return model.llm(
            inputs_embeds=enc.inputs_embeds, attention_mask=enc.attention_mask,
            position_ids=enc.position_ids,
        ).logits


@pytest.mark.parametrize("train_lora", [True, False])
def test_only_adapters_mappers_and_placeholders_train(train_lora):
    model = build(train_lora=train_lora)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "placeholders" in trainable
    assert any(n.startswith("video_mapper.") for n in trainable)
    assert any(n.startswith("character_mapper.") for n in trainable)
    for name in trainable:
        assert name.split(".")[0] in ("video_mapper", "character_mapper", "placeholders") or "lora_" in name
    assert any("lora_" in n for n in trainable) == train_lora
    # The checkpoint keeps LoRA even when the recipe freezes it.
    assert any("lora_" in n for n in model.trainable_state_dict())
    counts = model.parameter_counts()
    assert counts["llm"]["trainable"] == 0
    assert counts["lora"]["trainable"] == (counts["lora"]["total"] if train_lora else 0)
    assert counts["all"]["trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_loss_is_token_averaged_and_independent_of_padding():
    model = build(contrastive_loss=False).eval()
    samples = batch()
    with torch.no_grad():
        together = model(samples)["ce"]
        alone = [model([s])["ce"] for s in samples]
    counts = [len(model.builder.token_ids(s.target)) + 1 for s in samples]  # + end token
    expected = sum(c * n for c, n in zip(alone, counts)) / sum(counts)
    torch.testing.assert_close(together, expected, rtol=1e-5, atol=1e-5)


def test_placeholder_logits_enlarge_the_softmax():
    samples = batch()
    with torch.no_grad():
        on = build(contrastive_loss=False).eval()(samples)["ce"]
        off = build(contrastive_loss=False, placeholder_logits=False).eval()(samples)["ce"]
    assert on > off  # two more classes in the normaliser, same weights (same seed)


def test_hinge_skips_samples_without_previous_ad():
    model = build(contrastive_per_sample=True).eval()
    with_ad, without_ad = batch()
    with torch.no_grad():
        both = model([with_ad, without_ad])
        only = model([with_ad])
        none = model([without_ad])
    torch.testing.assert_close(both["hinge"], only["hinge"], rtol=1e-5, atol=1e-6)
    assert none["hinge"] == 0 and none["loss"] == none["ce"]
    assert torch.isclose(both["loss"], both["ce"] + both["hinge"])


@pytest.mark.parametrize("per_sample", [True, False])
def test_hinge_compares_the_target_with_the_previous_ad(per_sample):
    """The negative pass = the same prompt with the nearest previous AD as target."""
    model = build(contrastive_per_sample=per_sample).eval()
    sample = make_sample(context=("Tom walks.", "Anna opens the door."))  # nearest last
    as_negative = dataclasses.replace(sample, target="Anna opens the door.")
    with torch.no_grad():
        out = model([sample])
        ce_neg = model([as_negative])["ce"]
        assert model([as_negative])["hinge"] == 0  # CE_pos == CE_neg exactly
    torch.testing.assert_close(out["hinge"], torch.relu(out["ce"] - ce_neg))
    assert out["ce"] != ce_neg


def test_loss_decreases_on_a_tiny_batch():
    model = build(train_lora=True, contrastive_loss=False).train()
    samples = batch()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(12):
        loss = model(samples)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    # A frozen random LLM starts near uniform (ln 462 = 6.1); fitting goes slowly but surely.
    assert losses[-1] < losses[0] - 0.4, losses


def perturb(model: UniAD) -> None:
    """Move every checkpointed weight off its initial value (LoRA B starts at zero)."""
    with torch.no_grad():
        for p in model.trainable_state_dict().values():
            p.add_(torch.randn_like(p) * 0.05)


def test_save_load_round_trip_is_bit_identical(tmp_path):
    model = build(train_lora=False)
    perturb(model)
    before = llm_logits(model, batch())
    model.save_pretrained(tmp_path)
    identity = json.loads((tmp_path / "llm.json").read_text())
    assert identity["hidden_size"] == TINY_LLAMA["hidden_size"] and identity["llm"] == "tiny"
    saved = load_file(tmp_path / WEIGHTS_FILE)
    assert set(saved) == set(model.trainable_state_dict())
    assert not any(k.startswith("llm.") and "lora_" not in k for k in saved)  # no base weights
    torch.manual_seed(123)  # the reloaded model must not depend on the RNG
    loaded = UniAD.from_pretrained(tmp_path)
    assert torch.equal(llm_logits(loaded, batch()), before)


def test_a_bundled_encoder_folder_travels_with_every_save(tmp_path):
    clip = tmp_path / "encoder"  # stands for a world's fitted CLIP folder: the files are copied
    clip.mkdir()
    (clip / "config.json").write_text('{"projection_dim": 16}')
    (clip / "model.safetensors").write_bytes(bytes(range(256)) * 4)
    model = build()
    with pytest.raises(UniADError, match="records no encoder name"):
        model.bundle_visual_encoder(clip)
    model.config.model.visual_encoder = "clip:encoder:16"
    with pytest.raises(UniADError, match="not a CLIP model folder"):
        model.bundle_visual_encoder(tmp_path / "elsewhere")
    model.bundle_visual_encoder(clip)
    model.save_pretrained(tmp_path / "a")
    copy = tmp_path / "a" / ENCODER_DIR
    assert {f.name for f in copy.iterdir()} == {"config.json", "model.safetensors", ENCODER_NAME_FILE}
    assert (copy / "model.safetensors").read_bytes() == (clip / "model.safetensors").read_bytes()
    assert read_encoder_name(copy) == "clip:encoder:16"  # the source's name, not the copy's
    assert read_encoder_name(clip) is None

    loaded = UniAD.from_pretrained(tmp_path / "a")
    assert loaded.visual_encoder_folder == copy
    loaded.save_pretrained(tmp_path / "a")  # over itself: the copy stays whole
    loaded.save_pretrained(tmp_path / "b")  # a re-saved checkpoint keeps its encoder
    again = tmp_path / "b" / ENCODER_DIR
    assert (again / "model.safetensors").read_bytes() == (clip / "model.safetensors").read_bytes()
    assert (copy / "model.safetensors").read_bytes() == (clip / "model.safetensors").read_bytes()
    assert read_encoder_name(again) == "clip:encoder:16"
    build().save_pretrained(tmp_path / "c")
    assert UniAD.from_pretrained(tmp_path / "c").visual_encoder_folder is None
    assert not (tmp_path / "c" / ENCODER_DIR).exists()


def test_load_refuses_an_llm_of_another_width(tmp_path):
    build().save_pretrained(tmp_path / "ckpt")
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    narrow = {**TINY_LLAMA, "hidden_size": 32}
    other = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), **narrow))
    save_llm(other, tokenizer, tmp_path / "narrow")
    with pytest.raises(UniADError, match="hidden_size=64.*hidden_size=32"):
        UniAD.from_pretrained(tmp_path / "ckpt", llm=str(tmp_path / "narrow"))


def test_load_lists_missing_and_unexpected_keys(tmp_path):
    model = build()
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / WEIGHTS_FILE)
    dropped = sorted(k for k in state if k.startswith("video_mapper."))[0]
    del state[dropped]
    state["stray.weight"] = torch.zeros(1)
    save_file(state, tmp_path / WEIGHTS_FILE)
    with pytest.raises(UniADError, match=r"1 missing key\(s\): .*video_mapper") as err:
        UniAD.from_pretrained(tmp_path)
    assert dropped in str(err.value) and "1 unexpected key(s): stray.weight" in str(err.value)


def test_llama2_7b_split_on_the_meta_device(capsys):
    """REFERENCE.md: LoRA ~16.8 M, the two width-4096 mapper towers ~812.6 M."""
    config = tiny_config()
    config.model = type(config.model)()  # the release's MAD model settings
    model = UniAD.build(config, meta=True)
    counts = model.parameter_counts()
    assert counts["lora"]["total"] == 16_777_216
    towers = counts["video_mapper"]["total"] + counts["character_mapper"]["total"]
    assert round(towers / 1e6, 1) == 812.6
    with pytest.raises(UniADError, match="no tokenizer"):
        model.builder
    from uniad.cli import main

    assert main(["inspect", "--model", "llama2-7b", "--preset", "mad"]) == 0
    table = capsys.readouterr().out
    assert "| LoRA | 16,777,216 (16.8 M) | 0 |" in table  # the MAD recipe freezes LoRA
    assert "**812,564,480 (812.6 M)**" in table  # total trainable: towers + 2 embeddings


def test_inactive_hinge_has_no_graph_and_active_one_equals_relu_mean():
    """The hinge drops the negative pass from backward when every margin is <= 0 (the
    release's Python max(0, x)); otherwise value and gradient equal relu(margin).mean()."""
    import torch.nn.functional as F

    from uniad.model.uniad import active_hinge

    inactive = torch.tensor([-0.5, -0.1, 0.0], requires_grad=True)
    assert active_hinge(inactive).grad_fn is None and float(active_hinge(inactive)) == 0.0
    margin = torch.tensor([0.3, -0.2, 0.5], requires_grad=True)
    reference = margin.detach().clone().requires_grad_(True)
    hinge, expected = active_hinge(margin), F.relu(reference).mean()
    hinge.backward()
    expected.backward()
    assert torch.allclose(hinge, expected) and torch.equal(margin.grad, reference.grad)
