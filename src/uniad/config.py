"""Configuration: dataclasses whose defaults match the paper's release, YAML presets on top.

Resolution order: dataclass defaults (the release's MAD settings, REFERENCE.md) <- a
preset (``mad``, ``cmdad``, ``tvad``, ``demo`` in ``uniad/configs``) <- a user YAML file
<- command-line overrides (``section.key=value``). Every run writes the resolved config
next to its outputs so that a result can always be traced to its settings.

The annotations are the contract: every value, from any source, is converted to its
field's type (``Literal`` choices, ``int``/``float``/``bool``, ``X | None``, lists) and
checked against the field's :class:`Range` by :func:`coerce`, so a field added later is
validated without touching this machinery; rules that tie fields together live in
:meth:`UniADConfig.validate`. A bad value is a :class:`ConfigError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

import yaml

from uniad.errors import ConfigError


class RangeError(ConfigError):
    """A value of its field's type outside the field's :class:`Range`."""


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric field, attached as ``Annotated[int, Range(1)]``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: ``low`` itself is refused

    def check(self, value: float, where: str) -> None:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise RangeError(f"{where} must be {'>' if self.low_open else '>='} "
                              f"{_number(self.low)}, got {value!r}")
        if self.high is not None and value > self.high:
            raise RangeError(f"{where} must be <= {_number(self.high)}, got {value!r}")


T = typing.TypeVar("T")
AtLeast0 = Annotated[T, Range(0)]
AtLeast1 = Annotated[T, Range(1)]
Positive = Annotated[T, Range(0, low_open=True)]
Fraction = Annotated[T, Range(0, 1)]
Sampling = Literal["tsn", "linspace", "linspace_pad", "all"]


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# The parts of a UniAD checkpoint a training run can start from (``train.init_parts``).
INIT_PARTS = ("lora", "norm", "video_mapper", "character_mapper", "placeholders")


@dataclass
class DataConfig:
    """How annotations + features become samples (REFERENCE.md section 2)."""

    fps: Positive[float] = 5.0
    video_length: AtLeast1[int] = 8  # frames sampled per clip
    # "tsn": one random frame from each of video_length segments (release training);
    # "linspace": evenly spaced frames (release MAD evaluation); "linspace_pad": the same,
    # zero-padded when the clip is shorter (release CMD-AD/TV-AD); "all": every frame.
    train_sampling: Sampling = "tsn"
    eval_sampling: Sampling = "linspace"
    # "release" rounds times to whole seconds before converting to frames, as the
    # release does (up to 0.5 s of drift); "exact" uses the frame at each time.
    time_rounding: Literal["exact", "release"] = "exact"
    previous_clips: AtLeast0[int] = 1  # previous clips given as video (release: 1)
    context_ads: AtLeast0[int] = 0  # previous ADs given as text (release: 0 [code != paper]; paper: 1)
    # Which character list feeds the prompt: "auto" follows the release (MAD train:
    # named_candidates, an oracle list; eval: refined), "recognised" (refined when the
    # file has it, else candidates: no answer key), or "refined", "candidates",
    # "named_candidates".
    character_source: Literal["auto", "recognised", "refined", "candidates",
                              "named_candidates"] = "auto"
    character_threshold: float | None = None  # keep candidates scoring >= this (paper: 0.5)
    max_characters: AtLeast0[int] | None = None  # top-k by score after the threshold (release: no cap)
    max_ad_tokens: AtLeast1[int] = 51  # training drops ADs longer than this (release: 51)
    drop_without_context: bool = False  # release drops TV/CMD samples with no previous AD
    # "release": the CMD-AD/TV-AD loader's skip list: characters without ``char_in_ad`` or
    # whose ``char_in_ad`` is a pronoun or function word ("He", "The", ...); "none": keep all.
    character_filter: Literal["none", "release"] = "none"


@dataclass
class ModelConfig:
    """The UniAD model (REFERENCE.md section 3). Defaults: the release's MAD model."""

    llm: str = "llama2-7b"  # a folder, "smollm2", "tiny" or "llama2-7b" (meta device)
    feature_dim: AtLeast1[int] = 768
    # "perceiver" (MAD); "qformer" (CMD-AD/TV-AD: Video-LLaMA's video Q-Former over the
    # frames' Q-Former tokens, characters mapped token by token); "linear" (a Perceiver video
    # tower over Q-Former tokens, characters mapped token by token).
    mapper: Literal["perceiver", "linear", "qformer"] = "perceiver"
    num_latents: AtLeast1[int] = 30  # video tokens per clip group
    num_char_tokens: AtLeast1[int] = 30  # tokens per character
    perceiver_depth: AtLeast1[int] = 2
    perceiver_head_dim: AtLeast1[int] = 128
    # Scale of the Perceivers' initial latents. The release draws them from N(0, 1): at an
    # LLM's width their norm (~24 at 576) dwarfs what the frames add (~4), and a short run
    # cannot unlearn that constant (Adam moves each entry ~lr per step). Smaller latents let
    # the frames dominate the video tokens from the first step (the demo: 0.1).
    perceiver_latent_std: Positive[float] = 1.0
    max_frames: AtLeast1[int] = 58  # size of the temporal position table (qformer: frame positions)
    # The video Q-Former (mapper "qformer"): bert-base layers at width feature_dim.
    qformer_layers: AtLeast1[int] = 2
    qformer_heads: AtLeast1[int] = 12
    qformer_intermediate: AtLeast1[int] = 3072
    split_previous_video: bool = False  # compress each clip separately (if_video_split)
    use_characters: bool = True
    use_context_ads: bool = True  # only matters when data.context_ads > 0
    use_previous_video: bool = True
    # Narration: the text read on screen (OCR) as a prompt line before "Describe". Off by
    # default: the release checkpoints never saw that line (a departure from the release).
    use_screen_text: bool = False
    prompt_style: Literal["release", "plain"] = "release"  # "release": per-fragment tokenisation; "plain"
    # Which release prompt: "mad" ("Possible characters:" ... "Describe " <video> ":") or
    # "cmdtv" (CMD-AD/TV-AD: "Possible characters :", "; "/". " separators, a trailing
    # <context> slot); see uniad.model.sequence.
    prompt: Literal["mad", "cmdtv"] = "mad"
    # The cmdtv prompt's <context> slot. "release": the release's no-op (the slot reads the
    # <unk> row, the previous AD is unused); "text": no slot, the previous AD is given as
    # text as on MAD (with data.context_ads >= 1).
    context_mode: Literal["release", "text"] = "release"
    # How a listed character reads. "played_by": "<role> played by <actor>" (the release's
    # char_prompt_type 0); "role": the role alone, about 6 positions fewer per character,
    # for casts whose actors' names no AD says (the demo: a step ~16 % shorter on 1 core).
    character_line: Literal["played_by", "role"] = "played_by"
    # How each previous AD reads (data.context_ads >= 1; the release reads none).
    # "labelled": 'Previous AD: "<text>"' each; "quoted": '"<text>"', 3 positions fewer per AD.
    context_line: Literal["labelled", "quoted"] = "labelled"
    # LLM attention kernel. "eager" is what the release ran under its pinned torch 2.0.1
    # (causal, LAYOUT-cmdad-tvad pitfall 3); "default" lets transformers pick (SDPA).
    attention: Literal["default", "eager"] = "default"
    lora_r: AtLeast1[int] = 16
    lora_alpha: AtLeast1[int] = 16
    lora_dropout: Fraction[float] = 0.05
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
    # The LoRA arithmetic of training. "shipped": the release's train-mode forward
    # (W - B0A0)x + B A dropout(x): loralib merged the still-zero LoRA at load time, then
    # ``model.train()`` unmerged by subtracting B0A0, the LoRA the weights held when training
    # mode began (the AD-pretrained one of ``--init``), from the frozen weight. "active":
    # W x + B A dropout(x), as the paper describes. Evaluation follows ``release_lora``.
    release_lora_train: Literal["shipped", "active"] = "active"
    # The contrastive negative pass. "shared": one forward over the prompt and both targets
    # (a 4D mask keeps each target to the prompt and itself), equal in loss and gradients to
    # the release's two passes when no dropout acts, the batch packed without padding (also
    # where no sample has a negative); "separate": the release's padded batch and its second
    # full forward with the previous AD as target (with LoRA dropout, each pass draws its
    # own mask on the prompt, as the release does).
    negative_pass: Literal["shared", "separate"] = "shared"
    # Save the LLM's RMSNorm weights in checkpoints even where they do not train: ``--init``
    # placed them (the release's AD-pretrained norms), and the run must keep them.
    keep_norms: bool = False


