"""import-release / export-release against a checkpoint written in the release's layout.

The fixture file is built from LAYOUT.md's key names and shapes (written out here by hand,
not by the code under test), at a tiny width: D = 64 (the tiny LLM), F = 16.
"""

from __future__ import annotations

import json
import pathlib
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

from uniad.cli import main
from uniad.model.llm import save_llm
from uniad.model.perceiver import LinearTokenMapper
from uniad.config import load_config
from uniad.model.release import release_key_to_ours, release_to_ours
from uniad.model.tiny import TINY_LLAMA, build_tiny_llm
from uniad.model.uniad import UniAD
from model_samples import make_sample

class Sizes(NamedTuple):
    width: int  # D, the LLM width
    feat: int  # F, the feature width
    latents: int
    chars: int
    frames: int  # rows of the temporal position table
    layers: int
    kv_out: int  # output width of k_proj / v_proj (grouped-query attention in the tiny LLM)
    depth: int = 2
    rank: int = 16


TINY = Sizes(64, 16, 3, 2, 8, TINY_LLAMA["num_hidden_layers"],
             TINY_LLAMA["num_key_value_heads"] * 64 // TINY_LLAMA["num_attention_heads"])
PAPER = Sizes(4096, 768, 30, 30, 58, 32, 4096)  # LAYOUT.md with Llama-2-7B
D, FEAT, LATENTS, DEPTH, HEAD_DIM = TINY.width, TINY.feat, TINY.latents, TINY.depth, 16
SETTINGS = [f"model.feature_dim={FEAT}", f"model.num_latents={LATENTS}",
            f"model.num_char_tokens={TINY.chars}", f"model.perceiver_head_dim={HEAD_DIM}",
            f"model.max_frames={TINY.frames}",
            f"data.video_length={TINY.frames // 2}"]  # current + previous clip fit the table


def layout_shapes(z: Sizes = TINY) -> dict[str, tuple[int, ...]]:
    """LAYOUT.md's table for the MAD model (without the tied output copies)."""
    d = z.width
    shapes: dict[str, tuple[int, ...]] = {}
    towers = (("project", "perceiver", z.latents), ("project_img", "perceiver_img", z.chars))
    for proj, tower, latents in towers:
        shapes |= {f"{proj}.weight": (d, z.feat), f"{proj}.bias": (d,),
                   f"{tower}.latent": (latents, d), f"{tower}.temporal_pos_embed": (z.frames, d),
                   f"{tower}.visual_prenorm.weight": (d,), f"{tower}.visual_prenorm.bias": (d,)}
        for i in range(z.depth):
            b = f"{tower}.encoder.resblocks.{i}."
            shapes |= {b + "ln_1.weight": (d,), b + "ln_1.bias": (d,),
                       b + "attn.in_proj_weight": (3 * d, d), b + "attn.in_proj_bias": (3 * d,),
                       b + "attn.out_proj.weight": (d, d), b + "attn.out_proj.bias": (d,),
                       b + "ln_2.weight": (d,), b + "ln_2.bias": (d,),
                       b + "mlp.c_fc.weight": (4 * d, d), b + "mlp.c_fc.bias": (4 * d,),
                       b + "mlp.c_proj.weight": (d, 4 * d), b + "mlp.c_proj.bias": (d,)}
    shapes |= {f"{kind}_input_token_embedding.weight": (1, d) for kind in ("video", "image")}
    return shapes | llm_shapes(z)


def llm_shapes(z: Sizes) -> dict[str, tuple[int, ...]]:
    """The LLM keys both release checkpoints save: loralib LoRA and RMSNorm weights."""
    d = z.width
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(z.layers):
        layer = f"gpt.model.layers.{i}."
        for proj, out in (("q", d), ("k", z.kv_out), ("v", z.kv_out), ("o", d)):
            shapes |= {f"{layer}self_attn.{proj}_proj.lora_A": (z.rank, d),
                       f"{layer}self_attn.{proj}_proj.lora_B": (out, z.rank)}
        shapes |= {layer + f"{norm}.weight": (d,) for norm in ("input_layernorm", "post_attention_layernorm")}
    shapes["gpt.model.norm.weight"] = (d,)
    return shapes


def release_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors in the release's layout; norm gains near 1, the rest small."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in layout_shapes().items():
        value = torch.randn(shape, generator=g) * 0.1
        state[key] = value + 1 if key.endswith(("norm.weight", "ln_1.weight", "ln_2.weight")) else value
    for kind in ("video", "image"):  # the release ties the output copy to the input table
        tied = state[f"{kind}_input_token_embedding.weight"]
        state[f"{kind}_output_token_embedding.weight"] = tied.clone()
    return state


def save_release(state: dict[str, torch.Tensor], path: pathlib.Path) -> pathlib.Path:
    """As the release's trainer saves under DDP."""
    optimizer = {"state": {}, "param_groups": [{"lr": 5e-5}]}
    torch.save({"epoch": 3, "name": "mad_run", "optimizer": optimizer,
                "state_dict": {"module." + k: v for k, v in state.items()}}, path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("release")
    llm, tokenizer = build_tiny_llm()
    folder = save_llm(llm, tokenizer, root / "llm")
    state = release_state()
    ckpt = save_release(state, root / "MAD.pt")
    return {"llm": folder, "vocab": len(tokenizer), "state": state, "ckpt": ckpt, "run": root / "run"}


def run_import(world, ckpt, out, *extra, vocab=True, llm=None):
    """``uniad import-release`` on the tiny LLM folder (or ``llm``) with the tiny settings."""
    args = ["import-release", "--checkpoint", str(ckpt), "--llm", str(llm or world["llm"]),
            "--out", str(out), *[x for s in SETTINGS for x in ("--set", s)], *extra]
    return main(args + (["--llm-vocab", str(world["vocab"])] if vocab else []))


@pytest.fixture(scope="module")
def imported(world):
    assert run_import(world, world["ckpt"], world["run"]) == 0
    return UniAD.from_pretrained(world["run"]).eval()


def test_every_key_lands_where_layout_says(world, imported):
    state, model = world["state"], imported
    video = model.video_mapper.state_dict()
    chars = model.character_mapper.state_dict()
    for key, value in state.items():
        if key.startswith(("project.", "perceiver.")):
            assert torch.equal(video[key], value), key
        elif key.startswith(("project_img.", "perceiver_img.")):
            assert torch.equal(chars[key.replace("_img", "", 1)], value), key
    assert torch.equal(model.placeholders[0], state["video_input_token_embedding.weight"][0])
    assert torch.equal(model.placeholders[1], state["image_input_token_embedding.weight"][0])
    layers = model.llm.get_base_model().model.layers
    for i, layer in enumerate(layers):
        for proj in "qkvo":
            module = getattr(layer.self_attn, f"{proj}_proj")
            key = f"gpt.model.layers.{i}.self_attn.{proj}_proj."
            assert torch.equal(module.lora_A["default"].weight, state[key + "lora_A"])
            assert torch.equal(module.lora_B["default"].weight, state[key + "lora_B"])
            assert module.scaling["default"] == 1.0
        # norm weights are frozen base weights: the loaded model must carry the file's
        for norm in ("input_layernorm", "post_attention_layernorm"):
            assert torch.equal(getattr(layer, norm).weight, state[f"gpt.model.layers.{i}.{norm}.weight"])
    assert torch.equal(model.llm.get_base_model().model.norm.weight, state["gpt.model.norm.weight"])


def test_import_prints_keys_per_part(world, tmp_path, capsys):
    assert run_import(world, world["ckpt"], tmp_path / "run") == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    counts = {line.split()[0]: int(line.split()[1]) for line in lines}
    per_tower = 6 + 12 * DEPTH
    assert json.loads((tmp_path / "run" / "release_import.json").read_text())["keys_per_part"] == {
        k: v for k, v in counts.items() if k != "total"}
    assert counts == {"video_mapper": per_tower, "character_mapper": per_tower, "lora": 8 * TINY.layers,
                      "norm": 2 * TINY.layers + 1, "placeholders": 4, "total": len(world["state"])}


def layout_formula(
    t: dict[str, torch.Tensor], frames: torch.Tensor, tower: str, proj: str
) -> torch.Tensor:
    """LAYOUT.md's computation in plain torch ops on the file's tensors."""
    n, frames_t = frames.shape[:2]
    heads, hd = D // HEAD_DIM, HEAD_DIM
    x = frames @ t[f"{proj}.weight"].T + t[f"{proj}.bias"]
    x = F.layer_norm(x, (D,), t[f"{tower}.visual_prenorm.weight"], t[f"{tower}.visual_prenorm.bias"])
    x = x + t[f"{tower}.temporal_pos_embed"][:frames_t]
    latents = t[f"{tower}.latent"]
    h = torch.cat([latents.expand(n, -1, -1), x], dim=1)
    for i in range(DEPTH):
        b = f"{tower}.encoder.resblocks.{i}."
        y = F.layer_norm(h, (D,), t[b + "ln_1.weight"], t[b + "ln_1.bias"])
        q, k, v = (y @ t[b + "attn.in_proj_weight"].T + t[b + "attn.in_proj_bias"]).chunk(3, dim=-1)
        q, k, v = (z.reshape(n, -1, heads, hd).transpose(1, 2) for z in (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5, dim=-1) @ v
        a = a.transpose(1, 2).reshape(n, -1, D)
        h = h + a @ t[b + "attn.out_proj.weight"].T + t[b + "attn.out_proj.bias"]
        y = F.layer_norm(h, (D,), t[b + "ln_2.weight"], t[b + "ln_2.bias"])
        y = y @ t[b + "mlp.c_fc.weight"].T + t[b + "mlp.c_fc.bias"]
        h = h + (y * torch.sigmoid(1.702 * y)) @ t[b + "mlp.c_proj.weight"].T + t[b + "mlp.c_proj.bias"]
    return h[:, : latents.shape[0]]


def test_mappers_compute_layout_formula(world, imported):
    frames = torch.randn(2, 5, FEAT, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        video = imported.video_mapper(frames)
        chars = imported.character_mapper(frames[:, :1])
    torch.testing.assert_close(video, layout_formula(world["state"], frames, "perceiver", "project"),
                               atol=1e-5, rtol=1e-5)
    expected = layout_formula(world["state"], frames[:, :1], "perceiver_img", "project_img")
    torch.testing.assert_close(chars, expected, atol=1e-5, rtol=1e-5)


def test_export_round_trip_gives_identical_tensors(world, imported, tmp_path):
    out = tmp_path / "MAD_again.pt"
    args = ["export-release", "--run", str(world["run"]), "--out", str(out), "--name", "again"]
    assert main(args) == 0
    saved = torch.load(out, map_location="cpu", weights_only=True)
    assert saved["epoch"] == 0 and saved["name"] == "again"
    original = {"module." + k: v for k, v in world["state"].items()}
    assert set(saved["state_dict"]) == set(original)
    for key, value in original.items():
        assert saved["state_dict"][key].shape == value.shape, key
        assert torch.equal(saved["state_dict"][key], value), key
    # and the exported file imports again
    assert run_import(world, out, tmp_path / "again") == 0


def test_ad_pretrained_llm_keys_under_the_main_checkpoint(world, tmp_path):
    pretrained = release_state(seed=7)  # every key differs from the main file's
    main_state = {k: v for k, v in world["state"].items()
                  if not k.startswith("gpt.") or k == "gpt.model.norm.weight"}
    ckpt = save_release(main_state, tmp_path / "main.pt")
    ad = save_release(pretrained, tmp_path / "LLaMA_AD_pretrain.pt")
    assert run_import(world, ckpt, tmp_path / "run", "--ad-pretrained", str(ad)) == 0
    weights = load_file(tmp_path / "run" / "model.safetensors")
    base = "llm.base_model.model.model."
    lora = base + "layers.1.self_attn.v_proj.lora_B.default.weight"
    assert torch.equal(weights[lora], pretrained["gpt.model.layers.1.self_attn.v_proj.lora_B"])
    assert torch.equal(weights[base + "layers.0.input_layernorm.weight"],
                       pretrained["gpt.model.layers.0.input_layernorm.weight"])
    # the main file wins where it has the key; non-LLM keys never come from the AD file
    assert torch.equal(weights[base + "norm.weight"], world["state"]["gpt.model.norm.weight"])
    assert torch.equal(weights["video_mapper.project.weight"], world["state"]["project.weight"])


class _PlantsMarker:
    """Unpickling this would create a file: the loader must refuse it, not run it."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickle_that_runs_code_is_refused(world, tmp_path, capsys):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {"project.weight": _PlantsMarker(marker)}}, bad)  # unsafe-ok
    assert run_import(world, bad, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "refused" in err and "run code" in err
    assert not marker.exists()
    assert not (tmp_path / "run").exists()


def test_wrong_llm_width_is_named(world, tmp_path, capsys):
    config = LlamaConfig(**{**TINY_LLAMA, "hidden_size": 32, "intermediate_size": 64},
                         vocab_size=world["vocab"])
    _, tokenizer = build_tiny_llm()
    narrow = save_llm(LlamaForCausalLM(config), tokenizer, tmp_path / "narrow")
    assert run_import(world, world["ckpt"], tmp_path / "run", llm=narrow) == 2
    assert "checkpoint width 64 != LLM hidden size 32" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_wrong_llm_vocab_is_named(world, tmp_path, capsys):
    assert run_import(world, world["ckpt"], tmp_path / "run", vocab=False) == 2
    err = capsys.readouterr().err
    assert "32000-token vocabulary" in err and f"has {world['vocab']}" in err


def test_truncated_file_fails_clearly(world, tmp_path, capsys):
    cut = tmp_path / "cut.pt"
    data = world["ckpt"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert run_import(world, cut, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert str(cut) in err and "cannot read" in err


def test_missing_and_unknown_keys_are_listed(world, tmp_path, capsys):
    state = dict(world["state"])
    del state["perceiver.encoder.resblocks.1.mlp.c_fc.bias"]
    del state["gpt.model.layers.0.self_attn.k_proj.lora_A"]
    state["reg_head.weight"] = torch.zeros(D, D)
    ckpt = save_release(state, tmp_path / "odd.pt")
    assert run_import(world, ckpt, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "1 key(s) in the file with no place in this model: reg_head.weight" in err
    assert "2 weight(s) of this model not in the file" in err
    assert "perceiver.encoder.resblocks.1.mlp.c_fc.bias" in err
    assert "gpt.model.layers.0.self_attn.k_proj.lora_A" in err
    assert not (tmp_path / "run").exists()


def test_shape_mismatch_and_untied_embeddings_fail(world, tmp_path, capsys):
    state = dict(world["state"])
    state["perceiver.latent"] = torch.zeros(LATENTS + 1, D)
    assert run_import(world, save_release(state, tmp_path / "a.pt"), tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert f"perceiver.latent: file ({LATENTS + 1}, {D}) vs model ({LATENTS}, {D})" in err
    state = dict(world["state"])
    state["image_output_token_embedding.weight"] = torch.zeros(1, D)
    assert run_import(world, save_release(state, tmp_path / "b.pt"), tmp_path / "b") == 2
    assert "image_output_token_embedding.weight should be tied" in capsys.readouterr().err


def test_lora_scale_other_than_release_fails(world, tmp_path, capsys):
    assert run_import(world, world["ckpt"], tmp_path / "run", "--set", "model.lora_alpha=32") == 2
    assert "LoRA scale is 1.0" in capsys.readouterr().err


def test_linear_mapper_names_the_video_qformer_it_lacks(world, tmp_path, capsys):
    state = {k: v for k, v in world["state"].items() if not k.startswith("perceiver")}
    state["perceiver.video_query_tokens"] = torch.zeros(1, 32, 768)
    state["perceiver.llama_proj.weight"] = torch.zeros(D, 768)
    state["video_frame_position_embedding.weight"] = torch.zeros(32, 768)
    ckpt = save_release(state, tmp_path / "CMDAD_TVAD.pt")
    assert run_import(world, ckpt, tmp_path / "run", "--preset", "tvad",
                      "--set", "model.mapper=linear") == 2
    err = capsys.readouterr().err
    assert "video Q-Former" in err and "perceiver.llama_proj.weight" in err
    assert "perceiver.video_query_tokens" in err and "video_frame_position_embedding.weight" in err
    listed = err.split("have no place: ")[1]
    assert "gpt." not in listed and "project_img" not in listed  # those parts do map
    assert not (tmp_path / "run").exists()
    # the part that does map: project_img is the linear character mapper's projection
    ours, part = release_key_to_ours("project_img.weight")
    assert part == "character_mapper"
    assert ours.removeprefix("character_mapper.") in dict(LinearTokenMapper(FEAT, D).named_parameters())


def test_layout_at_paper_size_fits_the_mad_preset_on_llama2_7b():
    """LAYOUT.md's shapes at D=4096 against our mad model on Llama-2-7B's sizes (meta
    tensors: no memory), so the real MAD.pt cannot fail on a shape the tiny test hides."""
    config = load_config("mad")
    config.model.train_norms = True  # as import_release sets it
    model = UniAD.build(config, meta=True)  # model.llm=llama2-7b: sizes only
    release = {k: torch.empty(shape, device="meta") for k, shape in layout_shapes(PAPER).items()}
    state, counts = release_to_ours(release, model.trainable_state_dict(), "MAD.pt (meta)")
    assert set(state) == set(model.trainable_state_dict())
    assert dict(counts) == {"video_mapper": 30, "character_mapper": 30, "placeholders": 2,
                            "lora": 256, "norm": 65}


def teacher_forced_logits(model: UniAD, samples) -> torch.Tensor:
    """The LLM's logits over each sample's whole sequence (prompt + target)."""
    segments = [model.builder.build(s) for s in samples]
    batch = model.encode(segments, model.visual_embeddings(samples, segments))
    with torch.no_grad():
        return model.llm(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                         position_ids=batch.position_ids).logits


def test_release_lora_shipped_ignores_the_adapters_and_active_uses_them(world, imported):
    """The release's evaluation never applies a checkpoint's LoRA (issue 15): the import
    records release_lora=shipped, whose logits equal the adapter-free model's; active
    applies the file's non-zero adapters."""
    assert imported.config.model.release_lora == "shipped"
    config = load_config(path=world["run"] / "config.yaml")
    assert (config.data.time_rounding, config.generation.rules) == ("release", "hf432")
    samples = [make_sample(f"s{i}", seed=i, feature_dim=FEAT,
                           characters=(("Anna", "Emma Stone"), ("Tom", "Ryan Gosling"))[: i + 1])
               for i in range(2)]
    shipped = teacher_forced_logits(imported, samples)
    bare = UniAD.from_pretrained(world["run"]).eval()
    with torch.no_grad():
        for name, p in bare.named_parameters():
            if "lora_B" in name:
                p.zero_()
    bare.config.model.release_lora = "active"
    bare.apply_release_lora()
    torch.testing.assert_close(shipped, teacher_forced_logits(bare, samples), atol=1e-5, rtol=1e-5)
    imported.config.model.release_lora = "active"
    imported.apply_release_lora()
    try:
        active = teacher_forced_logits(imported, samples)
    finally:
        imported.config.model.release_lora = "shipped"
        imported.apply_release_lora()
    assert (active - shipped).abs().max() > 1e-2
    torch.testing.assert_close(teacher_forced_logits(imported, samples), shipped)
