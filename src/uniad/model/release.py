"""The published UniAD checkpoints (``MAD.pt``, ``LLaMA_AD_pretrain.pt``) <-> our run folders.

The release saves ``{"epoch", "name", "state_dict", "optimizer"}`` pickles whose keys carry
DDP's ``module.`` prefix (shared/data/release_checkpoint/LAYOUT.md). Our modules were laid
out so that almost every key maps by a fixed prefix rename; the exceptions are the two
placeholder embeddings (two (1, D) tables, each tied to an output copy, here rows of one
(2, D) parameter) and loralib's LoRA tensors (``lora_A`` / ``lora_B``, peft's
``lora_A.<adapter>.weight`` / ``lora_B.<adapter>.weight``, same orientation).

Every key must be placed and every weight of ours filled: a mismatch raises and lists the
keys, never a silent ``strict=False`` as in the release.
"""

from __future__ import annotations

import io
import logging
import pickle
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from uniad.config import load_config
from uniad.errors import UniADError
from uniad.io import write_bytes, write_json
from uniad.model.llm import embedding_width, vocab_size
from uniad.model.folder import CONFIG_FILE, WEIGHTS_FILE, read_config, read_weights
from uniad.model.uniad import UniAD

log = logging.getLogger(__name__)

DDP_PREFIX = "module."
ADAPTER = "default"  # peft's adapter name (apply_lora uses the default one)
LLAMA2_VOCAB = 32000  # the release was trained on Llama-2-7B's tokenizer
IMPORT_FILE = "release_import.json"  # provenance written next to the run's weights
RELEASE_SEMANTICS = ("model.release_lora=shipped", "data.time_rounding=release")

# (release prefix, our prefix, part) in matching order; a key takes the first match.
PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("project_img.", "character_mapper.project.", "character_mapper"),
    ("perceiver_img.", "character_mapper.perceiver.", "character_mapper"),
    ("project.", "video_mapper.project.", "video_mapper"),
    ("perceiver.", "video_mapper.perceiver.", "video_mapper"),
    ("gpt.", "llm.base_model.model.", "llm"),
)
# Release placeholder tables -> row of our ``placeholders`` (0 = <video>, 1 = <v>).
PLACEHOLDERS = {"video_input_token_embedding.weight": 0, "image_input_token_embedding.weight": 1}
TIED = {
    "video_output_token_embedding.weight": "video_input_token_embedding.weight",
    "image_output_token_embedding.weight": "image_input_token_embedding.weight",
}
PLACEHOLDER_KEY = "placeholders"
LORA_SUFFIXES = {".lora_A": f".lora_A.{ADAPTER}.weight", ".lora_B": f".lora_B.{ADAPTER}.weight"}


def release_key_to_ours(key: str) -> tuple[str, str] | None:
    """``(our key, part)`` for a release key placed by renaming, None when none applies.

    Parts: video_mapper, character_mapper, lora, norm (LLM keys split by kind).
    """
    for release, ours, part in PREFIXES:
        if key.startswith(release):
            name = ours + key[len(release):]
            if part != "llm":
                return name, part
            for suffix, peft_suffix in LORA_SUFFIXES.items():
                if name.endswith(suffix):
                    return name[: -len(suffix)] + peft_suffix, "lora"
            return (name, "norm") if name.endswith("norm.weight") else None
    return None


def our_key_to_release(key: str) -> str | None:
    """The inverse of :func:`release_key_to_ours` (placeholders are handled apart)."""
    for release, ours, part in PREFIXES:
        if key.startswith(ours):
            name = release + key[len(ours):]
            if part != "llm":
                return name
            for suffix, peft_suffix in LORA_SUFFIXES.items():
                if name.endswith(peft_suffix):
                    return name[: -len(peft_suffix)] + suffix
            return name if name.endswith("norm.weight") else None
    return None


# -- reading the pickle ---------------------------------------------------------------------


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


# -- release -> ours ------------------------------------------------------------------------


