"""Atomic, resumable training checkpoints.

Layout inside a run folder::

    checkpoints/
      step_0000100/
        model.safetensors   trainable weights only (the frozen LLM is not repeated)
        state.pt            optimizer, scheduler, grad scaler, per-rank RNG states
        meta.json           data position (epoch, step in epoch, global step, seed), written last
      latest                name of the newest complete checkpoint folder

A checkpoint is written into ``checkpoints/.tmp-step_<7-digit step>`` and fsynced, then renamed
into place; only then does ``latest`` move (itself replaced atomically). A crash or
``kill -9`` at any moment therefore leaves ``latest`` naming a complete folder; leftover
temporary folders are removed on the next start. ``state.pt`` holds tensors and plain
containers only and is read back with ``torch.load(weights_only=True)``: never unpickle.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from uniad.errors import OutputError, UniADError
from uniad.io import output_error, write_bytes, write_json, write_text
from uniad.model.folder import WEIGHTS_FILE, read_safetensors, write_safetensors

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LATEST = "latest"
WEIGHTS = WEIGHTS_FILE
STATE = "state.pt"
META = "meta.json"
_TMP = ".tmp-"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step_{step:07d}"


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights training changes: the model's own ``trainable_state_dict`` if it has
    one (UniAD: mappers + LoRA/norms), else every parameter with ``requires_grad``."""
    if hasattr(model, "trainable_state_dict"):
        tensors = model.trainable_state_dict()
    else:
        tensors = {name: p for name, p in model.named_parameters() if p.requires_grad}
    # safetensors wants contiguous, unshared CPU tensors.
    return {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}


def load_trainable(model: nn.Module, path: Path) -> None:
    """Load trainable weights through the checked reader (a truncated file is named), refusing
    missing or unknown names and other shapes (no silent strict=False). A model with its own
    ``load_trainable`` (UniAD) checks and loads them itself."""
    tensors = read_safetensors(Path(path))
    if hasattr(model, "load_trainable"):
        model.load_trainable(tensors, source=str(path))
        return
    expected = trainable_state_dict(model)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(tensors) & set(expected) if tensors[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise UniADError(
            f"{path}: weights do not match the model (missing: {missing[:5]}, unexpected: "
            f"{unexpected[:5]}, other shape: {wrong[:5]}); was this checkpoint made with another "
            "model config?"
        )
    model.load_state_dict(tensors, strict=False)


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (WEIGHTS, STATE, META))


def clean_incomplete(run_dir: Path) -> None:
    """Remove temporary folders left by a save that was killed half-way."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name.startswith(_TMP):
            log.warning("removing incomplete checkpoint %s (a save was interrupted)", entry)
            shutil.rmtree(entry, ignore_errors=True)


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and _is_complete(path):
            found.append((int(match.group(1)), path))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder ``latest`` names; if the pointer is missing, the newest complete folder."""
    root = Path(run_dir) / CHECKPOINTS
    pointer = root / LATEST
    if pointer.is_file():
        folder = root / pointer.read_text().strip()
        if not _is_complete(folder):
            raise UniADError(
                f"{pointer} names {folder}, which is incomplete or missing; remove the "
                "pointer to fall back to the newest complete checkpoint"
            )
        return folder
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def save_checkpoint(
    run_dir: Path,
    step: int,
    weights: dict[str, torch.Tensor],
    state: dict[str, Any],
    meta: dict[str, Any],
    keep: int,
) -> Path:
    """Write one checkpoint atomically, move ``latest`` to it, keep the newest ``keep``."""
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    name = step_dir_name(step)
    tmp = root / f"{_TMP}{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_safetensors(tmp / WEIGHTS, weights)
        write_bytes(tmp / STATE, buffer.getvalue())
        # meta.json last: its presence marks the folder complete.
        write_json(tmp / META, meta)
        final = root / name
        if final.exists():  # a stale folder of the same step (e.g. a resumed run re-saving)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except (OSError, OutputError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = f"the earlier checkpoints in {root} are intact"
        if isinstance(err, OutputError):
            raise OutputError(f"{err}; {kept}") from None
        raise output_error(err, tmp, kept=kept) from None
    write_text(root / LATEST, name + "\n")
    _prune(root, keep, current=final)
    return final


def _prune(root: Path, keep: int, current: Path) -> None:
    done = complete_checkpoints(root.parent)
    for old in done[: max(len(done) - max(keep, 1), 0)]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state, meta)`` of a checkpoint folder; weights are loaded by :func:`load_trainable`."""
    try:
        state = torch.load(folder / STATE, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - report which file is bad, whatever the cause
        raise UniADError(f"{folder / STATE}: cannot read training state ({err})") from err
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError) as err:
        raise UniADError(f"{folder / META}: cannot read checkpoint metadata ({err})") from None
    return state, meta
