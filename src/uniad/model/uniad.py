"""The UniAD module: visual mappers + interleaved sequence + a LoRA-wrapped causal LM.

One code path for training, evaluation and narration: samples -> segments
(:class:`~uniad.model.sequence.SequenceBuilder`) -> mapper inputs
(:mod:`uniad.model.batch`) -> visual tokens -> :func:`~uniad.model.sequence.encode_batch`
-> the LLM. ``forward`` returns the loss, ``generate`` decodes through Hugging Face's
``generate`` (beam search, KV cache) instead of a hand-written loop.

Checkpoints follow the ``save_pretrained`` / ``from_pretrained`` convention and hold only
what training changes (adapters, mappers, placeholder embeddings) in safetensors, plus the
resolved config and the identity of the LLM they were trained on, which is checked on load;
a model told where its training features' CLIP folder is (:meth:`UniAD.bundle_visual_encoder`)
also carries a copy of that encoder, so narration needs nothing else.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from uniad.config import GenerationConfig, UniADConfig
from uniad.data.schema import Sample
from uniad.errors import UniADError
from uniad.io import write_json
from uniad.model.batch import gather_blocks
from uniad.model.decode import DecodeSettings, PrefilledLM, bucket_by_length, decode
from uniad.model.llm import (
    LoraShift, apply_lora, embedding_width, load_llm, norm_parameter_names, save_llm, text_decoder,
    vocab_size,
)
from uniad.model.paired import (
    TargetPositions, encode_paired, packed_calls, split_target, use_packed_attention,
)
from uniad.model.params import count_by_part, split_llm_parameters
from uniad.model.perceiver import build_mappers
from uniad.model.sequence import (
    IGNORE_INDEX,
    EncodedBatch,
    Segment,
    SequenceBuilder,
    VisualKey,
    encode_batch,
    sequence_length,
)

from uniad.model.folder import (  # the checkpoint folder contract, re-exported for callers
    CONFIG_FILE, ENCODER_DIR, LLM_DIR, LLM_FILE, WEIGHTS_FILE, bundled_encoder, check_llm,
    checkpoint_dir, read_config, read_identity, read_weights, tokenizer_identity,
    write_encoder_copy, write_safetensors,
)
KEPT_FROZEN = ("context_placeholder",)  # frozen weights a checkpoint still holds


def previous_ad(sample: Sample) -> str | None:
    """The nearest earlier AD (the contrastive negative), or None when the sample has none."""
    if sample.event.context and sample.event.context[0].text.strip():
        return sample.event.context[0].text
    return None


def active_hinge(margin: torch.Tensor) -> torch.Tensor:
    """``relu(margin).mean()`` built only from the positive margins.

    Where every margin is <= 0 the hinge is a constant zero with no graph, so backward
    skips the negative pass entirely (its gradient is zero anyway), as the release's
    Python ``max(0, x)`` does; ``F.relu`` would keep it in the graph and run backward
    through it for nothing (measured: a training step 0.91x the release's).
    """
    positive = margin > 0
    if not bool(positive.any()):
        return margin.new_zeros(())
    return margin[positive].sum() / margin.numel()


class UniAD(nn.Module):
    """Visual mappers + placeholder embeddings + a causal LM with LoRA adapters.

    ``llm`` is a plain causal LM (LoRA is applied here); without it the LLM named by
    ``config.model.llm`` is loaded. ``llm_spec`` records where the LLM came from (saved in
    ``llm.json``) when it differs from ``config.model.llm``.
    """

    def __init__(
        self,
        config: UniADConfig,
        llm: nn.Module | None = None,
        tokenizer=None,
        *,
        llm_spec: str | None = None,
    ) -> None:
        super().__init__()
        if llm is None:
            llm, tokenizer = load_llm(config.model.llm)
        self.config = config.validate()  # configs built in code meet the loaders' rules too
        self.llm_spec = llm_spec or config.model.llm
        self.tokenizer = tokenizer
        if config.model.attention == "eager":
            # The release's attention under its pinned torch (LAYOUT-cmdad-tvad pitfall 3).
            llm.set_attn_implementation("eager")
        self.llm = apply_lora(llm, config.model)
        # Size-only LLMs (llama2-7b on the meta device) come without a tokenizer: such a
        # model can be counted but not fed (see ``builder``).
        self._builder = SequenceBuilder(tokenizer, config.model) if tokenizer is not None else None
        embeddings = self.llm.get_input_embeddings().weight
        # New modules live where the LLM lives (the meta device for size-only models).
        with torch.device(embeddings.device):
            self.video_mapper, self.character_mapper = build_mappers(config.model, embedding_width(self.llm))
        # <video> and <v> embeddings (release: video/image_input_token_embedding), started at
        # the LLM's mean embedding. The mappers fill their input slots; they act as two
        # extra output logits tied to these vectors in the loss (model.placeholder_logits).
        mean = embeddings.detach().float().mean(0, keepdim=True)
        self.placeholders = nn.Parameter(mean.repeat(2, 1))
        if config.model.prompt == "cmdtv":
            # The CMD/TV release's <context> embedding: saved in its checkpoints but never
            # read (its slot reads the <unk> row, LAYOUT-cmdad-tvad pitfall 4). Frozen; kept
            # only so that export-release writes the file back unchanged.
            self.context_placeholder = nn.Parameter(mean.clone(), requires_grad=False)
        self.text_decoder = text_decoder(self.llm_spec, tokenizer) if tokenizer is not None else None
        # The CLIP folder save_pretrained copies into ENCODER_DIR (see bundle_visual_encoder).
        self.visual_encoder_folder: Path | None = None
        self._lora_shift = LoraShift()  # model.release_lora_train=shipped, while training
        self.apply_release_lora()

    @classmethod
    def build(
        cls,
        config: UniADConfig,
        corpus=None,
        *,
        dtype: torch.dtype | None = None,
        device: str | torch.device = "cpu",
        meta: bool = False,
        tokenizer=None,
    ) -> UniAD:
        """Load ``config.model.llm`` (``corpus`` trains the "tiny" tokenizer, unless the
        ``tokenizer`` loaded before is given) and wrap it."""
        llm, tokenizer = load_llm(config.model.llm, corpus=corpus, dtype=dtype, device=device,
                                  meta=meta, tokenizer=tokenizer)
        model = cls(config, llm, tokenizer)
        return model if meta else model.to(device)

    # -- building inputs --------------------------------------------------------------
    @property
    def builder(self) -> SequenceBuilder:
        if self._builder is None:
            raise UniADError(f"LLM '{self.llm_spec}' has no tokenizer: it can be inspected, not run")
        return self._builder

    @property
    def device(self) -> torch.device:
        return self.placeholders.device

    def visual_embeddings(
        self, samples: list[Sample], segment_lists: list[list[Segment]]
    ) -> list[dict[VisualKey, torch.Tensor]]:
        """Run both mappers once over the whole batch and route rows back to their slots."""
        visuals: list[dict[VisualKey, torch.Tensor]] = [{} for _ in samples]
        for kind, mapper in (("video", self.video_mapper), ("character", self.character_mapper)):
            blocks = gather_blocks(samples, segment_lists, kind)
            if blocks is None:
                continue
            out = mapper(blocks.values.to(self.device, self.placeholders.dtype), blocks.mask.to(self.device))
            for row, (b, seg) in enumerate(blocks.owners):
                visuals[b][(seg.kind, seg.index)] = out[row, : seg.num_tokens]
        return visuals

    def encode(
        self,
        segment_lists: list[list[Segment]],
        visuals: list[dict[VisualKey, torch.Tensor]],
    ) -> EncodedBatch:
        return encode_batch(segment_lists, self.tokenizer, self.llm.get_input_embeddings(), visuals)

    # -- loss -------------------------------------------------------------------------
    def _hidden(self, inputs_embeds, attention_mask, position_ids, **kwargs) -> torch.Tensor:
        decoder = self.llm.get_base_model().get_decoder()
        return decoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                       position_ids=position_ids, **kwargs).last_hidden_state

    def _scored_nll(self, hidden: torch.Tensor, where: TargetPositions,
                    size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample summed CE of ``where``'s tokens and their counts, ``(size,)`` each
        (default: one sample per row of ``hidden``).

        Logits are computed only at the scored positions (saves a (B, L, V) tensor); with
        ``placeholder_logits`` the two placeholder embeddings add two tied logits, as in
        the release.
        """
        h = hidden[where.rows, where.positions]
        logits = self.llm.get_base_model().get_output_embeddings()(h)
        if self.config.model.placeholder_logits:
            logits = torch.cat([logits, h @ self.placeholders.to(h.dtype).T], dim=-1)
        # at least float32 (bf16 logits lose the tail), float64 where the model runs in it
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        nll = F.cross_entropy(logits, where.tokens, reduction="none")
        size = hidden.shape[0] if size is None else size
        sums = torch.zeros(size, device=nll.device, dtype=nll.dtype).index_add(0, where.owners, nll)
        counts = torch.bincount(where.owners, minlength=size).to(nll.dtype)
        return sums, counts

    def _target_nll(self, batch: EncodedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_scored_nll` of a batch's labelled target (position t predicts token t+1)."""
        hidden = self._hidden(batch.inputs_embeds, batch.attention_mask, batch.position_ids)
        labels = batch.labels[:, 1:]
        rows, positions = (labels != IGNORE_INDEX).nonzero(as_tuple=True)
        return self._scored_nll(hidden, TargetPositions(rows, positions, labels[rows, positions]))

    def forward(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        """``loss`` = ``ce`` (token-averaged over the batch) + ``hinge`` (contrastive).

        The hinge ``max(0, CE_pos - CE_neg)`` scores the previous AD as target on the same
        prompt so the model does not simply repeat it; samples without a previous AD
        take no part (both CEs of the hinge are over the samples that have one; the
        release had one for every sample). Release: one hinge on batch-level CEs;
        ``contrastive_per_sample``: the mean of per-sample hinges (the paper's intent).
        ``model.negative_pass`` says whether the negative shares the positive's pass over
        the prompt (:mod:`uniad.model.paired`; the batch is then packed without padding,
        with negatives or without) or runs its own on a padded batch, as the release.
        ``margin`` (CE_pos - CE_neg, with its graph) is returned too, for logging.
        """
        cfg = self.config.model
        segments = [self.builder.build(s) for s in samples]
        visuals = self.visual_embeddings(samples, segments)
        negatives = [previous_ad(s) if cfg.contrastive_loss else None for s in samples]
        idx = [i for i, text in enumerate(negatives) if text is not None]
        if cfg.negative_pass == "shared":  # packed, negatives or not (no padding computed)
            pos_sum, pos_count, neg_sum, neg_count = self._shared_nll(segments, negatives, visuals)
            neg_sum, neg_count = neg_sum[idx], neg_count[idx]
        else:
            pos_sum, pos_count = self._target_nll(self.encode(segments, visuals))
            if idx:
                neg_segments = [self.builder.build(samples[i], target=negatives[i]) for i in idx]
                neg_sum, neg_count = self._target_nll(self.encode(neg_segments, [visuals[i] for i in idx]))
        ce = pos_sum.sum() / pos_count.sum()
        hinge = ce.new_zeros(())
        out: dict[str, torch.Tensor] = {}
        if idx:
            pos_sum, pos_count = pos_sum[idx], pos_count[idx]
            if cfg.contrastive_per_sample:
                margin = pos_sum / pos_count - neg_sum / neg_count
            else:
                margin = pos_sum.sum() / pos_count.sum() - neg_sum.sum() / neg_count.sum()
            hinge = active_hinge(margin)
            out["margin"] = margin
        out.update(loss=ce + hinge, ce=ce, hinge=hinge)
        return out

    def _shared_nll(self, segments: list[list[Segment]], negatives: list[str | None],
                    visuals: list[dict[VisualKey, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
        """Positive and negative per-sample CE sums and counts from one pass (see paired)."""
        prompts, positives = zip(*(split_target(s) for s in segments))
        negative_targets = [None if text is None else self.builder.target_segments(text)
                            for text in negatives]
        batch = encode_paired(prompts, positives, negative_targets, self.tokenizer,
                              self.llm.get_input_embeddings(), visuals)
        with packed_calls(self.llm.get_base_model().get_decoder(), batch) as packed:
            hidden = self._hidden(batch.inputs_embeds, batch.attention_mask, batch.position_ids, **packed)
        return (*self._scored_nll(hidden, batch.positive, batch.size),
                *self._scored_nll(hidden, batch.negative, batch.size))

    # -- generation -------------------------------------------------------------------
    def resolve_generation(self, generation: GenerationConfig | None = None, **overrides) -> GenerationConfig:
        """``generation`` (default: the config's) with ``overrides`` naming its fields
        (e.g. ``num_beams=1``, ``max_new_tokens=20``); an unknown name is an error."""
        names = [f.name for f in dataclasses.fields(GenerationConfig)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise UniADError(f"unknown generation setting(s): {', '.join(unknown)} "
                             f"(known: {', '.join(names)})")
        return dataclasses.replace(generation or self.config.generation, **overrides)

    def decode_settings(
        self, generation: GenerationConfig, banned: Sequence[Sequence[int]] = ()
    ) -> DecodeSettings:
        """What :mod:`uniad.model.decode` needs from ``generation`` and the tokenizer."""
        return DecodeSettings(
            banned=tuple(tuple(ids) for ids in banned if ids),
            num_beams=generation.num_beams, max_new_tokens=generation.max_new_tokens,
            repetition_penalty=generation.repetition_penalty,
            no_repeat_ngram_size=generation.no_repeat_ngram_size,
            eos_id=self.tokenizer.eos_token_id, bos_id=self.tokenizer.bos_token_id,
            rules=generation.rules,
        )

    @torch.no_grad()
    def generate_ids(
        self,
        samples: list[Sample],
        generation: GenerationConfig | None = None,
        *,
        bad_words_ids: Sequence[Sequence[int]] = (),
        **overrides,
    ) -> list[list[int]]:
        """New token ids per sample (without EOS), in the order of ``samples``.

        Samples are bucketed by prompt length into batches of ``generation.batch_size`` and
        decoded by :mod:`uniad.model.decode` (prefill once per sample, KV cache shared by
        the beams); the result does not depend on the batch size or the padding.
        ``overrides`` name GenerationConfig fields; ``bad_words_ids`` are token sequences
        never to complete (as transformers' option). Ids from the placeholder logit columns
        (``model.placeholder_logits``, as the release) are returned as ``V`` and ``V + 1``.
        """
        gen = self.resolve_generation(generation, **overrides)
        settings = self.decode_settings(gen, bad_words_ids)
        extra = self.placeholders if self.config.model.placeholder_logits else None
        # Only a model in training mode is switched (and switched back): a switch re-applies
        # every LoRA setting (~0.1 s on SmolLM2), and narration calls once per gap.
        was_training = self.training
        if was_training:
            self.eval()
        self.merge_lora_for_inference()
        segments = [self.builder.build(s, with_target=False) for s in samples]
        results: list[list[int]] = [[] for _ in samples]
        try:
            for group in bucket_by_length([sequence_length(s) for s in segments], gen.batch_size):
                chunk, chunk_segments = [samples[i] for i in group], [segments[i] for i in group]
                batch = self.encode(chunk_segments, self.visual_embeddings(chunk, chunk_segments))
                lm = PrefilledLM(self.llm.get_base_model(), extra)
                first = lm.prefill(batch.inputs_embeds, batch.attention_mask)
                for i, ids in zip(group, decode(lm, first, settings)):
                    results[i] = ids
        finally:
            if was_training:
                self.train()  # unmerges LoRA
        return results

    def decode_text(self, ids: list[list[int]]) -> list[str]:
        """Token ids -> text: placeholder ids (>= V) dropped (the release maps them to
        ``<unk>``, which decoding skips), special tokens skipped, SentencePiece decoding when
        the LLM folder has a ``tokenizer.model`` (as the release's slow LlamaTokenizer)."""
        vocab = vocab_size(self.llm)
        kept = [[t for t in row if t < vocab] for row in ids]
        return [t.strip() for t in self.text_decoder(kept)]

    def generate(
        self, samples: list[Sample], generation: GenerationConfig | None = None, **options
    ) -> list[str]:
        """One AD per sample (see :meth:`generate_ids` for ``options``)."""
        return self.decode_text(self.generate_ids(samples, generation, **options))

    # -- LoRA at inference ----------------------------------------------------------------
    def apply_release_lora(self) -> None:
        """``model.release_lora``: ``shipped`` switches the adapters off (the release's
        evaluation never applies a checkpoint's LoRA; see docs/reproduce.md), ``active``
        uses them. The weights stay in the model either way, so export keeps them."""
        # peft's enable/disable also mark the adapters trainable: keep what the recipe set.
        if self.config.model.release_lora == "shipped":
            self.unmerge_lora()
        self._set_adapters(self.config.model.release_lora == "active")

    def _set_adapters(self, enabled: bool) -> None:
        """peft's enable/disable, keeping which adapters train as the recipe set them."""
        lora = {name: p.requires_grad for name, p in self.llm.named_parameters() if "lora_" in name}
        if enabled:
            self.llm.base_model.enable_adapter_layers()
        else:
            self.llm.base_model.disable_adapter_layers()
        for name, p in self.llm.named_parameters():
            if name in lora:
                p.requires_grad_(lora[name])

    @property
    def lora_merged(self) -> bool:
        return any(getattr(m, "merged", False) for m in self.llm.modules() if hasattr(m, "merged_adapters"))

    def merge_lora_for_inference(self) -> None:
        """Fold active, frozen LoRA into the base weights (peft's merge): the adapters then
        cost nothing per token (measured: about 9% of a decode step unmerged). Training
        LoRA stays unmerged; :meth:`unmerge_lora` undoes it before training."""
        lora_trains = any(p.requires_grad for n, p in self.llm.named_parameters() if "lora_" in n)
        if self.config.model.release_lora == "active" and not lora_trains and not self.lora_merged:
            self.llm.merge_adapter()

    def unmerge_lora(self) -> None:
        if self.lora_merged:
            self.llm.unmerge_adapter()

    def train(self, mode: bool = True) -> UniAD:
        """``nn.Module.train``, also taking merged LoRA back out of the base weights and
        switching the LoRA arithmetic between training (``model.release_lora_train``) and
        evaluation (``model.release_lora``)."""
        if mode:
            self.unmerge_lora()
        super().train(mode)
        use_packed_attention(self.llm.config, mode)
        if mode and self.config.model.release_lora_train == "shipped":
            self._lora_shift.subtract(self.llm)
        else:
            self._lora_shift.restore(self.llm)
        if mode:
            self._set_adapters(True)  # training always runs the adapters (with their dropout)
        else:
            self.apply_release_lora()
        return self

    # -- checkpoints ------------------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds: parameters that train, plus LoRA weights even if frozen
        (the release's MAD recipe freezes LoRA, but a checkpoint must still restore it)."""
        keep_norms = self.config.model.keep_norms
        norms = {f"llm.{name}" for name in norm_parameter_names(self.llm)} if keep_norms else set()
        return {
            name: p.detach()
            for name, p in self.named_parameters()
            if p.requires_grad or "lora_" in name or name in KEPT_FROZEN or name in norms
        }

    def llm_identity(self) -> dict:
        return {
            "llm": self.llm_spec,
            "hidden_size": embedding_width(self.llm),
            "vocab_size": vocab_size(self.llm),
            **tokenizer_identity(self.tokenizer),
        }

    def bundle_visual_encoder(self, folder: str | Path) -> None:
        """Have every :meth:`save_pretrained` folder carry a copy of ``folder``, the local
        CLIP model folder the training features came from (``visual_encoder/``, under the
        name ``model.visual_encoder`` recorded). The trainer's caller knows the folder
        (a rendered world's ``encoder/``); the model only copies it, so a checkpoint trained
        on an encoder no one else has is self-contained. Checked here, before training, so
        a wrong folder costs nothing."""
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise UniADError(f"{folder}: not a CLIP model folder (no config.json), so it "
                             "cannot travel with the checkpoint")
        if not self.config.model.visual_encoder:
            raise UniADError(f"{folder}: model.visual_encoder records no encoder name, so the "
                             "copy could not be matched to the features trained on")
        self.visual_encoder_folder = folder

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.yaml``, ``model.safetensors`` (trainable weights) and ``llm.json``;
        a random "tiny" LLM is saved too (``llm/``), since nothing else could rebuild it,
        and so is a bundled visual encoder (``visual_encoder/``)."""
        self.unmerge_lora()  # the base weights must be saved without the adapters folded in
        with self._lora_shift.lifted(self.llm):  # ... and without the training shift
            return self._save(Path(directory))

    def _save(self, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out / CONFIG_FILE)
        state = {k: v.contiguous().cpu() for k, v in self.trainable_state_dict().items()}
        write_safetensors(out / WEIGHTS_FILE, state)
        identity = self.llm_identity()
        if self.llm_spec == "tiny":
            # unload() strips the adapters; on a copy, so this model keeps its own.
            save_llm(copy.deepcopy(self.llm).unload(), self.tokenizer, out / LLM_DIR)
            identity["saved_in"] = LLM_DIR
        if self.visual_encoder_folder is not None:
            write_encoder_copy(self.visual_encoder_folder, out / ENCODER_DIR,
                               self.config.model.visual_encoder)
        write_json(out / LLM_FILE, identity)
        return out

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        llm: str | None = None,
        *,
        dtype: torch.dtype | None = None,
        device: str | torch.device = "cpu",
    ) -> UniAD:
        """Rebuild from a ``save_pretrained`` folder; ``llm`` replaces the recorded LLM spec.
        The model comes back in evaluation mode, as transformers' ``from_pretrained`` does
        (dropout off; frozen LoRA is merged by the first generation and stays merged); call
        ``model.train()`` before training it.

        Loading is strict: missing or unexpected weights, a shape mismatch, or an LLM whose
        hidden size or vocabulary differs from the one trained on raise :class:`UniADError`.
        """
        folder = checkpoint_dir(directory)
        config, identity = read_config(folder), read_identity(folder)
        weights = read_weights(folder)
        spec = llm or (str(folder / identity["saved_in"]) if "saved_in" in identity else identity["llm"])
        base, tokenizer = load_llm(spec, dtype=dtype, device=device)
        check_llm(folder, identity, spec, embedding_width(base), vocab_size(base), tokenizer)
        model = cls(config, base, tokenizer, llm_spec=identity["llm"] if llm is None else llm).to(device)
        model.load_trainable(weights, source=str(folder / WEIGHTS_FILE))
        model.visual_encoder_folder = bundled_encoder(folder)  # kept by a later save too
        return model.eval()

    def load_trainable(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """Load a :meth:`trainable_state_dict`; every key and shape must match exactly."""
        expected = self.trainable_state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
        problems = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                shown = ", ".join(keys[:10]) + (f" (+{len(keys) - 10} more)" if len(keys) > 10 else "")
                problems.append(f"{len(keys)} {label} key(s): {shown}")
        if problems:
            raise UniADError(f"{source}: weights do not match this model: " + "; ".join(problems))
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)

    # -- reporting ----------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, dict[str, int]]:
        """``{part: {total, trainable, frozen}}`` for the LLM base, LoRA, both mappers and the
        placeholder embeddings, plus ``"all"``: shows where the trainable weights are."""
        llm_parts = split_llm_parameters(self.llm)
        return count_by_part(
            {
                "llm": llm_parts["llm"],
                "lora": llm_parts["lora"],
                "video_mapper": self.video_mapper,
                "character_mapper": self.character_mapper,
                "new_embeddings": [self.placeholders,
                                   *(getattr(self, n) for n in KEPT_FROZEN if hasattr(self, n))],
            }
        )
