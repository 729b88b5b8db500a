"""`uniad train` on the tiny UniAD and a small synthetic world: runs, resumes exactly, reloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from uniad.cli import main
from uniad.data.synthetic import make_world
from uniad.model.uniad import UniAD
from uniad.train import checkpoint as ckpt


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    make_world(out, movies=3, dim=16, eval_movies=1)
    return out


def _train(world: Path, out: Path, *extra: str) -> int:
    settings = ["model.llm=tiny", "model.feature_dim=16", "model.perceiver_head_dim=16",
                "train.batch_size=2", "train.grad_accum=2", "train.max_steps=4",
                "train.warmup_steps=1", "train.log_every=1", "train.eval_every=2"]
    argv = ["train", "--preset", "demo", "--out", str(out),
            "--train-data", str(world / "train.json"), "--val-data", str(world / "eval.json"),
            "--features", str(world / "features.h5"), "--bank", str(world / "charbank.safetensors")]
    for item in settings:
        argv += ["--set", item]
    return main(argv + list(extra))


def test_tiny_uniad_trains_resumes_bitwise_and_reloads(world: Path, tmp_path: Path) -> None:
    straight, sliced = tmp_path / "straight", tmp_path / "sliced"
    assert _train(world, straight) == 0
    assert _train(world, sliced, "--stop-at-step", "1") == 0  # mid-epoch, grad_accum 2
    assert not (sliced / "final").exists()
    assert _train(world, sliced, "--resume") == 0

    a = load_file(str(straight / "final" / ckpt.WEIGHTS))
    b = load_file(str(sliced / "final" / ckpt.WEIGHTS))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # lora dropout on: RNG restored

    records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4]
    assert [r["step"] for r in records if r["split"] == "val"] == [2, 4]
    assert (straight / "config.yaml").is_file() and (straight / "run.json").is_file()

    model = UniAD.from_pretrained(straight / "final")
    reloaded = model.trainable_state_dict()
    assert all(torch.equal(reloaded[k].cpu(), a[k]) for k in a)
