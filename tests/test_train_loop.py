"""What a run leaves behind and how the loop treats precision, validation and bad models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from train_toy import ToyDataset, ToyModel, build, collate, toy_config  # noqa: E402

from uniad.config import UniADConfig  # noqa: E402
from uniad.errors import UniADError  # noqa: E402
from uniad.train.loop import FINAL, resolve_precision, train  # noqa: E402
from uniad.train.monitor import (  # noqa: E402
    LOSS_PLOT,
    METRICS,
    RUN_INFO,
    TENSORBOARD,
    read_metrics,
    write_run_info,
)



def test_run_folder_holds_metrics_validation_plot_and_final_weights(tmp_path: Path) -> None:
    model = build()
    config = toy_config(epochs=4, eval_every=5, log_every=2, lr=3e-2)
    val_set = ToyDataset(size=12, seed=7)
    result = train(model, ToyDataset(), config, tmp_path, collate_fn=collate, val_set=val_set)
    assert result.completed and result.global_step == 20

    records = read_metrics(tmp_path)
    train_steps = [r["step"] for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    assert train_steps == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert {"loss", "lr", "grad_norm", "samples_per_s", "mse"} <= set(records[0])
    assert [r["step"] for r in val] == [5, 10, 15, 20]
    assert val[-1]["loss"] < val[0]["loss"]  # the toy actually learns
    assert (tmp_path / LOSS_PLOT).stat().st_size > 1000
    assert any((tmp_path / TENSORBOARD).iterdir())

    final = load_file(str(tmp_path / FINAL / "model.safetensors"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(final) == trainable  # frozen weights are not written
    assert torch.equal(final["net.0.weight"], model.net[0].weight.detach())


def test_grad_clip_bounds_what_the_optimizer_sees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    real_step = torch.optim.AdamW.step

    def spy(self: torch.optim.AdamW, *args: object, **kwargs: object) -> object:
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        seen.append(float(torch.nn.utils.get_total_norm(grads)))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    train(build(), ToyDataset(), toy_config(max_steps=3, grad_clip=0.5), tmp_path, collate_fn=collate)
    logged = [r["grad_norm"] for r in read_metrics(tmp_path)]
    assert len(seen) == 3 and max(seen) <= 0.5 + 1e-6
    assert min(logged) > 0.5  # the log reports the norm before clipping


def test_bf16_autocast_on_cpu_trains(tmp_path: Path) -> None:
    model = build()
    config = toy_config(max_steps=2, precision="bf16")
    result = train(model, ToyDataset(), config, tmp_path, collate_fn=collate)
    assert result.completed and torch.isfinite(torch.tensor(result.last_loss))
    assert model.net[0].weight.dtype == torch.float32  # autocast, not a cast of the weights


def test_precision_choices() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(UniADError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cpu)
    with pytest.raises(UniADError, match="not one of"):
        resolve_precision("int8", cpu)


def test_model_without_trainable_parameters_is_refused(tmp_path: Path) -> None:
    model = ToyModel().requires_grad_(False)
    with pytest.raises(UniADError, match="no trainable parameters"):
        train(model, ToyDataset(), toy_config(), tmp_path, collate_fn=collate)


def test_too_little_data_names_the_settings(tmp_path: Path) -> None:
    with pytest.raises(UniADError, match="batch_size 4 x grad_accum 2"):
        train(build(), ToyDataset(size=3), toy_config(), tmp_path, collate_fn=collate)


def test_run_info_records_config_and_provenance(tmp_path: Path) -> None:
    config = UniADConfig()
    config.train.lr = 0.123
    write_run_info(tmp_path, config, {"train_data": str(tmp_path / "ann.json"), "bank": None})
    info = json.loads((tmp_path / RUN_INFO).read_text())
    assert info["git_commit"] == "unknown" or len(info["git_commit"]) == 40
    assert info["data"]["train_data"].endswith("ann.json") and info["data"]["bank"] is None
    assert "lr: 0.123" in (tmp_path / "config.yaml").read_text()
    assert not (tmp_path / METRICS).exists()


def test_gradient_checkpointing_reaches_the_llm_without_deprecation_warnings() -> None:
    import warnings

    from uniad.config import ModelConfig
    from uniad.model.llm import apply_lora, load_llm
    from uniad.train.loop import _enable_gradient_checkpointing

    llm, _ = load_llm("tiny")
    wrapper = torch.nn.Module()
    wrapper.llm = apply_lora(llm, ModelConfig(lora_r=4))  # found as a child, as in UniAD
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        _enable_gradient_checkpointing(wrapper)
    assert llm.model.gradient_checkpointing
