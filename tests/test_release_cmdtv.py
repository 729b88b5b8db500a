"""import-release / export-release for the CMD-AD/TV-AD checkpoint (video Q-Former), on a
release-layout file at a tiny width (tests/cmdtv_release.py)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from cmdtv_release import (FEAT, FFN, HEADS, QLAYERS, QUERIES, Q, import_args,
                           layout_shapes, release_state, save_release)
from safetensors.torch import load_file
from test_release import PAPER, TINY

from uniad.cli import main
from uniad.config import load_config
from uniad.model.llm import save_llm
from uniad.model.release.cmdtv import cmdtv_to_ours
from uniad.model.tiny import build_tiny_llm
from uniad.model.uniad import UniAD


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmdtv")
    llm, tokenizer = build_tiny_llm()
    folder = save_llm(llm, tokenizer, root / "llm")
    state = release_state()
    return {"llm": folder, "vocab": len(tokenizer), "state": state, "run": root / "run",
            "ckpt": save_release(state, root / "CMDAD_TVAD.pt"), "embed": llm.get_input_embeddings().weight}


def run_import(world, ckpt, out, *extra):
    return main(import_args(ckpt, world["llm"], out, world["vocab"], *extra))


@pytest.fixture(scope="module")
def imported(world):
    assert run_import(world, world["ckpt"], world["run"]) == 0
    return UniAD.from_pretrained(world["run"]).eval()


def layout_mapper(t: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """LAYOUT-cmdad-tvad.md's mapper formulas in plain torch on the file's tensors."""
    n, frames, q, f = x.shape
    hd = f // HEADS
    ln = lambda h, name: F.layer_norm(h, (f,), t[name + ".weight"], t[name + ".bias"], eps=1e-12)  # noqa: E731
    lin = lambda h, name: h @ t[name + ".weight"].T + t[name + ".bias"]  # noqa: E731

    def mha(h, m, name):
        heads = lambda z: z.reshape(n, -1, HEADS, hd).transpose(1, 2)  # noqa: E731
        qq, kk, vv = (heads(lin(z, f"{name}.self.{p}")) for z, p in ((h, "query"), (m, "key"), (m, "value")))
        a = torch.softmax(qq @ kk.transpose(-1, -2) / hd**0.5, -1) @ vv
        return lin(a.transpose(1, 2).reshape(n, -1, f), f"{name}.output.dense")

    m = (x + t["perceiver.video_frame_position_embedding.weight"][:frames, None]).reshape(n, frames * q, f)
    h = ln(t["perceiver.video_query_tokens"].expand(n, -1, -1), Q + "embeddings.LayerNorm")
    for layer in range(QLAYERS):
        b = f"{Q}encoder.layer.{layer}."
        a = ln(h + mha(h, h, b + "attention"), b + "attention.output.LayerNorm")
        c = ln(a + mha(a, m, b + "crossattention"), b + "crossattention.output.LayerNorm")
        ffn = lin(F.gelu(lin(c, b + "intermediate_query.dense")), b + "output_query.dense")
        h = ln(c + ffn, b + "output_query.LayerNorm")
    return lin(h, "perceiver.llama_proj")


def test_mapper_computes_the_layout_formulas(world, imported):
    g = torch.Generator().manual_seed(3)
    frames = torch.randn(2, 16, QUERIES + 3, FEAT, generator=g)  # 16 frames of 7 tokens
    with torch.no_grad():
        video = imported.video_mapper(frames)
        chars = imported.character_mapper(frames[:, 0])
    assert video.shape == (2, QUERIES, TINY.width)
    torch.testing.assert_close(video, layout_mapper(world["state"], frames), atol=1e-5, rtol=1e-5)
    t = world["state"]
    torch.testing.assert_close(chars, frames[:, 0] @ t["project_img.weight"].T + t["project_img.bias"],
                               atol=1e-5, rtol=1e-5)


def test_every_key_lands_and_import_reports_parts(world, imported, tmp_path, capsys):
    state, model = world["state"], imported
    assert torch.equal(model.video_mapper.video_query_tokens, state["perceiver.video_query_tokens"])
    assert torch.equal(model.video_mapper.qformer.layernorm.weight, state[Q + "embeddings.LayerNorm.weight"])
    cross = model.video_mapper.qformer.encoder.layer[1].crossattention.attention.key.weight
    assert torch.equal(cross, state[Q + "encoder.layer.1.crossattention.self.key.weight"])
    for row, kind in enumerate(("video", "image")):
        assert torch.equal(model.placeholders[row], state[f"{kind}_input_token_embedding.weight"][0])
    assert torch.equal(model.context_placeholder, state["context_input_token_embedding.weight"])
    assert run_import(world, world["ckpt"], tmp_path / "run") == 0
    counts = {line.split()[0]: int(line.split()[1]) for line in capsys.readouterr().out.splitlines()[1:]}
    qformer_keys = 3 + 26 * QLAYERS
    assert counts == {"video_mapper": 4 + qformer_keys - 1, "dropped": 1, "character_mapper": 2,
                      "placeholders": 6, "lora": 8 * TINY.layers, "norm": 2 * TINY.layers + 1,
                      "total": len(state)}


def test_export_round_trip_gives_identical_tensors(world, imported, tmp_path):
    out = tmp_path / "again.pt"
    assert main(["export-release", "--run", str(world["run"]), "--out", str(out)]) == 0
    saved = torch.load(out, map_location="cpu", weights_only=True)["state_dict"]
    original = {"module." + k: v for k, v in world["state"].items()}
    assert set(saved) == set(original)
    for key, value in original.items():
        assert saved[key].dtype == value.dtype and torch.equal(saved[key], value), key
    assert run_import(world, out, tmp_path / "again") == 0


def test_llm_width_other_than_4096_needs_allow_width(world, tmp_path, capsys):
    args = [a for a in import_args(world["ckpt"], world["llm"], tmp_path / "run", world["vocab"])
            if a != "--allow-width"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "LLM width 64" in err and "4096" in err and "--allow-width" in err
    assert not (tmp_path / "run").exists()


def test_keys_absent_from_the_file_get_the_release_construction_values(world, tmp_path, capsys):
    state = {k: v for k, v in world["state"].items()
             if not k.startswith(("project_img.", "context_")) and ".lora_" not in k}
    assert run_import(world, save_release(state, tmp_path / "part.pt"), tmp_path / "run") == 0
    out = capsys.readouterr().out
    assert "project_img.weight: value from a copy of perceiver.llama_proj.weight" in out
    assert "LoRA weight(s): value from zeros" in out and "mean embedding row" in out
    weights = load_file(tmp_path / "run" / "model.safetensors")
    assert torch.equal(weights["character_mapper.project.weight"], state["perceiver.llama_proj.weight"])
    torch.testing.assert_close(weights["context_placeholder"][0], world["embed"].float().mean(0))
    absent = json.loads((tmp_path / "run" / "release_import.json").read_text())["absent_from_file"]
    assert len(absent) == 4  # LoRA, project_img weight and bias, context placeholder


def test_unplaced_missing_and_bad_keys_are_errors(world, tmp_path, capsys):
    state = dict(world["state"])
    del state[Q + "encoder.layer.0.output_query.dense.bias"]
    state[Q + "encoder.layer.0.intermediate.dense.weight"] = torch.zeros(FFN, FEAT)  # text FFN
    assert run_import(world, save_release(state, tmp_path / "odd.pt"), tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert "1 key(s) in the file with no place in this model: " + Q + "encoder.layer.0.intermediate" in err
    assert Q + "encoder.layer.0.output_query.dense.bias" in err and "VL_LLaMA_2_7B_Finetuned.pth" in err
    state = dict(world["state"])
    state[Q + "embeddings.position_ids"] = torch.zeros(1, 512, dtype=torch.long)
    assert run_import(world, save_release(state, tmp_path / "b.pt"), tmp_path / "b") == 2
    assert "arange buffer" in capsys.readouterr().err
    state = dict(world["state"])
    state["context_output_token_embedding.weight"] = torch.zeros(1, TINY.width)
    assert run_import(world, save_release(state, tmp_path / "c.pt"), tmp_path / "c") == 2
    assert "context_output_token_embedding.weight should be tied" in capsys.readouterr().err


def test_layout_at_paper_size_fits_the_tvad_preset_on_llama2_7b():
    """All 388 keys at Llama-2-7B width against the tvad preset (meta tensors: no memory)."""
    config = load_config("tvad")
    config.model.train_norms = True
    model = UniAD.build(config, meta=True)
    shapes = layout_shapes(PAPER, feat=768, queries=32, positions=32, ffn=3072)
    release = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    release |= {k.replace("_input_", "_output_"): v for k, v in release.items() if "_input_" in k}
    release[Q + "embeddings.position_ids"] = torch.arange(512)[None]
    assert len(release) == 388
    release = {k: v for k, v in release.items() if "_output_" not in k}  # ties: no meta compare
    state, counts, absent = cmdtv_to_ours(release, model.trainable_state_dict(), "CMDAD_TVAD.pt (meta)")
    assert set(state) == set(model.trainable_state_dict()) and not absent
    # the layout's count of distinct float values in the file
    assert sum(t.numel() for t in model.trainable_state_dict().values()) == 42_309_632
    assert dict(counts) == {"video_mapper": 58, "dropped": 1, "character_mapper": 2,
                            "placeholders": 3, "lora": 256, "norm": 65}
    assert tuple(model.video_mapper.video_frame_position_embedding.weight.shape) == (32, 768)


def test_import_records_the_release_evaluation_semantics(world, imported):
    """The release's CMD/TV evaluation never applies the checkpoint's LoRA and decodes by
    transformers 4.46.3's rules: the run says so, and the model built from it obeys."""
    config = load_config(path=world["run"] / "config.yaml")
    assert (config.model.release_lora, config.generation.rules) == ("shipped", "hf446")
    assert imported.config.model.release_lora == "shipped"
    lora_layers = [m for m in imported.llm.modules() if hasattr(m, "disable_adapters")]
    assert lora_layers and all(m.disable_adapters for m in lora_layers)