def _listing(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def check_width(release: Mapping[str, Tensor], hidden_size: int, source: str) -> None:
    """Fail early, with both numbers, when the checkpoint was made for another LLM width."""
    for key in (*PLACEHOLDERS, "project.weight"):
        if key in release:
            width = release[key].shape[0 if key == "project.weight" else -1]
            if width != hidden_size:
                raise UniADError(f"{source}: checkpoint width {width} != LLM hidden size "
                                 f"{hidden_size} (key {key}); pass the LLM it was trained on (--llm)")
            return


def release_to_ours(
    release: Mapping[str, Tensor],
    expected: Mapping[str, Tensor],
    source: str,
    hint: str = "",
) -> tuple[dict[str, Tensor], Counter]:
    """Map a (prefix-stripped) release state dict onto ``expected`` (our trainable weights).

    Returns ``(state, counts)``: tensors under our names and the number of release keys
    placed per part. Raises listing every unplaced release key, every weight of ours left
    unfilled and every shape that differs; ``hint`` is appended to that message.
    """
    state: dict[str, Tensor] = {}
    counts: Counter = Counter()
    unused: list[str] = []
    rows: dict[int, Tensor] = {}
    for key, value in release.items():
        if key in PLACEHOLDERS:
            rows[PLACEHOLDERS[key]] = value.reshape(-1)
            counts["placeholders"] += 1
        elif key in TIED:
            if TIED[key] not in release or not torch.equal(value, release[TIED[key]]):
                raise UniADError(f"{source}: {key} should be tied to {TIED[key]} but differs "
                                 "from it (or the latter is missing)")
            counts["placeholders"] += 1
        elif (mapped := release_key_to_ours(key)) is not None and mapped[0] in expected:
            state[mapped[0]] = value
            counts[mapped[1]] += 1
        else:
            unused.append(key)
    if len(rows) == len(PLACEHOLDERS):
        state[PLACEHOLDER_KEY] = torch.stack([rows[i] for i in sorted(rows)])
    missing = [f"{our_key_to_release(k)} ({k})" for k in expected
               if k not in state and k != PLACEHOLDER_KEY]
    missing += [k for k, row in PLACEHOLDERS.items() if row not in rows]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
             for k in state if state[k].shape != expected[k].shape]
    problems = [f"{len(keys)} {label}: {_listing(sorted(keys))}" for label, keys in (
        ("key(s) in the file with no place in this model", unused),
        ("weight(s) of this model not in the file", missing),
        ("shape mismatch(es)", wrong)) if keys]
    if problems:
        raise UniADError(f"{source}: does not match the model: " + "; ".join(problems) + hint)
    return state, counts


# -- ours -> release ------------------------------------------------------------------------


