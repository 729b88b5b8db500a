"""Configuration: dataclasses whose defaults match the paper's release, YAML presets on top.

Resolution order: dataclass defaults (the release's MAD settings, REFERENCE.md) <- a
preset (``mad``, ``cmdad``, ``tvad``, ``demo`` in ``uniad/configs``) <- a user YAML file
<- command-line overrides (``section.key=value``). Every run writes the resolved config
next to its outputs so that a result can always be traced to its settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from uniad.errors import UniADError


@dataclass
class DataConfig:
    """How annotations + features become samples (REFERENCE.md section 2)."""

    fps: float = 5.0
    video_length: int = 8  # frames sampled per clip
    # "tsn": one random frame from each of video_length segments (release training);
    # "linspace": evenly spaced frames (release MAD evaluation); "linspace_pad": the same,
    # zero-padded when the clip is shorter (release CMD-AD/TV-AD); "all": every frame.
    train_sampling: str = "tsn"
    eval_sampling: str = "linspace"
    # "release" rounds times to whole seconds before converting to frames, as the
    # release does (up to 0.5 s of drift); "exact" uses the frame at each time.
    time_rounding: str = "exact"
    previous_clips: int = 1  # previous clips given as video (release: 1)
    context_ads: int = 0  # previous ADs given as text (release: 0 [code != paper]; paper: 1)
    # Which character list feeds the prompt: "auto" follows the release (MAD train:
    # named_candidates, an oracle list; eval: refined), "recognised" (refined when the
    # file has it, else candidates: no answer key), or "refined", "candidates",
    # "named_candidates".
    character_source: str = "auto"
    character_threshold: float | None = None  # keep candidates scoring >= this (paper: 0.5)
    max_characters: int | None = None  # top-k by score after the threshold (release: no cap)
    max_ad_tokens: int = 51  # training drops ADs longer than this (release: 51)
    drop_without_context: bool = False  # release drops TV/CMD samples with no previous AD
    # "release": the CMD-AD/TV-AD loader's skip list: characters without ``char_in_ad`` or
    # whose ``char_in_ad`` is a pronoun or function word ("He", "The", ...); "none": keep all.
    character_filter: Literal["none", "release"] = "none"


@dataclass
class ModelConfig:
    """The UniAD model (REFERENCE.md section 3). Defaults: the release's MAD model."""

    llm: str = "llama2-7b"  # a folder, "smollm2", "tiny" or "llama2-7b" (meta device)
    feature_dim: int = 768
    # "perceiver" (MAD); "qformer" (CMD-AD/TV-AD: Video-LLaMA's video Q-Former over the
    # frames' Q-Former tokens, characters mapped token by token); "linear" (a Perceiver video
    # tower over Q-Former tokens, characters mapped token by token).
    mapper: Literal["perceiver", "linear", "qformer"] = "perceiver"
    num_latents: int = 30  # video tokens per clip group
    num_char_tokens: int = 30  # tokens per character
    perceiver_depth: int = 2
    perceiver_head_dim: int = 128
    max_frames: int = 58  # size of the temporal position table (qformer: frame positions)
    # The video Q-Former (mapper "qformer"): bert-base layers at width feature_dim.
    qformer_layers: int = 2
    qformer_heads: int = 12
    qformer_intermediate: int = 3072
    split_previous_video: bool = False  # compress each clip separately (if_video_split)
    use_characters: bool = True
    use_context_ads: bool = True  # only matters when data.context_ads > 0
    use_previous_video: bool = True
    # Narration: the text read on screen (OCR) as a prompt line before "Describe". Off by
    # default: the release checkpoints never saw that line (a departure from the release).
    use_screen_text: bool = False
    prompt_style: str = "release"  # "release": per-fragment tokenisation; "plain"
    # Which release prompt: "mad" ("Possible characters:" ... "Describe " <video> ":") or
    # "cmdtv" (CMD-AD/TV-AD: "Possible characters :", "; "/". " separators, a trailing
    # <context> slot); see uniad.model.sequence.
    prompt: Literal["mad", "cmdtv"] = "mad"
    # The cmdtv prompt's <context> slot. "release": the release's no-op (the slot reads the
    # <unk> row, the previous AD is unused); "text": no slot, the previous AD is given as
    # text as on MAD (with data.context_ads >= 1).
    context_mode: Literal["release", "text"] = "release"
    # LLM attention kernel. "eager" is what the release ran under its pinned torch 2.0.1
    # (causal, LAYOUT-cmdad-tvad pitfall 3); "default" lets transformers pick (SDPA).
    attention: Literal["default", "eager"] = "default"
    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    train_lora: bool = False  # release MAD recipe freezes LoRA too (if_finutune_GPT 0)
    train_norms: bool = False
    # Full fine-tuning: every base LLM weight trains (LoRA too). For an LLM that knows no
    # language yet, such as the random "tiny" one: LoRA on its frozen random base cannot
    # learn to write (measured: the demo loss stays at 5.8 nats, uniform over the vocabulary).
    train_llm: bool = False
    contrastive_loss: bool = True  # hinge max(0, CE_pos - CE_neg) with the previous AD
    contrastive_per_sample: bool = False  # paper's intent; release uses batch means
    placeholder_logits: bool = True  # release: <video>/<v> embeddings add 2 tied logits to the loss
    # The visual encoder the features came from, as a feature store's ``encoder`` attribute
    # names it (``uniad train`` records it); None = unknown (e.g. the release's MAD files).
    visual_encoder: str | None = None
    # "shipped": the checkpoint's LoRA is not applied, as in the release's evaluation (its
    # loralib layers are merged while still zero, before the checkpoint loads, so its
    # lora_A/B never act; the published mappers were trained that way too); "active": the
    # adapters act, as the paper describes. `uniad import-release` writes "shipped".
    release_lora: Literal["shipped", "active"] = "active"


