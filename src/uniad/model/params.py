"""Parameter counts by part, for ``uniad inspect --model``.

The point of the split is a fact a reader would not guess: in the release's 7B model the
trained weights are the two width-4096 mapper towers (about 812.6 M), not LoRA (16.8 M).
Counts work on meta-device models, so the 7B figures need no weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from torch import nn

ParamSource = nn.Module | Iterable[nn.Parameter]


def _unique(source: ParamSource) -> list[nn.Parameter]:
    """Parameters of a module or an iterable, each counted once (tied weights share one)."""
    params = source.parameters() if isinstance(source, nn.Module) else source
    seen: dict[int, nn.Parameter] = {}
    for p in params:
        seen.setdefault(id(p), p)
    return list(seen.values())


def count_parameters(source: ParamSource) -> dict[str, int]:
    """``{"total", "trainable", "frozen"}`` element counts."""
    params = _unique(source)
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def split_llm_parameters(llm: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The LLM's parameters as ``{"llm": base weights, "lora": adapter weights}``.

    peft names every adapter tensor ``...lora_A...`` / ``...lora_B...`` (or the
    ``lora_embedding_*`` variants), which is what this relies on.
    """
    parts: dict[str, list[nn.Parameter]] = {"llm": [], "lora": []}
    for name, p in llm.named_parameters():
        parts["lora" if "lora_" in name else "llm"].append(p)
    return parts


def count_by_part(parts: Mapping[str, ParamSource]) -> dict[str, dict[str, int]]:
    """Counts for each named part plus an ``"all"`` row over their union."""
    table = {name: count_parameters(source) for name, source in parts.items()}
    everything = [p for source in parts.values() for p in _unique(source)]
    table["all"] = count_parameters(everything)
    return table