@dataclass
class GenerationConfig:
    """Decoding settings; defaults are the release's MAD evaluation (docs/decoding.md)."""

    num_beams: AtLeast1[int] = 5
    repetition_penalty: Positive[float] = 1.2
    no_repeat_ngram_size: AtLeast0[int] = 3  # 0: off
    # New tokens at most. The release's max_length=67 counts the BOS seed transformers
    # 4.32.1 puts in input_ids, so it writes at most 66.
    max_new_tokens: AtLeast1[int] = 66
    # "hf432": the beam/penalty rules transformers 4.32.1 applies to the release's MAD
    # arguments (BOS-seeded penalties, its finished-hypothesis heap and stopping rule);
    # "hf446": those of 4.46.3 (the release's CMD-AD/TV-AD code: the same heap, no seed);
    # "standard": transformers 5's rules, without its left-padding offset (uniad.model.decode).
    rules: Literal["hf432", "hf446", "standard"] = "hf432"
    batch_size: AtLeast1[int] = 8


@dataclass
class TrainConfig:
    """Optimisation (REFERENCE.md section 4)."""

    lr: Positive[float] = 5e-5
    weight_decay: AtLeast0[float] = 0.0
    epochs: AtLeast1[int] = 10
    max_steps: AtLeast1[int] | None = None
    warmup_steps: AtLeast0[int] = 6000
    batch_size: AtLeast1[int] = 3
    grad_accum: AtLeast1[int] = 4
    grad_clip: Positive[float] | None = None
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # "auto": bf16 on supporting GPUs, fp32 on CPU
    gradient_checkpointing: bool = False
    seed: AtLeast0[int] = 0
    num_workers: AtLeast0[int] = 0
    log_every: AtLeast1[int] = 10
    eval_every: AtLeast0[int] = 0
    save_every: AtLeast0[int] = 0
    keep_checkpoints: AtLeast1[int] = 2
    # Full batches only, as the release's training loader (drop_last=True); false keeps an
    # epoch's last, smaller batch (small data such as the demo's).
    drop_last: bool = True
    # What ``uniad train --init SOURCE`` may fill (a key of another part is refused by name):
    # lora, norm (the LLM's RMSNorm weights), video_mapper, character_mapper, placeholders.
    init_parts: list[str] = field(default_factory=lambda: list(INIT_PARTS))


