"""Stop/resume reaches bitwise the same weights; interrupted saves never corrupt ``latest``."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
from safetensors.torch import load_file
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_toy import ToyDataset, build, collate, toy_config, weights_hash  # noqa: E402

from uniad.errors import UniADError  # noqa: E402
from uniad.train import checkpoint as ckpt  # noqa: E402
from uniad.train.loop import train  # noqa: E402
from uniad.train.rng import capture_rng_state, restore_rng_state  # noqa: E402



def _run(run_dir: Path, **kwargs: object) -> tuple[str, object]:
    model = build()
    result = train(model, ToyDataset(), toy_config(), run_dir, collate_fn=collate, **kwargs)
    return weights_hash(model), result


@pytest.fixture(scope="module")
def straight_hash(tmp_path_factory: pytest.TempPathFactory) -> str:
    digest, result = _run(tmp_path_factory.mktemp("straight"))
    assert result.completed and result.global_step == 10
    return digest


# 3: mid-epoch with grad_accum 2 (epoch = 5 steps); 5: the epoch boundary; 7: mid second epoch.
@pytest.mark.parametrize("stop", [3, 5, 7])
def test_stop_and_resume_matches_uninterrupted_run(tmp_path: Path, straight_hash: str, stop: int) -> None:
    half_hash, half = _run(tmp_path, stop_at_step=stop)
    assert half.global_step == stop and not half.completed
    assert half_hash != straight_hash  # the first leg alone is not the answer
    meta = json.loads((ckpt.latest_checkpoint(tmp_path) / ckpt.META).read_text())
    assert (meta["epoch"], meta["step_in_epoch"]) == divmod(stop, 5)
    resumed_hash, resumed = _run(tmp_path, resume=True)
    assert resumed.completed and resumed.global_step == 10
    assert resumed_hash == straight_hash
    # The final weights file holds the same values as the model.
    assert (tmp_path / "final" / ckpt.WEIGHTS).is_file()


def test_keeps_only_the_newest_checkpoints(tmp_path: Path) -> None:
    model = build()
    train(model, ToyDataset(), toy_config(save_every=1, keep_checkpoints=2), tmp_path, collate_fn=collate)
    names = sorted(p.name for p in ckpt.complete_checkpoints(tmp_path))
    assert names == ["step_0000009", "step_0000010"]
    assert (tmp_path / ckpt.CHECKPOINTS / ckpt.LATEST).read_text().strip() == "step_0000010"


def test_crash_during_save_keeps_previous_latest(
    tmp_path: Path, straight_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(tmp_path, stop_at_step=3)
    real_save = ckpt.write_safetensors

    def dies_half_way(path: str, tensors: dict) -> None:
        Path(path).write_bytes(b"\x00" * 17)  # a torn file, then the process "dies"
        raise KeyboardInterrupt("killed during save")

    monkeypatch.setattr(ckpt, "write_safetensors", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, resume=True)  # first save is at step 5 (end of epoch 0)
    assert any(p.name.startswith(".tmp-") for p in (tmp_path / ckpt.CHECKPOINTS).iterdir())
    assert ckpt.latest_checkpoint(tmp_path).name == "step_0000003"

    monkeypatch.setattr(ckpt, "write_safetensors", real_save)
    resumed_hash, resumed = _run(tmp_path, resume=True)
    assert resumed.completed
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / ckpt.CHECKPOINTS).iterdir())
    assert resumed_hash == straight_hash


def test_resume_refuses_changed_schedule(tmp_path: Path) -> None:
    _run(tmp_path, stop_at_step=2)
    model = build()
    with pytest.raises(UniADError, match="total_steps"):
        train(model, ToyDataset(), toy_config(epochs=3), tmp_path, collate_fn=collate, resume=True)


def test_rng_state_survives_weights_only_load(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    torch.save(capture_rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


_SAVER = """
import sys, torch
from uniad.train import checkpoint as ckpt
run = sys.argv[1]
big = {f"w{i}": torch.full((1024, 1024), float(i)) for i in range(48)}  # 192 MB: slow to write
ckpt.save_checkpoint(run, 1, {"w": torch.ones(4)}, {"n": torch.tensor(1)}, {"global_step": 1}, keep=5)
print("saved", flush=True)
for step in range(2, 100):
    ckpt.save_checkpoint(run, step, big, {"n": torch.tensor(step)}, {"global_step": step}, keep=5)
"""


def test_kill_9_during_save_leaves_a_loadable_latest(tmp_path: Path) -> None:
    import subprocess
    import time

    proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "saved"
        # Kill once the large save has started writing its temporary folder.
        deadline = time.monotonic() + 30
        while not any(p.name.startswith(".tmp-") for p in (tmp_path / ckpt.CHECKPOINTS).iterdir()):
            assert time.monotonic() < deadline, "the large save never started"
            time.sleep(0.005)
    finally:
        proc.kill()  # SIGKILL: no cleanup handlers run
        proc.wait(timeout=30)
    assert any(p.name.startswith(".tmp-") for p in (tmp_path / ckpt.CHECKPOINTS).iterdir())  # killed mid-save
    latest = ckpt.latest_checkpoint(tmp_path)
    state, meta = ckpt.load_checkpoint(latest)
    weights = load_file(str(latest / ckpt.WEIGHTS))
    assert int(state["n"]) == meta["global_step"] == int(latest.name.split("_")[1])
    assert len(weights) in (1, 48)
    ckpt.clean_incomplete(tmp_path)
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / ckpt.CHECKPOINTS).iterdir())
