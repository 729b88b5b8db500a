"""Whole files: a release checkpoint -> a run folder (``uniad import-release``) and back.

The key names are the layouts' business (:mod:`~uniad.model.release.mad`,
:mod:`~uniad.model.release.cmdtv`); this module builds the model a file is meant for,
checks its LLM, and writes the run folder with where its weights came from.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from uniad.config import UniADConfig, load_config
from uniad.errors import UniADError
from uniad.io import write_bytes, write_json
from uniad.model.folder import CONFIG_FILE, WEIGHTS_FILE, read_config, read_weights
from uniad.model.llm import embedding_width, vocab_size
from uniad.model.release.cmdtv import (
    LLAMA_PROJ, PLACEHOLDERS as CMDTV_PLACEHOLDERS, RELEASE_WIDTH, cmdtv_to_ours, mean_embedding_row,
    ours_to_cmdtv,
)
from uniad.model.release.mad import (
    PLACEHOLDERS, TIED, check_width, ours_to_release, release_key_to_ours, release_to_ours,
)
from uniad.model.release.reading import DDP_PREFIX, listing, load_release_state, merge_ad_pretrained
from uniad.model.uniad import UniAD

log = logging.getLogger(__name__)

LLAMA2_VOCAB = 32000  # the release was trained on Llama-2-7B's tokenizer
IMPORT_FILE = "release_import.json"  # provenance written next to the run's weights
RELEASE_SEMANTICS = ("model.release_lora=shipped", "data.time_rounding=release")


def _qformer_refusal(release: Mapping[str, Tensor], source: str) -> UniADError:
    """Why a checkpoint cannot be imported into a model whose mapper is neither layout's."""
    video = sorted(k for k in release if k not in PLACEHOLDERS and k not in TIED
                   and (release_key_to_ours(k) or ("", "video_mapper"))[1] == "video_mapper")
    return UniADError(
        f"{source}: model.mapper=linear (a Perceiver video tower over Q-Former tokens) has no "
        "release layout; CMDAD_TVAD.pt's video mapper is Video-LLaMA's video Q-Former "
        f"(model.mapper=qformer, as the cmdad/tvad presets set), so the file's {len(video)} "
        "video-mapper (or unknown) key(s) have no place"
        + (f": {listing(video)}" if video else "") + "."
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
    if config.model.mapper == "qformer":  # CMDAD_TVAD.pt
        return import_cmdtv(checkpoint, release, config, llm, out, provenance,
                            llm_vocab or LLAMA2_VOCAB, allow_width)
    if config.model.mapper != "perceiver":
        raise _qformer_refusal(release, source)
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


def _norms_in(release: Mapping[str, Tensor]) -> bool:
    return any(k.startswith("gpt.") and k.endswith("norm.weight") for k in release)


def import_cmdtv(
    checkpoint: str | Path,
    release: Mapping[str, Tensor],
    config: UniADConfig,
    llm: str,
    out: str | Path,
    provenance: dict,
    llm_vocab: int,
    allow_width: bool = False,
) -> tuple[Path, dict]:
    """Write the run folder of a CMD/TV checkpoint (see :func:`import_release`).

    The LLM must be 4096 wide, as the release hard-codes ``llama_proj`` (LAYOUT pitfall 2);
    ``allow_width`` lets tiny test configs through, provided the file's widths match the LLM.
    When the file holds no RMSNorm weights the base LLM's stay (``model.train_norms`` off).
    """
    source = str(checkpoint)
    config.model.llm = llm
    config.model.train_norms = _norms_in(release)
    model = UniAD.build(config, meta=True)
    width = embedding_width(model.llm)
    if width != RELEASE_WIDTH and not allow_width:
        raise UniADError(f"{llm}: LLM width {width}, but the CMD-AD/TV-AD release hard-codes "
                         f"llama_proj to {RELEASE_WIDTH} (Llama-2-7B); give that LLM, or "
                         "--allow-width for a test checkpoint of another width")
    for key in (f"{LLAMA_PROJ}weight", "project_img.weight", *CMDTV_PLACEHOLDERS):
        if key in release and release[key].shape[0 if "proj" in key else -1] != width:
            found = release[key].shape[0 if "proj" in key else -1]
            raise UniADError(f"{source}: checkpoint width {found} != LLM hidden size {width} "
                             f"(key {key}); pass the LLM it was trained on (--llm)")
    _check_llm(model, release, llm, source, llm_vocab)
    state, counts, absent = cmdtv_to_ours(release, model.trainable_state_dict(), source,
                                          mean_row=lambda: mean_embedding_row(llm))
    if not config.model.train_norms:
        absent["RMSNorm weights"] = "the base LLM's (the file holds none)"
    provenance = {**provenance, "keys_per_part": dict(counts), "absent_from_file": absent}
    folder = save_imported(model, state, out, provenance, source)
    for what, where in absent.items():
        log.warning("%s: not in the file; value from %s", what, where)
    return folder, provenance