@dataclass
class NarrateConfig:
    """``uniad narrate``'s settings of the UniAD describer (flags of the same names); the
    timing, voice and gap settings are :class:`NarrationConfig`.

    ``fps`` None follows the checkpoint's ``data.fps``: features must be decoded at the
    rate the model was trained on, so there is no second default to drift from it.
    """

    fps: Positive[float] | None = field(
        default=None, metadata={"help": "frame rate of the features (default: the checkpoint's data.fps)"})
    max_characters: AtLeast1[int] | None = field(
        default=None, metadata={"help": "give the model only the K cast members whose photo is most "
                                        "similar to the slot (default: the whole cast)"})


def _flag(name: str, help_text: str, **more: Any) -> dict[str, Any]:
    """Field metadata: the flag a user types for it (when not ``--field-name``) and its help."""
    return {"flag": name, "help": help_text, **more}


@dataclass(frozen=True)
class NarrationConfig:
    """How gaps are found, how fast descriptions are planned and how speech is fitted
    (``uniad narrate`` and ``uniad render``; ``ad.json`` records it). Defaults follow
    practitioners' tools (gaps >= 1.2 s from speech padded by 0.15 s, +20 % faster
    synthesis, ``atempo`` <= 1.15x, 10 dB ducking) and the REFRAMED realism rule (< 300
    words per minute, planned at 180). Fields marked ``gaps`` only matter where gaps are
    found (not in ``uniad render``, whose gaps are the edited cues')."""

    gap_source: Literal["vad", "energy"] = field(default="vad", metadata=_flag(
        "--gaps", "speech spans from voice activity (webrtcvad) or from loudness", gaps=True))
    vad_aggressiveness: Annotated[int, Range(0, 3)] = field(default=2, metadata=_flag(
        "--vad-aggressiveness", "webrtcvad mode: 0 (keeps most audio as speech) .. 3", gaps=True))
    pad_s: Annotated[float, Range(0, 2)] = field(default=0.15, metadata=_flag(
        "--pad", "seconds kept free around each dialogue span", gaps=True))
    min_gap_s: Annotated[float, Range(0.3, 30)] = field(default=1.2, metadata=_flag(
        "--min-gap", "shortest dialogue gap that gets a description (seconds)", gaps=True))
    max_len_s: Annotated[float, Range(1, 120)] = field(default=8.0, metadata=_flag(
        "--max-len", "longer gaps are split into pieces of at most this length (seconds)",
        gaps=True))
    split_at_cuts: bool = field(default=True, metadata=_flag(
        "--no-cut-split", "do not split gaps at shot cuts", gaps=True))
    cut_threshold: Annotated[float, Range(0.01, 1)] = field(default=0.3, metadata=_flag(
        "--cut-threshold", "mean absolute frame difference (0..1) that makes a shot cut",
        gaps=True))
    plan_wpm: Annotated[float, Range(60, 299)] = field(default=180.0, metadata=_flag(
        "--wpm", "words (PTB tokens) per minute descriptions are planned at (the realism "
        "rule allows under 300)"))
    voice: Literal["piper", "espeak"] = field(default="piper", metadata=_flag(
        "--voice", "piper: offline neural voice; espeak: espeak-ng"))
    max_rate_gain: Annotated[float, Range(0, 0.5)] = field(default=0.20, metadata=_flag(
        "--max-rate-gain", "re-synthesis up to this much faster to fit a gap"))
    max_tempo: Annotated[float, Range(1, 2)] = field(default=1.15, metadata=_flag(
        "--max-tempo", "then ffmpeg atempo up to this factor"))
    duck_db: Annotated[float, Range(0, 40)] = field(default=10.0, metadata=_flag(
        "--duck-db", "how far the soundtrack dips under a description (dB)"))
    extended: bool = field(default=False, metadata=_flag(
        "--extended", "also write an extended video, paused where a description needs more "
        "time than its gap"))

    def validate(self, name: Callable[[str], str] | None = None) -> NarrationConfig:
        """Fields against their annotations, then ``min_gap_s <= max_len_s``; ``name``
        turns a field into the words the user knows it by (a flag, a setting)."""
        check_section(self, "narration", name)
        name = name or (lambda f: f"narration.{f}")
        if self.min_gap_s > self.max_len_s:
            raise ConfigError(f"{name('min_gap_s')} {self.min_gap_s:g} must not exceed "
                              f"{name('max_len_s')} {self.max_len_s:g} (no gap could be used)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ScreenTextConfig:
    """On-screen text (Tesseract OCR): read it out in gaps (``cues``), tell the describer
    (``context``; UniAD only with ``model.use_screen_text``), or both."""

    read_text: Literal["off", "cues", "context", "both"] = field(default="off", metadata={
        "help": "what on-screen text does: read out in gaps (cues), told to the describer "
                "(context), both, or off"})
    ocr_languages: str = field(default="eng", metadata={
        "help": "Tesseract languages, e.g. eng+fra (apt install tesseract-ocr-fra)"})
    ocr_fps: Annotated[float, Range(0, 30, low_open=True)] = field(default=1.0, metadata={
        "help": "frames per second read by OCR"})
    ocr_min_confidence: Annotated[float, Range(0, 100)] = field(default=60.0, metadata={
        "help": "drop OCR words below this Tesseract confidence (0-100)"})

    def validate(self, name: Callable[[str], str] | None = None) -> ScreenTextConfig:
        check_section(self, "screen_text", name)
        name = name or (lambda f: f"screen_text.{f}")
        if not all(part.strip() for part in self.ocr_languages.split("+")):
            raise ConfigError(f"{name('ocr_languages')} {self.ocr_languages!r}: expected "
                              "Tesseract language codes joined by +, e.g. eng+fra")
        return self


@dataclass(frozen=True)
class DescriberConfig:
    """Who writes the ADs (``uniad narrate`` and ``uniad evaluate``): the UniAD checkpoint,
    a local image-text-to-text model folder (``vlm:FOLDER``) or an OpenAI-compatible
    server (``openai:URL``), and the settings of the last two."""

    describer: str = field(default="uniad", metadata={
        "metavar": "uniad|vlm:FOLDER|openai:URL",
        "help": "who writes the ADs: the UniAD --checkpoint, a local image-text-to-text model "
                "folder (Qwen2.5-VL, SmolVLM, ...), or an OpenAI-compatible server, e.g. "
                "openai:http://127.0.0.1:8000/v1"})
    describer_model: str | None = field(default=None, metadata={
        "help": "model name sent to an openai: server (default: $UNIAD_OPENAI_MODEL)"})
    api_key: str | None = field(default=None, metadata={
        "help": "key for an openai: server (default: $OPENAI_API_KEY; local servers need none)"})
    frames_per_slot: AtLeast1[int] = field(default=4, metadata={
        "help": "frames a vlm:/openai: describer sees per slot"})
    portraits: bool = field(default=True, metadata=_flag(
        "--no-portraits", "do not send cast photos to a vlm:/openai: describer (for servers "
        "that accept few images per request); names are still given"))

    @property
    def kind(self) -> str:
        return self.describer.partition(":")[0]

    @property
    def target(self) -> str | None:
        return self.describer.partition(":")[2] or None

    def validate(self, name: Callable[[str], str] | None = None) -> DescriberConfig:
        check_section(self, "describer", name)
        name = name or (lambda f: f"describer.{f}")
        kind, target = self.kind, self.target
        if not ((kind == "uniad" and not target) or (kind in ("vlm", "openai") and target)):
            raise ConfigError(f"{name('describer')} {self.describer!r}: expected uniad, "
                              "vlm:MODEL_FOLDER or openai:URL (e.g. openai:http://127.0.0.1:8000/v1)")
        return self


@dataclass
class UniADConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    narrate: NarrateConfig = field(default_factory=NarrateConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        from uniad.io import write_text  # io imports nothing of ours; late only to keep config light

        write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    def validate(self) -> UniADConfig:
        """Check every field against its annotation, then the rules between fields.

        Values set in code (not only parsed ones) go through the same check, so a build
        never starts from a setting the loaders would have refused.
        """
        for section in dataclasses.fields(self):
            if dataclasses.is_dataclass(getattr(self, section.name)):
                check_section(getattr(self, section.name), section.name)
        data, model = self.data, self.model
        if model.mapper == "perceiver" and not model.split_previous_video and "all" not in (
            data.train_sampling, data.eval_sampling
        ):
            frames = data.video_length * (data.previous_clips + 1)
            if frames > model.max_frames:
                raise ConfigError(
                    f"data.video_length x (data.previous_clips + 1) = {frames} frames exceed "
                    f"the temporal position table (model.max_frames={model.max_frames}); "
                    "lower one of them, or set model.split_previous_video=true")
        unknown = sorted(set(self.train.init_parts) - set(INIT_PARTS))
        if unknown:
            raise ConfigError(f"train.init_parts: unknown part(s) {', '.join(unknown)} "
                              f"(known: {', '.join(INIT_PARTS)})")
        if model.release_lora_train == "shipped" and model.train_llm:
            raise ConfigError("model.release_lora_train=shipped subtracts the initial LoRA from "
                              "frozen base weights; it cannot go with model.train_llm=true "
                              "(set model.release_lora_train=active)")
        if model.split_previous_video and data.video_length > model.max_frames:
            raise ConfigError(f"data.video_length={data.video_length} exceeds "
                              f"model.max_frames={model.max_frames}")
        return self


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def check_section(section: Any, where: str, name: Callable[[str], str] | None = None) -> None:
    """Re-coerce every field of ``section`` in place (a no-op for valid values); for a
    section built in code rather than loaded (datasets check theirs with it). Messages
    call a field ``name(field)`` (default ``where.field``)."""
    hints = _hints(type(section))
    for spec in dataclasses.fields(section):
        value = getattr(section, spec.name)
        if value == _default(spec):
            continue  # the class's own default is its author's word, not an input to check
        label = name(spec.name) if name is not None else f"{where}.{spec.name}"
        object.__setattr__(section, spec.name, coerce(value, hints[spec.name], label))


def _default(spec: dataclasses.Field) -> Any:
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return dataclasses.MISSING


_NONE = type(None)


def _describe_type(hint: Any) -> str:
    """Words for a type annotation, for messages (``an integer >= 1 or none``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        bounds = [m for m in hint.__metadata__ if isinstance(m, Range)]
        words = _describe_type(args[0])
        for r in bounds:
            if r.low is not None:
                words += f" {'>' if r.low_open else '>='} {_number(r.low)}"
            if r.high is not None:
                words += f" <= {_number(r.high)}"
        return words
    if origin in (Union, types.UnionType):
        return " or ".join(_describe_type(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is list:
        return f"a list of {_describe_type(args[0])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "text",
            _NONE: "none"}.get(hint, getattr(hint, "__name__", str(hint)))


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to the annotated type ``hint``, or a ConfigError naming ``where``.

    Strings are accepted for numbers (PyYAML reads ``1e-3`` as text) but never for
    booleans (``maybe`` is not a switch); an integer field refuses ``2.5``; a float field
    refuses NaN and infinity; ``Range`` metadata bounds the result.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        result = coerce(value, args[0], where)
        for meta in hint.__metadata__:
            if isinstance(meta, Range) and result is not None:
                meta.check(result, where)
        return result
    if origin in (Union, types.UnionType):
        if value is None and _NONE in args:
            return None
        for option in args:
            if option is _NONE:
                continue
            try:
                return coerce(value, option, where)
            except RangeError:
                raise  # the type fits, the value does not: say that, not "expected X"
            except ConfigError:
                pass
        raise ConfigError(f"{where} expects {_describe_type(hint)}, got {value!r}")
    if origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be one of {', '.join(map(str, args))}, got {value!r}")
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} expects {_describe_type(hint)}, got {value!r}")
        return [coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} expects true or false, got {value!r}")
    if hint is int:
        return _as_int(value, where)
    if hint is float:
        return _as_float(value, where)
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # a folder or model name YAML happened to read as a number
        raise ConfigError(f"{where} expects text, got {value!r}")
    return value  # an annotation with no converter here (a class of its own) is kept as given


_INT64 = 2**63  # settings reach torch and numpy, whose integers are 64-bit


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where} expects an integer, got {value!r}")
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            pass
    if number is None:
        raise ConfigError(f"{where} expects an integer, got {value!r:.60}")
    if not -_INT64 <= number < _INT64:
        raise ConfigError(f"{where} must be a 64-bit integer (|value| < 2**63), got one of "
                          f"about {int(abs(number).bit_length() * 0.30103)} digits")
    return number


def _as_float(value: Any, where: str) -> float:
    """YAML 1.1 (PyYAML) reads ``1e-3`` as a string (only ``1.0e-3`` is a number), and a
    learning rate written either way must work; integers become floats too."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} expects a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where} expects a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where} expects a finite number, got {value!r}")
    return number


PRESETS = ("mad", "cmdad", "tvad", "demo")


def _merge(target: Any, values: Any, source: str, section: str = "") -> None:
    """Set dataclass fields from a nested dict, each converted by :func:`coerce`;
    messages name the ``source`` (preset, file, override) and the setting."""
    where = f"{source}: section '{section}'" if section else source
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(target)}
    hints = _hints(type(target))
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown setting '{key}' (known: {', '.join(known)})")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{key}' must be a mapping of settings")
            _merge(current, value, source, key)
        else:
            setattr(target, key, coerce(value, hints[key], f"{source}: {section} setting '{key}'"))


