"""What a person watching or auditing a run opens: metrics, TensorBoard, provenance, plot.

Named ``monitor`` rather than ``logging`` so it never shadows the standard library.
Only rank 0 creates a :class:`RunMonitor` that writes; other ranks get a silent one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from uniad.io import AppendLog, atomic_path, write_json
from uniad.model.folder import CONFIG_FILE

METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
LOSS_PLOT = "loss.png"
RUN_INFO = "run.json"
CONFIG = CONFIG_FILE  # run-folder names are defined once, in uniad.model.folder


def git_commit(where: Path | None = None) -> str:
    """HEAD of the repository holding this code, or ``"unknown"`` outside a git checkout."""
    cwd = where or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def write_run_info(
    run_dir: Path,
    config: Any,
    data_paths: dict[str, str | None],
    extra: dict[str, Any] | None = None,
) -> None:
    """Provenance: resolved config (``config.yaml``) and commit/data/command (``run.json``)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if hasattr(config, "save"):
        config.save(run_dir / CONFIG)
    import torch  # noqa: PLC0415 - only for its version string

    info = {
        "git_commit": git_commit(),
        "command": sys.argv,
        "data": {k: (str(Path(v).resolve()) if v else None) for k, v in data_paths.items()},
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    write_json(run_dir / RUN_INFO, info)


class RunMonitor:
    """Appends one JSON object per logged step to ``metrics.jsonl`` and mirrors the
    scalars to TensorBoard. ``enabled=False`` (ranks other than 0) writes nothing."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._tb = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 - heavy import

            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._tb = SummaryWriter(log_dir=str(self.run_dir / TENSORBOARD))

    def log(self, step: int, split: str, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "split": split, "time": round(time.time(), 3), **values}
        with AppendLog(self.run_dir / METRICS) as metrics:
            metrics.append([json.dumps(record)])
        for key, value in values.items():
            self._tb.add_scalar(f"{split}/{key}", value, step)
        self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(run_dir: Path) -> Path | None:
    """``loss.png``: training (and validation, if any) loss against optimizer step."""
    records = read_metrics(run_dir)
    if not records:
        return None
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(7, 4))
    for split, style in (("train", "-"), ("val", "o-")):
        points = [(r["step"], r["loss"]) for r in records if r["split"] == split and "loss" in r]
        if points:
            steps, losses = zip(*sorted(dict(points).items()))
            ax.plot(steps, losses, style, label=split)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    out = Path(run_dir) / LOSS_PLOT
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out
