"""`uniad train`'s set-up: tokenizer, then the data once, then the model; resume through the
checked loader; a finished run folder is not trained over by accident."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from test_train_init import TINY_MAD, train
from uniad.config import load_config
from uniad.data.dataset import ADDataset
from uniad.train import data as train_data
from uniad.world.synthetic import make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    make_world(out, movies=2, dim=16, eval_movies=1)
    return out


def test_tokenizer_then_the_data_once_then_the_model(world, monkeypatch):
    calls: list[str] = []
    for name in ("load_tokenizer", "open_split"):
        original = getattr(train_data, name)
        monkeypatch.setattr(train_data, name,
                            lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    built = ADDataset.__init__
    monkeypatch.setattr(ADDataset, "__init__", lambda self, *a, **k: calls.append("dataset") or built(self, *a, **k))
    build = train_data.UniAD.build.__func__
    monkeypatch.setattr(train_data.UniAD, "build",
                        classmethod(lambda cls, *a, **k: calls.append("model") or build(cls, *a, **k)))
    # a limit that drops some ADs: before, the dataset was built a second time without them
    config = load_config("mad", None, [*TINY_MAD, "data.max_ad_tokens=6"])
    model, dataset = train_data.build_for_training(world / "train.json", world / "features.h5",
                                                   world / "charbank.safetensors", config)
    assert calls == ["load_tokenizer", "open_split", "dataset", "model"]
    assert all(model.builder.count_tokens(e.text) <= 6 for e in dataset.events)
    assert model.tokenizer is not None and len(dataset) > 0


def test_resume_reads_weights_through_the_checked_loader(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(world, out, "--stop-at-step", "1") == 0
    weights = next((out / "checkpoints").glob("step_*")) / "model.safetensors"
    tensors = load_file(weights)
    name = next(k for k in tensors if k.startswith("video_mapper."))
    tensors[name] = torch.zeros(3, 3)
    save_file(tensors, weights)
    assert train(world, out, "--resume") == 2
    err = capsys.readouterr().err
    assert str(weights) in err and "wrong shape" in err and name in err
    weights.write_bytes(weights.read_bytes()[:100])  # truncated: named, not a traceback
    assert train(world, out, "--resume") == 2
    assert "truncated" in capsys.readouterr().err