@dataclass
class GenerationConfig:
    """Decoding settings; defaults are the release's MAD evaluation (docs/decoding.md)."""

    num_beams: int = 5
    repetition_penalty: float = 1.2
    no_repeat_ngram_size: int = 3
    # New tokens at most. The release's max_length=67 counts the BOS seed transformers
    # 4.32.1 puts in input_ids, so it writes at most 66.
    max_new_tokens: int = 66
    # "hf432": the beam/penalty rules transformers 4.32.1 applies to the release's MAD
    # arguments (BOS-seeded penalties, its finished-hypothesis heap and stopping rule);
    # "hf446": those of 4.46.3 (the release's CMD-AD/TV-AD code: the same heap, no seed);
    # "standard": transformers 5's rules, without its left-padding offset (uniad.model.decode).
    rules: Literal["hf432", "hf446", "standard"] = "hf432"
    batch_size: int = 8


@dataclass
class TrainConfig:
    """Optimisation (REFERENCE.md section 4)."""

    lr: float = 5e-5
    weight_decay: float = 0.0
    epochs: int = 10
    max_steps: int | None = None
    warmup_steps: int = 6000
    batch_size: int = 3
    grad_accum: int = 4
    grad_clip: float | None = None
    precision: str = "auto"  # "auto": bf16 on supporting GPUs, fp32 on CPU
    gradient_checkpointing: bool = False
    seed: int = 0
    num_workers: int = 0
    log_every: int = 10
    eval_every: int = 0
    save_every: int = 0
    keep_checkpoints: int = 2


@dataclass
class UniADConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


PRESETS = ("mad", "cmdad", "tvad", "demo")


def _merge(target: Any, values: dict[str, Any], where: str) -> None:
    """Set dataclass fields from a nested dict, refusing unknown keys by name."""
    known = {f.name: f for f in dataclasses.fields(target)}
    for key, value in values.items():
        if key not in known:
            raise UniADError(f"{where}: unknown setting '{key}' (known: {', '.join(known)})")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise UniADError(f"{where}: '{key}' must be a mapping")
            _merge(current, value, f"{where}.{key}")
        else:
            setattr(target, key, _as_field_type(known[key], value, f"{where}: '{key}'"))


def _as_field_type(spec: dataclasses.Field, value: Any, where: str) -> Any:
    """``value`` as a float where the field is a float.

    YAML 1.1 (PyYAML) reads ``1e-3`` as a string (only ``1.0e-3`` is a number), and a
    learning rate written either way must work; integers become floats too.
    """
    if "float" not in str(spec.type) or isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UniADError(f"{where} expects a number, got {value!r}") from None


def _parse_override(text: str) -> dict[str, Any]:
    """``model.num_latents=32`` -> ``{"model": {"num_latents": 32}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise UniADError(f"override '{text}' must look like section.key=value")
    dotted, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw else None
    out: dict[str, Any] = {}
    node = out
    parts = dotted.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def load_config(
    preset: str | None = None,
    path: str | Path | None = None,
    overrides: list[str] | None = None,
) -> UniADConfig:
    """Resolve defaults <- preset <- YAML file <- ``section.key=value`` overrides."""
    config = UniADConfig()
    if preset is not None:
        if preset not in PRESETS:
            raise UniADError(f"unknown preset '{preset}' (choose from {', '.join(PRESETS)})")
        text = resources.files("uniad.configs").joinpath(f"{preset}.yaml").read_text()
        _merge(config, yaml.safe_load(text) or {}, f"preset {preset}")
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UniADError(f"config file {p} does not exist")
        _merge(config, yaml.safe_load(p.read_text()) or {}, str(p))
    for item in overrides or []:
        _merge(config, _parse_override(item), f"override '{item}'")
    return config