def _parse_override(text: str) -> dict[str, Any]:
    """``model.num_latents=32`` -> ``{"model": {"num_latents": 32}}`` (value parsed as YAML)."""
    dotted, _, raw = text.partition("=")
    parts = dotted.strip().split(".")
    if "=" not in text or len(parts) != 2 or not all(parts):
        raise ConfigError(f"override '{text}' must look like section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw  # not YAML: the field's converter decides what text means
    return {parts[0]: {parts[1]: value}}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; unreadable or malformed files are ConfigErrors."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {p} cannot be read: {err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {p} is not valid YAML{at}: "
                          f"{getattr(err, 'problem', None) or err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of sections, got "
                          f"{type(data).__name__}")
    return data


def load_config(
    preset: str | None = None,
    path: str | Path | None = None,
    overrides: list[str] | None = None,
) -> UniADConfig:
    """Resolve defaults <- preset <- YAML file <- ``section.key=value`` overrides, then
    :meth:`UniADConfig.validate` the result."""
    config = UniADConfig()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset '{preset}' (choose from {', '.join(PRESETS)})")
        text = resources.files("uniad.configs").joinpath(f"{preset}.yaml").read_text()
        _merge(config, yaml.safe_load(text) or {}, f"preset {preset}")
    if path is not None:
        _merge(config, read_yaml(path), str(path))
    for item in overrides or []:
        _merge(config, _parse_override(item), f"override '{item}'")
    return config.validate()


