"""``uniad train --init SOURCE``: start a run from a published checkpoint or another run.

A source is a release ``.pt`` (``LLaMA_AD_pretrain.pt``: the AD-pretrained LoRA and RMSNorm
weights; ``MAD.pt``; ``CMDAD_TVAD.pt``), read with ``weights_only=True`` as
``uniad import-release`` reads it, or a UniAD run / checkpoint folder (its safetensors,
through the checked loader). Keys are placed by the release package's one routine
(:func:`uniad.model.release.placement.place_keys`) under the layout the preset's mapper
implies; ``train.init_parts`` says which parts a source may fill. Every key is placed or
refused by name: a key with no place in the model, of a part the preset does not fill, or of
another shape stops the run before it starts. Weights the source does not hold keep their
fresh values (an AD-pretrained file fills the LLM's LoRA and norms only), and the record
(file, sha256, keys per part, what was left fresh) goes into ``run.json``.

Placed norm weights turn on ``model.keep_norms`` so the run's checkpoints keep them even
where they do not train (the release's ``if_finutune_GPT 0``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from uniad.errors import UniADError
from uniad.model.folder import WEIGHTS_FILE, checkpoint_dir, read_weights
from uniad.model.release import cmdtv, mad
from uniad.model.release.placement import Placement, mismatch_error, place_keys
from uniad.model.release.reading import listing, load_release_state
from uniad.model.uniad import KEPT_FROZEN, UniAD

log = logging.getLogger(__name__)

RELEASE_SUFFIXES = (".pt", ".pth", ".tar", ".bin")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def our_part(name: str) -> str | None:
    """The part of one of our weight names (a run folder's keys are ours already)."""
    if "lora_" in name:
        return "lora"
    if name.startswith("llm.") and name.endswith("norm.weight"):
        return "norm"
    for part in ("video_mapper", "character_mapper"):
        if name.startswith(part + "."):
            return part
    if name == mad.PLACEHOLDER_KEY or name in KEPT_FROZEN:
        return "placeholders"
    return None


def _release_placement(release: Mapping[str, Tensor], params: Mapping[str, Tensor], mapper: str,
                       source: str, parts: Collection[str]) -> tuple[Placement, dict[str, tuple[str, int | None]]]:
    """Place a release file under the MAD layout (perceiver) or the CMD/TV one (qformer)."""
    if mapper == "qformer":
        cmdtv.check_position_ids(release, source)
        placeholders = cmdtv.PLACEHOLDERS
        placed = place_keys(release, params, cmdtv.cmdtv_key_to_ours, source, placeholders=placeholders,
                            tied=cmdtv.TIED, dropped=(cmdtv.POSITION_IDS,), parts=parts)
        return placed, placeholders
    if mapper != "perceiver":
        raise UniADError(f"{source}: model.mapper={mapper} has no release layout to read the file "
                         "with (the MAD layout is perceiver, the CMD/TV one qformer)")
    placeholders = {name: (mad.PLACEHOLDER_KEY, row) for name, row in mad.PLACEHOLDERS.items()}
    placed = place_keys(release, params, mad.release_key_to_ours, source, placeholders=placeholders,
                        tied=mad.TIED, parts=parts)
    return placed, placeholders


def _run_placement(weights: Mapping[str, Tensor], params: Mapping[str, Tensor],
                   parts: Collection[str]) -> Placement:
    """A run folder's weights, by our own names."""
    placed = Placement()
    for name, value in weights.items():
        part = our_part(name)
        if part is None or name not in params:
            placed.unused.append(name)
        elif part not in parts:
            placed.refused.setdefault(part, []).append(name)
        else:
            placed.state[name] = value
            placed.counts[part] += 1
    return placed


def check_source(source: Path) -> None:
    """Refuse a source that is neither a file nor a folder (``uniad train`` asks before any work)."""
    if not source.exists():
        raise UniADError(f"--init {source}: no such file or folder (give a release .pt or a "
                         "UniAD run folder)")


def read_source(source: Path) -> tuple[str, dict[str, Tensor]]:
    """``(kind, tensors)``: ``release`` for a ``.pt`` file, ``run`` for a UniAD folder."""
    check_source(source)
    if source.is_dir():
        return "run", read_weights(checkpoint_dir(source))
    return "release", load_release_state(source)


def initialise(model: UniAD, source: str | Path, parts: Collection[str]) -> dict[str, Any]:
    """Place ``source``'s weights into ``model`` (see the module doc); returns the record."""
    source = Path(source)
    kind, tensors = read_source(source)
    params = dict(model.named_parameters())
    where = f"--init {source}"
    if kind == "release":
        placed, placeholders = _release_placement(tensors, params, model.config.model.mapper, where, parts)
    else:
        placed, placeholders = _run_placement(tensors, params, parts), {}
    refused = [f"{key} (part {part})" for part, keys in placed.refused.items() for key in keys]
    if refused:
        raise UniADError(f"{where}: {len(refused)} key(s) of part(s) this run does not fill from an "
                         f"init (train.init_parts={','.join(parts)}): {listing(sorted(refused))}")
    error = mismatch_error(where, placed.unused, [], placed.shape_mismatches(params),
                           hint=f" (model.mapper={model.config.model.mapper}; is this source "
                                "made for another preset or LLM?)")
    if error is not None:
        raise error
    width = model.placeholders.shape[1]
    for name, row in placed.rows.items():
        if row.numel() != width:
            raise UniADError(f"{where}: {name} has width {row.numel()}, the LLM {width}")
    absent = sorted(name for name in placed.rows if placeholders[name][0] not in params)
    if absent:
        raise UniADError(f"{where}: {listing(absent)} has no place in this model "
                         f"(model.prompt={model.config.model.prompt})")
    with torch.no_grad():
        for name, value in placed.state.items():
            params[name].copy_(value)
        for name, value in placed.rows.items():
            param, row = placeholders[name]
            target = params[param]
            (target[row] if row is not None else target[0]).copy_(value)
    if placed.counts.get("norm"):
        model.config.model.keep_norms = True
    filled = set(placed.state) | {placeholders[n][0] for n in placed.rows}
    fresh = sorted({p for name in model.trainable_state_dict() if name not in filled
                    and (p := our_part(name)) is not None})
    read = source if kind == "release" else checkpoint_dir(source) / WEIGHTS_FILE
    record = {"source": str(source.resolve()), "kind": kind, "file": str(read.resolve()),
              "sha256": file_sha256(read), "keys_per_part": dict(sorted(placed.counts.items())),
              "parts_left_fresh": fresh}
    log.info("--init %s: placed %s; left at their fresh values: %s", source,
             record["keys_per_part"], ", ".join(fresh) or "nothing")
    return record
