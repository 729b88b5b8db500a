"""A real 2-process torchrun job (gloo on CPU) with the same code path as a plain run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from uniad.train import checkpoint as ckpt
from uniad.train.monitor import METRICS, TENSORBOARD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_ranks_agree_and_only_rank0_writes(tmp_path: Path) -> None:
    run_dir, hashes = tmp_path / "run", tmp_path / "hashes"
    hashes.mkdir()
    script = Path(__file__).with_name("train_toy.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(script.parent)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(script), str(run_dir), str(hashes),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]

    digests = {p.name: p.read_text() for p in hashes.iterdir()}
    assert sorted(digests) == ["rank0.txt", "rank1.txt"]
    assert digests["rank0.txt"] == digests["rank1.txt"]  # DDP kept the replicas identical

    # One writer: each step logged once, one TensorBoard file, one set of checkpoints.
    steps = [json.loads(line)["step"] for line in (run_dir / METRICS).read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert len(list((run_dir / TENSORBOARD).iterdir())) == 1
    # 20 samples per rank in batches of 4 with grad_accum 2: steps 1-2 are full groups and
    # step 3 the epoch's partial last group (as the release steps it), so checkpoints are
    # written at 2 (save_every), 3 (epoch end) and 4 (the end); the newest two are kept.
    assert [p.name for p in ckpt.complete_checkpoints(run_dir)] == ["step_0000003", "step_0000004"]
    state, meta = ckpt.load_checkpoint(ckpt.latest_checkpoint(run_dir))
    assert meta["world_size"] == 2 and len(state["rng"]) == 2  # per-rank RNG states gathered
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # seeded seed + rank
