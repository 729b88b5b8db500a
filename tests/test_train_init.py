"""`uniad train --init`: release-layout files and run folders as the start of a run.

The AD-pretrained file is written here in the release's layout (``gpt.*`` loralib LoRA and
RMSNorm keys, ``module.`` prefix, ``state_dict``), from test_release's table of key names
and shapes, at the tiny LLM's sizes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from test_release import TINY, llm_shapes, save_release
from uniad.cli import main
from uniad.world.synthetic import make_world

TINY_MAD = ["model.llm=tiny", "model.feature_dim=16", "model.num_latents=3", "model.num_char_tokens=2",
            "model.perceiver_head_dim=16", "model.perceiver_depth=1", "train.batch_size=2",
            "train.grad_accum=2", "train.max_steps=2", "train.warmup_steps=1", "train.log_every=1",
            "train.lr=1e-3"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    make_world(out, movies=2, dim=16, eval_movies=1)
    return out


def ad_pretrained(seed: int = 0) -> dict[str, torch.Tensor]:
    """``LLaMA_AD_pretrain.pt``'s content: LoRA A0/B0 and the RMSNorm gains, all non-zero."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in llm_shapes(TINY).items():
        value = torch.randn(shape, generator=g) * 0.05
        state[key] = value + 1 if key.endswith("norm.weight") else value
    return state


def train(world: Path, out: Path, *extra: str, settings=()) -> int:
    argv = ["train", "--preset", "mad", "--out", str(out), "--train-data", str(world / "train.json"),
            "--features", str(world / "features.h5"), "--bank", str(world / "charbank.safetensors")]
    for item in [*TINY_MAD, *settings]:
        argv += ["--set", item]
    return main(argv + list(extra))


def peft_name(release_key: str) -> str:
    name = "llm.base_model.model." + release_key.removeprefix("gpt.")
    for suffix in (".lora_A", ".lora_B"):
        if name.endswith(suffix):
            return name + ".default.weight"
    return name


def test_ad_pretrained_file_places_lora_and_norms(world, tmp_path):
    state = ad_pretrained()
    source = save_release(state, tmp_path / "LLaMA_AD_pretrain.pt")
    assert train(world, tmp_path / "run", "--init", str(source)) == 0
    info = json.loads((tmp_path / "run" / "run.json").read_text())["init"]
    lora_keys = sum(".lora_" in k for k in state)
    assert info["keys_per_part"] == {"lora": lora_keys, "norm": len(state) - lora_keys}
    assert info["kind"] == "release" and len(info["sha256"]) == 64
    assert set(info["parts_left_fresh"]) == {"video_mapper", "character_mapper", "placeholders"}
    final = load_file(tmp_path / "run" / "final" / "model.safetensors")
    for key, value in state.items():  # frozen (if_finutune_GPT 0): the file's values, saved
        assert torch.equal(final[peft_name(key)], value), key


def test_train_lora_norms_trains_them_from_the_file(world, tmp_path):
    state = ad_pretrained()
    source = save_release(state, tmp_path / "ad.pt")
    assert train(world, tmp_path / "run", "--init", str(source), "--train-lora-norms") == 0
    final = load_file(tmp_path / "run" / "final" / "model.safetensors")
    moved = [k for k, v in state.items() if not torch.equal(final[peft_name(k)], v)]
    assert len(moved) > len(state) // 2


def test_foreign_keys_are_refused_by_name(world, tmp_path, capsys):
    state = ad_pretrained()
    state["gpt.model.layers.0.mlp.gate_proj.lora_A"] = torch.zeros(16, 64)
    state["visual_head.weight"] = torch.zeros(3)
    source = save_release(state, tmp_path / "foreign.pt")
    assert train(world, tmp_path / "run", "--init", str(source)) == 2
    err = capsys.readouterr().err
    assert "gpt.model.layers.0.mlp.gate_proj.lora_A" in err and "visual_head.weight" in err
    assert "2 key(s) in the file with no place" in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_missing_init_is_refused_before_any_work(world, tmp_path, capsys):
    assert train(world, tmp_path / "run", "--init", str(tmp_path / "nothing.pt")) == 2
    assert f"--init {tmp_path / 'nothing.pt'}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_part_the_preset_does_not_fill_is_refused(world, tmp_path, capsys):
    source = save_release(ad_pretrained(), tmp_path / "ad.pt")
    code = train(world, tmp_path / "run", "--init", str(source), settings=["train.init_parts=[lora]"])
    assert code == 2
    err = capsys.readouterr().err
    assert "gpt.model.norm.weight (part norm)" in err and "train.init_parts=lora" in err


def test_a_run_folder_fills_every_part(world, tmp_path):
    assert train(world, tmp_path / "first") == 0
    assert train(world, tmp_path / "second", "--init", str(tmp_path / "first")) == 0
    info = json.loads((tmp_path / "second" / "run.json").read_text())["init"]
    assert info["kind"] == "run" and info["parts_left_fresh"] == []
    assert {"lora", "video_mapper", "character_mapper", "placeholders"} <= set(info["keys_per_part"])


def test_a_finished_run_folder_is_refused_without_resume_or_overwrite(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(world, out) == 0
    assert train(world, out) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--resume" in err and "--overwrite" in err
    assert train(world, out, "--overwrite") == 0


def test_a_cmdtv_release_file_fills_the_qformer_model(tmp_path):
    """CMDAD_TVAD.pt's layout: the video Q-Former, project_img, three placeholder tables (the
    <context> one into the frozen context row), LoRA and norms; BERT's position_ids dropped."""
    import cmdtv_release as cmdtv

    from uniad.config import INIT_PARTS, load_config
    from uniad.model.uniad import UniAD
    from uniad.train.init import initialise

    state = cmdtv.release_state()
    source = cmdtv.save_release(state, tmp_path / "CMDAD_TVAD.pt")
    config = load_config("tvad", None, ["model.llm=tiny", *cmdtv.SETTINGS])
    torch.manual_seed(0)
    model = UniAD.build(config)
    record = initialise(model, source, INIT_PARTS)
    placed = record["keys_per_part"]
    assert placed["video_mapper"] == sum(k.startswith("perceiver.") for k in state) - 1
    assert placed["placeholders"] == sum("token_embedding" in k for k in state)
    assert placed["dropped"] == 1 and placed["lora"] == sum(".lora_" in k for k in state)
    assert torch.equal(model.context_placeholder[0], state["context_input_token_embedding.weight"][0])
    assert torch.equal(model.character_mapper.state_dict()["project.weight"], state["project_img.weight"])


def test_resuming_a_run_that_started_from_an_init_needs_it_again(world, tmp_path, capsys):
    source = save_release(ad_pretrained(), tmp_path / "ad.pt")
    out = tmp_path / "run"
    assert train(world, out, "--init", str(source), "--stop-at-step", "1") == 0
    assert train(world, out, "--resume") == 2
    assert f"started from --init {source.resolve()}" in capsys.readouterr().err
    assert train(world, out, "--resume", "--init", str(source)) == 0
    final = load_file(out / "final" / "model.safetensors")
    assert torch.equal(final[peft_name("gpt.model.norm.weight")], ad_pretrained()["gpt.model.norm.weight"])