def ours_to_release(state: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Our trainable weights -> the release's key names and shapes (no ``module.`` prefix)."""
    out: dict[str, Tensor] = {}
    unplaced: list[str] = []
    for key, value in state.items():
        if key == PLACEHOLDER_KEY:
            for name, row in PLACEHOLDERS.items():
                out[name] = value[row : row + 1].clone()
            for output, tied in TIED.items():
                out[output] = out[tied].clone()
        elif (name := our_key_to_release(key)) is not None:
            out[name] = value
        else:
            unplaced.append(key)
    if unplaced:
        raise UniADError(f"{source}: {len(unplaced)} weight(s) have no place in the release's "
                         f"layout: {_listing(sorted(unplaced))}")
    return out


# -- whole files ----------------------------------------------------------------------------


def _qformer_refusal(release: Mapping[str, Tensor], source: str, preset: str) -> UniADError:
    """Why a checkpoint cannot be imported into a model whose mapper is neither layout's."""
    video = sorted(k for k in release if k not in PLACEHOLDERS and k not in TIED
                   and (release_key_to_ours(k) or ("", "video_mapper"))[1] == "video_mapper")
    return UniADError(
        f"{source}: model.mapper=linear (a Perceiver video tower over Q-Former tokens) has no "
        "release layout; CMDAD_TVAD.pt's video mapper is Video-LLaMA's video Q-Former "
        f"(model.mapper=qformer, as the cmdad/tvad presets set), so the file's {len(video)} "
        "video-mapper (or unknown) key(s) have no place"
        + (f": {_listing(video)}" if video else "") + "."
    )


def _check_llm(model: UniAD, release: Mapping[str, Tensor], llm: str, source: str,
               llm_vocab: int) -> None:
    """The LLM must be the one the checkpoint was trained on: width, vocabulary, LoRA scale."""
    check_width(release, embedding_width(model.llm), source)
    found = vocab_size(model.llm)
    if found != llm_vocab:
        raise UniADError(f"{source}: checkpoint was trained with a {llm_vocab}-token vocabulary "
                         f"(Llama-2-7B), but LLM '{llm}' has {found}; pass the LLM it was "
                         "trained on (--llm), or --llm-vocab if you know better")
    # loralib adds B @ A * alpha / r; peft must apply the same scale to the same tensors.
    scales = {s for m in model.llm.modules() if isinstance(getattr(m, "scaling", None), dict)
              for s in m.scaling.values()}
    if scales != {1.0}:
        cfg = model.config.model
        raise UniADError(f"{source}: the release's LoRA scale is 1.0 (r=16, alpha=16) but this "
                         f"config gives {sorted(scales)} (model.lora_r={cfg.lora_r}, "
                         f"model.lora_alpha={cfg.lora_alpha}); set model.lora_alpha=model.lora_r")


def import_release(
    checkpoint: str | Path,
    llm: str,
    out: str | Path,
    preset: str = "mad",
    ad_pretrained: str | Path | None = None,
    overrides: list[str] | None = None,
    llm_vocab: int | None = None,
    allow_width: bool = False,
) -> tuple[Path, dict]:
    """Turn a release checkpoint into our run folder (``config.yaml`` + ``model.safetensors``,
    plus ``release_import.json``: where the weights came from); returns the folder and
    that provenance (``keys_per_part``, and ``absent_from_file`` for CMD-AD/TV-AD).

    ``ad_pretrained`` (``LLaMA_AD_pretrain.pt``) supplies LLM keys the main file lacks, as
    the release's ``--AD_pretrained 1`` does. The LLM is built on the meta device (only its
    shapes are needed: no 13 GB read); the imported tensors are assigned in place of the
    trainable weights and written by :meth:`UniAD.save_pretrained`.

    The RMSNorm weights are frozen base weights in our model, so the run's config turns on
    ``model.train_norms``: that is what makes ``save_pretrained`` store them and
    ``from_pretrained`` apply them (it only restores trainable weights and LoRA). The config
    also records the release's evaluation semantics (``model.release_lora=shipped``,
    ``data.time_rounding=release``; the presets' ``generation.rules``); each is one
    ``--set`` away.
    """
    source = str(checkpoint)
    release = load_release_state(checkpoint)
    if ad_pretrained is not None:
        release = merge_ad_pretrained(release, load_release_state(ad_pretrained))
        source = f"{checkpoint} + {ad_pretrained}"
    # The release's evaluation semantics go into the run's config (user --set wins), so that
    # `uniad evaluate` reproduces its predictions: the checkpoint's LoRA never acts there
    # and clip times are rounded to whole seconds; the presets carry the decoding rules
    # (mad: transformers 4.32.1's, cmdad/tvad: 4.46.3's). docs/reproduce.md.
    config = load_config(preset, overrides=[*RELEASE_SEMANTICS, *(overrides or [])])
    if llm == "tiny":
        raise UniADError("--llm tiny builds a random LLM; give the folder of the LLM the "
                         "checkpoint was trained on (Llama-2-7b-hf)")
    provenance = {"checkpoint": str(checkpoint), "ad_pretrained": ad_pretrained and str(ad_pretrained),
                  "preset": preset, "llm": llm}
    if config.model.mapper == "qformer":  # CMDAD_TVAD.pt: uniad.model.release_cmdtv
        from uniad.model.release_cmdtv import import_cmdtv

        return import_cmdtv(checkpoint, release, config, llm, out, provenance,
                            llm_vocab or LLAMA2_VOCAB, allow_width)
    if config.model.mapper != "perceiver":
        raise _qformer_refusal(release, source, preset)
    config.model.llm = llm
    config.model.train_norms = True
    model = UniAD.build(config, meta=True)
    _check_llm(model, release, llm, source, llm_vocab or LLAMA2_VOCAB)
    state, counts = release_to_ours(release, model.trainable_state_dict(), source)
    provenance["keys_per_part"] = dict(counts)
    return save_imported(model, state, out, provenance, source), provenance


def save_imported(model: UniAD, state: Mapping[str, Tensor], out: str | Path, provenance: dict,
                  source: str) -> Path:
    """The imported weights into the meta-device ``model``, saved as a run folder with its
    ``release_import.json``. ``state`` must already cover every trainable weight (the key
    mappings check it): ``strict=False`` only because the frozen base stays on meta."""
    model.load_state_dict(state, strict=False, assign=True)
    folder = model.save_pretrained(out)
    write_json(folder / IMPORT_FILE, provenance)
    log.info("imported %s into %s: %s", source, folder, provenance["keys_per_part"])
    return folder


def export_release(run: str | Path, out: str | Path, name: str | None = None) -> tuple[Path, int]:
    """Write a run folder's weights as a release checkpoint (``module.``-prefixed keys).

    Only the safetensors file is read: no LLM is loaded. Returns the path and key count.
    """
    run = Path(run)
    for required in (CONFIG_FILE, WEIGHTS_FILE):
        if not (run / required).is_file():
            raise UniADError(f"{run}: not a UniAD run folder ({required} is missing)")
    config = read_config(run)
    if config.model.mapper not in ("perceiver", "qformer"):
        raise UniADError(f"{run}: model.mapper={config.model.mapper}: only the MAD (perceiver) "
                         "and CMD-AD/TV-AD (qformer) layouts exist in the release's format")
    from uniad.model.release_cmdtv import ours_to_cmdtv

    to_release = ours_to_cmdtv if config.model.mapper == "qformer" else ours_to_release
    release = to_release(read_weights(run), str(run / WEIGHTS_FILE))
    if not any(key.endswith("norm.weight") for key in release):
        log.warning("%s holds no RMSNorm weights (trained with model.train_norms=false): the "
                    "release's loader keeps the base LLM's, as this run did, but "
                    "`uniad import-release` requires them", run)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {DDP_PREFIX + key: value for key, value in release.items()}
    buffer = io.BytesIO()  # torch.save into memory, then one atomic write (disk errors named)
    torch.save({"epoch": 0, "name": name or run.name, "state_dict": state}, buffer)
    write_bytes(out, buffer.getvalue())
    return out, len(state)
