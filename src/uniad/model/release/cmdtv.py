"""The published CMD-AD/TV-AD checkpoint (``CMDAD_TVAD.pt``) <-> our run folders.

Its 388 keys (shared/data/release_checkpoint/LAYOUT-cmdad-tvad.md) map by rename:

- ``perceiver.*`` -> ``video_mapper.*`` (:class:`~uniad.model.qformer.QFormerVideoMapper`),
  the Q-Former part ``perceiver.video_Qformer.bert.*`` onto transformers'
  ``Blip2QFormerModel`` (``embeddings.LayerNorm`` -> ``layernorm``, ``*.self.`` ->
  ``*.attention.``); its unused BERT buffer ``embeddings.position_ids`` (an arange) is
  checked and dropped, and written back on export;
- ``project_img.*``, LoRA and RMSNorm keys as in the MAD checkpoint (:mod:`uniad.model.release`);
- the three tied placeholder pairs: ``<video>`` and ``<v>`` into ``placeholders``, the
  never-read ``<context>`` into ``context_placeholder``.

The release loads with ``strict=False``, so a key missing from a file keeps its value from
construction; here a missing key either gets that same value, named in the import's
report, or is an error when the value is not available to us (the Video-LLaMA weights).
A key in the file that has no place is always an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from torch import Tensor

from uniad.errors import UniADError
from uniad.model.release.mad import our_key_to_release, release_key_to_ours
from uniad.model.release.placement import mismatch_error, place_keys
from uniad.model.release.reading import listing


RELEASE_WIDTH = 4096  # llama_proj is built 768 -> 4096 in the release (LAYOUT pitfall 2)
MAPPER, OURS_MAPPER = "perceiver.", "video_mapper."
QFORMER, OURS_QFORMER = "video_Qformer.bert.", "qformer."
# Release Q-Former names -> Blip2QFormerModel names (after the two prefixes above).
QFORMER_RENAMES = (
    ("embeddings.LayerNorm.", "layernorm."),
    (".attention.self.", ".attention.attention."),
    (".crossattention.self.", ".crossattention.attention."),
)
POSITION_IDS = MAPPER + QFORMER + "embeddings.position_ids"  # unused BERT buffer, (1, 512)
BERT_POSITIONS = 512
# Release placeholder table -> (our parameter, row or None for the whole (1, D) tensor).
PLACEHOLDERS = {
    "video_input_token_embedding.weight": ("placeholders", 0),
    "image_input_token_embedding.weight": ("placeholders", 1),
    "context_input_token_embedding.weight": ("context_placeholder", None),
}
TIED = {name.replace("_input_", "_output_"): name for name in PLACEHOLDERS}
PLACEHOLDER_PARAMS = {param for param, _ in PLACEHOLDERS.values()}
LLAMA_PROJ = MAPPER + "llama_proj."


def _rename(name: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for old, new in pairs:
        name = name.replace(old, new) if old.startswith(".") else (
            new + name[len(old):] if name.startswith(old) else name)
    return name


def cmdtv_key_to_ours(key: str) -> tuple[str, str] | None:
    """``(our key, part)`` for a CMD/TV release key placed by renaming, else None."""
    if key.startswith(MAPPER):
        rest = key[len(MAPPER):]
        if rest.startswith(QFORMER):
            rest = OURS_QFORMER + _rename(rest[len(QFORMER):], QFORMER_RENAMES)
        return OURS_MAPPER + rest, "video_mapper"
    return release_key_to_ours(key)


def ours_to_cmdtv_key(key: str) -> str | None:
    """The inverse of :func:`cmdtv_key_to_ours`."""
    if key.startswith(OURS_MAPPER):
        rest = key[len(OURS_MAPPER):]
        if rest.startswith(OURS_QFORMER):
            back = tuple((new, old) for old, new in QFORMER_RENAMES)
            rest = QFORMER + _rename(rest[len(OURS_QFORMER):], back)
        return MAPPER + rest
    return our_key_to_release(key)


# -- release -> ours ------------------------------------------------------------------------


def check_position_ids(release: Mapping[str, Tensor], source: str) -> None:
    ids = release.get(POSITION_IDS)
    if ids is not None and not torch.equal(ids.reshape(-1).long(), torch.arange(ids.numel())):
        raise UniADError(f"{source}: {POSITION_IDS} should be BERT's arange buffer but is not; "
                         "this is not a checkpoint of the release's model")


def mean_embedding_row(llm: str | Path) -> Tensor:
    """The mean row of the LLM's input embedding table, read from its safetensors files
    only: the release starts every placeholder there, and a file lacking one keeps it."""
    for path in sorted(Path(llm).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            name = next((k for k in f.keys() if k.endswith("embed_tokens.weight")), None)
            if name is not None:
                return f.get_tensor(name).float().mean(0)
    raise UniADError(f"{llm}: no embed_tokens.weight in its *.safetensors files; the "
                     "checkpoint lacks placeholder embeddings, which the release starts at "
                     "the mean embedding row")


def cmdtv_to_ours(
    release: Mapping[str, Tensor],
    expected: Mapping[str, Tensor],
    source: str,
    mean_row=None,
) -> tuple[dict[str, Tensor], Counter, dict[str, str]]:
    """Map a (prefix-stripped) CMD/TV release state dict onto ``expected``.

    Returns ``(state, counts, absent)``: our tensors, release keys placed per part, and for
    each group of our weights the file lacks, where its value came from. ``mean_row()``
    gives the LLM's mean embedding row (only called when a placeholder is missing). Raises
    listing every key with no place, every weight that cannot be filled and every shape
    that differs.
    """
    check_position_ids(release, source)
    placed = place_keys(release, expected, cmdtv_key_to_ours, source,
                        placeholders=PLACEHOLDERS, tied=TIED, dropped=(POSITION_IDS,))
    state, counts = placed.state, placed.counts
    absent = _fill_absent(state, expected, placed.rows, mean_row, release)
    missing = [k for k in expected if k not in state]
    why = (" (the release takes the video mapper's from Video-LLaMA's "
           "VL_LLaMA_2_7B_Finetuned.pth, which UniAD does not read)"
           if any(k.startswith(OURS_MAPPER) for k in missing) else "")
    error = mismatch_error(source, placed.unused, [f"{ours_to_cmdtv_key(k)} ({k})" for k in missing],
                           placed.shape_mismatches(expected), why_missing=why)
    if error is not None:
        raise error
    return state, counts, absent


def _fill_absent(state: dict[str, Tensor], expected: Mapping[str, Tensor],
                 rows: dict[str, Tensor], mean_row, release: Mapping[str, Tensor]) -> dict[str, str]:
    """Give weights the file lacks the value the release's construction gives them."""
    absent: dict[str, str] = {}
    lora = [k for k in expected if ".lora_" in k and k not in state]
    for key in lora:
        state[key] = torch.zeros(expected[key].shape)
    if lora:
        absent[f"{len(lora)} LoRA weight(s)"] = "zeros (the release's construction)"
    for suffix in ("weight", "bias"):
        ours, theirs = f"character_mapper.project.{suffix}", f"{LLAMA_PROJ}{suffix}"
        if ours in expected and ours not in state and theirs in release:
            state[ours] = release[theirs].clone()
            absent[f"project_img.{suffix}"] = f"a copy of {theirs} (the release's construction)"
    missing_rows = [name for name in PLACEHOLDERS if name not in rows]
    if missing_rows:
        mean = mean_row()
        rows = {**rows, **{name: mean for name in missing_rows}}
        absent[", ".join(missing_rows)] = "the LLM's mean embedding row (the release's construction)"
    state["placeholders"] = torch.stack([rows[n] for n, (p, _) in PLACEHOLDERS.items()
                                         if p == "placeholders"])
    if "context_placeholder" in expected:
        state["context_placeholder"] = rows["context_input_token_embedding.weight"][None]
    return absent


# -- ours -> release ------------------------------------------------------------------------


def ours_to_cmdtv(state: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Our trainable weights -> the CMD/TV release's key names and shapes (no prefix)."""
    names = {key: ours_to_cmdtv_key(key) for key in state if key not in PLACEHOLDER_PARAMS}
    unplaced = sorted(key for key, name in names.items() if name is None)
    if unplaced:
        raise UniADError(f"{source}: {len(unplaced)} weight(s) have no place in the release's "
                         f"layout: {listing(unplaced)}")
    out = {name: state[key] for key, name in names.items()}
    for name, (param, row) in PLACEHOLDERS.items():
        if param in state:
            value = state[param]
            out[name] = out[name.replace("_input_", "_output_")] = (
                value[row : row + 1] if row is not None else value).clone()
    out[POSITION_IDS] = torch.arange(BERT_POSITIONS)[None]
    return out