@dataclass(frozen=True)
class Flag:
    """A config field as a command-line flag: the one place where settings become flags
    (``ocr_fps`` -> ``--ocr-fps``, or the field's ``metadata["flag"]``)."""

    flag: str
    field: str
    hint: Any
    default: Any
    help: str
    metavar: str | None = None

    @property
    def switch(self) -> bool:
        """A boolean field is a switch: ``--extended`` turns on, ``--no-portraits`` off."""
        return self.hint is bool

    @property
    def choices(self) -> tuple[Any, ...] | None:
        return typing.get_args(self.hint) if typing.get_origin(self.hint) is Literal else None


def section_flags(cls: type) -> list[Flag]:
    """The :class:`Flag` of each field of the config section ``cls``."""
    hints = _hints(cls)
    out = []
    for spec in dataclasses.fields(cls):
        default = _default(spec)
        default = None if default is dataclasses.MISSING else default
        words = spec.metadata.get("help", spec.name.replace("_", " "))
        hint = hints[spec.name]
        shown = "" if hint is bool else f" [{_describe_type(hint)}; default {default}]"
        out.append(Flag(spec.metadata.get("flag", f"--{spec.name.replace('_', '-')}"),
                        spec.name, hint, default, words + shown, spec.metadata.get("metavar")))
    return out


def flag_names(cls: type) -> Callable[[str], str]:
    """Field name -> the flag a user types for it (for messages)."""
    flags = {f.field: f.flag for f in section_flags(cls)}
    return lambda name: flags.get(name, name)
