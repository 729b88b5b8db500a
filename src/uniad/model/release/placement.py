"""The one key-placement routine: a checkpoint's keys onto our weights, every key accounted for.

The MAD import, the CMD/TV import and ``uniad train --init`` all place keys the same way:
placeholder tables become rows, their tied output copies must equal them, a few known
buffers are checked and dropped, every other key is renamed by the layout's key map and
must land on a weight of ours. What is left over is never silently ignored (the release's
``strict=False``): the caller gets it and says what to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from uniad.errors import UniADError
from uniad.model.release.reading import listing

KeyMap = Callable[[str], "tuple[str, str] | None"]  # release key -> (our key, part) or None


@dataclass
class Placement:
    """Where a file's keys went."""

    state: dict[str, Tensor] = field(default_factory=dict)  # our name -> tensor
    counts: Counter = field(default_factory=Counter)  # release keys placed per part
    rows: dict[str, Tensor] = field(default_factory=dict)  # placeholder table -> its row
    unused: list[str] = field(default_factory=list)  # keys with no place in the model
    refused: dict[str, list[str]] = field(default_factory=dict)  # part -> keys not to be filled

    def shape_mismatches(self, expected: Mapping[str, Tensor]) -> list[str]:
        return [f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
                for k, v in self.state.items() if k in expected and v.shape != expected[k].shape]


def place_keys(
    release: Mapping[str, Tensor],
    expected: Mapping[str, Tensor],
    key_map: KeyMap,
    source: str,
    *,
    placeholders: Collection[str],
    tied: Mapping[str, str],
    dropped: Collection[str] = (),
    parts: Collection[str] | None = None,
) -> Placement:
    """Place every key of ``release`` (prefix-stripped) onto ``expected`` (our weights).

    ``placeholders`` are the (1, D) tables kept as rows (``Placement.rows``), ``tied`` maps
    each output copy to the table it must equal, ``dropped`` names buffers with no weight of
    ours (checked by the caller). ``parts`` (None: all) limits which parts may be filled; a
    key of another part goes to ``Placement.refused``.
    """
    out = Placement()
    for key, value in release.items():
        if key in placeholders:
            part = "placeholders"
        elif key in tied:
            if tied[key] not in release or not torch.equal(value, release[tied[key]]):
                raise UniADError(f"{source}: {key} should be tied to {tied[key]} but differs "
                                 "from it (or the latter is missing)")
            part = "placeholders"
        elif key in dropped:
            out.counts["dropped"] += 1
            continue
        elif (mapped := key_map(key)) is not None and mapped[0] in expected:
            part = mapped[1]
        else:
            out.unused.append(key)
            continue
        if parts is not None and part not in parts:
            out.refused.setdefault(part, []).append(key)
            continue
        out.counts[part] += 1
        if key in placeholders:
            out.rows[key] = value.reshape(-1)
        elif key not in tied:
            out.state[mapped[0]] = value
    return out


def mismatch_error(source: str, unused: list[str], missing: list[str], wrong: list[str],
                   why_missing: str = "", hint: str = "") -> UniADError | None:
    """One message naming every key with no place, every weight unfilled and every shape
    that differs; None when there is nothing to say."""
    problems = [f"{len(keys)} {label}: {listing(sorted(keys))}" for label, keys in (
        ("key(s) in the file with no place in this model", unused),
        (f"weight(s) of this model not in the file{why_missing}", missing),
        ("shape mismatch(es)", wrong)) if keys]
    if not problems:
        return None
    return UniADError(f"{source}: does not match the model: " + "; ".join(problems) + hint)
