"""Reading a release checkpoint: a ``torch.save`` pickle, opened without running code."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from uniad.errors import UniADError

DDP_PREFIX = "module."


def listing(keys: list[str], limit: int = 12) -> str:
    """``a, b, c (+N more)``: keys named in a message, the first ``limit`` of them."""
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_release_state(path: str | Path) -> dict[str, Tensor]:
    """The state dict of a release checkpoint, ``module.`` stripped, read without running code.

    ``weights_only=True`` makes torch refuse any pickled class or function instead of
    executing it; accepted are a ``{"state_dict": ...}`` dict (the release's layout) or a
    bare ``{name: tensor}`` dict.
    """
    path = Path(path)
    if not path.is_file():
        raise UniADError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's line naming the refused object, without its advice to allow-list it
        refused = next((ln.strip().split(". ")[0] for ln in str(err).splitlines()
                        if "GLOBAL" in ln), "")
        raise UniADError(
            f"{path}: refused: the file holds Python objects other than tensors and plain "
            f"containers, which would run code when unpickled; nothing was loaded"
            + (f" ({refused})" if refused else "")
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise UniADError(f"{path}: cannot read as a PyTorch checkpoint (truncated or not a "
                         f"torch.save file?): {str(err).split('. ')[0]}") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        raise UniADError(f"{path}: expected a state dict, got {type(state).__name__}")
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise UniADError(f"{path}: state_dict entry {key!r} is {type(value).__name__}, "
                             "not a tensor")
        out[key.removeprefix(DDP_PREFIX)] = value
    return out


def merge_ad_pretrained(
    main: Mapping[str, Tensor], pretrained: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """The release's ``--AD_pretrained 1``: LLM (``gpt.``) keys of the AD-pretrained file first,
    then the main checkpoint on top (its own LLM keys win)."""
    return {**{k: v for k, v in pretrained.items() if k.startswith("gpt.")}, **main}
