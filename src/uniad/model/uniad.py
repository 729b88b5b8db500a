"""The UniAD module: visual mappers + interleaved sequence + a LoRA-wrapped causal LM.

One code path for training, evaluation and narration: samples -> segments
(:class:`~uniad.model.sequence.SequenceBuilder`) -> mapper inputs
(:mod:`uniad.model.batch`) -> visual tokens -> :func:`~uniad.model.sequence.encode_batch`
-> the LLM. ``forward`` returns the loss, ``generate`` decodes through Hugging Face's
``generate`` (beam search, KV cache) instead of a hand-written loop.

Checkpoints follow the ``save_pretrained`` / ``from_pretrained`` convention and hold only
what training changes (adapters, mappers, placeholder embeddings) in safetensors, plus the
resolved config and the identity of the LLM they were trained on, which is checked on load.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save
from torch import nn

from uniad.config import GenerationConfig, UniADConfig
from uniad.data.schema import Sample
from uniad.errors import UniADError
from uniad.io import write_bytes, write_json
from uniad.model.batch import gather_blocks
from uniad.model.llm import apply_lora, embedding_width, load_llm, save_llm, vocab_size
from uniad.model.params import count_by_part, split_llm_parameters
from uniad.model.perceiver import build_mappers
from uniad.model.sequence import (
    IGNORE_INDEX,
    EncodedBatch,
    Segment,
    SequenceBuilder,
    VisualKey,
    encode_batch,
)

from uniad.model.folder import (  # the checkpoint folder contract, re-exported for callers
    CONFIG_FILE, LLM_DIR, LLM_FILE, WEIGHTS_FILE, check_llm, checkpoint_dir, read_config,
    read_identity, read_weights, tokenizer_identity,
)


def previous_ad(sample: Sample) -> str | None:
    """The nearest earlier AD (the contrastive negative), or None when the sample has none."""
    if sample.event.context and sample.event.context[0].text.strip():
        return sample.event.context[0].text
    return None


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
        self.config = config
        self.llm_spec = llm_spec or config.model.llm
        self.tokenizer = tokenizer
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

    @classmethod
    def build(
        cls,
        config: UniADConfig,
        corpus=None,
        *,
        dtype: torch.dtype | None = None,
        device: str | torch.device = "cpu",
        meta: bool = False,
    ) -> UniAD:
        """Load ``config.model.llm`` (``corpus`` trains the "tiny" tokenizer) and wrap it."""
        llm, tokenizer = load_llm(config.model.llm, corpus=corpus, dtype=dtype, device=device, meta=meta)
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
            out = mapper(blocks.values.to(self.device), blocks.mask.to(self.device))
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
    def _target_nll(self, batch: EncodedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample summed CE on the target tokens and their counts, ``(B,)`` each.

        Logits are computed only at labelled positions (saves a (B, L, V) tensor); with
        ``placeholder_logits`` the two placeholder embeddings add two tied logits, as in
        the release.
        """
        base = self.llm.get_base_model()
        hidden = base.get_decoder()(
            inputs_embeds=batch.inputs_embeds,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
        ).last_hidden_state
        labels = batch.labels[:, 1:]  # position t predicts token t+1
        picked = labels != IGNORE_INDEX
        h = hidden[:, :-1][picked]
        logits = base.get_output_embeddings()(h)
        if self.config.model.placeholder_logits:
            logits = torch.cat([logits, h @ self.placeholders.to(h.dtype).T], dim=-1)
        nll = F.cross_entropy(logits.float(), labels[picked], reduction="none")
        owner = picked.nonzero()[:, 0]
        sums = torch.zeros(labels.shape[0], device=nll.device).index_add(0, owner, nll)
        counts = torch.bincount(owner, minlength=labels.shape[0]).to(nll.dtype)
        return sums, counts

    def forward(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        """``loss`` = ``ce`` (token-averaged over the batch) + ``hinge`` (contrastive).

        The hinge ``max(0, CE_pos - CE_neg)`` re-reads the same prompt with the previous AD
        as target so the model does not simply repeat it; samples without a previous AD
        take no part (both CEs of the hinge are over the samples that have one; the
        release had one for every sample). Release: one hinge on batch-level CEs;
        ``contrastive_per_sample``: the mean of per-sample hinges (the paper's intent).
        """
        cfg = self.config.model
        segments = [self.builder.build(s) for s in samples]
        visuals = self.visual_embeddings(samples, segments)
        pos_sum, pos_count = self._target_nll(self.encode(segments, visuals))
        ce = pos_sum.sum() / pos_count.sum()
        hinge = ce.new_zeros(())
        negatives = [(i, text) for i, s in enumerate(samples) if (text := previous_ad(s)) is not None]
        if cfg.contrastive_loss and negatives:
            idx = [i for i, _ in negatives]
            neg_segments = [self.builder.build(samples[i], target=t) for i, t in negatives]
            neg_sum, neg_count = self._target_nll(self.encode(neg_segments, [visuals[i] for i in idx]))
            pos_sum, pos_count = pos_sum[idx], pos_count[idx]
            if cfg.contrastive_per_sample:
                hinge = F.relu(pos_sum / pos_count - neg_sum / neg_count).mean()
            else:
                hinge = F.relu(pos_sum.sum() / pos_count.sum() - neg_sum.sum() / neg_count.sum())
        return {"loss": ce + hinge, "ce": ce, "hinge": hinge}

    # -- generation -------------------------------------------------------------------
    def generation_kwargs(self, generation: GenerationConfig | None = None, **overrides) -> dict:
        """Hugging Face ``generate`` arguments from a GenerationConfig (+ overrides)."""
        gen = generation or self.config.generation
        kwargs = dict(
            num_beams=gen.num_beams,
            repetition_penalty=gen.repetition_penalty,
            no_repeat_ngram_size=gen.no_repeat_ngram_size,
            max_new_tokens=gen.max_new_tokens,
            do_sample=gen.do_sample,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,  # load_llm guarantees one
        )
        if gen.do_sample:  # HF warns about sampling settings when not sampling
            kwargs.update(temperature=gen.temperature, top_p=gen.top_p)
        kwargs.update(overrides)
        return kwargs

    @torch.no_grad()
    def generate_ids(
        self, samples: list[Sample], generation: GenerationConfig | None = None, **overrides
    ) -> list[list[int]]:
        """New token ids per sample, in order, batched by ``generation.batch_size``.

        ``overrides`` go to Hugging Face ``generate`` (e.g. ``num_beams=1``, ``do_sample=True``).
        Ids after the end token (beam/batch padding) are cut off.
        """
        if overrides.get("use_cache", True) is False:
            # transformers re-enables the cache whenever generation starts from
            # inputs_embeds; refuse rather than pretend to honour it.
            raise UniADError(
                "generation from embeddings always uses the KV cache (use_cache=False is not supported)"
            )
        gen = generation or self.config.generation
        kwargs = self.generation_kwargs(gen, **overrides)
        eos = self.tokenizer.eos_token_id
        was_training = self.training
        self.eval()
        results: list[list[int]] = []
        try:
            for start in range(0, len(samples), max(1, gen.batch_size)):
                chunk = samples[start : start + gen.batch_size]
                segments = [self.builder.build(s, with_target=False) for s in chunk]
                batch = self.encode(segments, self.visual_embeddings(chunk, segments))
                with warnings.catch_warnings():
                    # HF warns that the penalties see only generated ids: that is the release's
                    # behaviour (REFERENCE.md section 5), so the warning is expected.
                    warnings.filterwarnings("ignore", message=".*inputs_embeds.*without `input_ids`")
                    # With only inputs_embeds given, generate returns just the new tokens.
                    out = self.llm.generate(
                        inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask, **kwargs
                    )
                for row in out.tolist():
                    results.append(row[: row.index(eos)] if eos in row else row)
        finally:
            self.train(was_training)
        return results

    def generate(
        self, samples: list[Sample], generation: GenerationConfig | None = None, **overrides
    ) -> list[str]:
        """One AD per sample (beam search with KV cache by default; see :meth:`generate_ids`)."""
        ids = self.generate_ids(samples, generation, **overrides)
        return [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]

    # -- checkpoints ------------------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds: parameters that train, plus LoRA weights even if frozen
        (the release's MAD recipe freezes LoRA, but a checkpoint must still restore it)."""
        return {
            name: p.detach()
            for name, p in self.named_parameters()
            if p.requires_grad or "lora_" in name
        }

    def llm_identity(self) -> dict:
        return {
            "llm": self.llm_spec,
            "hidden_size": embedding_width(self.llm),
            "vocab_size": vocab_size(self.llm),
            **tokenizer_identity(self.tokenizer),
        }

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.yaml``, ``model.safetensors`` (trainable weights) and ``llm.json``;
        a random "tiny" LLM is saved too (``llm/``), since nothing else could rebuild it."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out / CONFIG_FILE)
        state = {k: v.contiguous().cpu() for k, v in self.trainable_state_dict().items()}
        write_bytes(out / WEIGHTS_FILE, save(state))
        identity = self.llm_identity()
        if self.llm_spec == "tiny":
            # unload() strips the adapters; on a copy, so this model keeps its own.
            save_llm(copy.deepcopy(self.llm).unload(), self.tokenizer, out / LLM_DIR)
            identity["saved_in"] = LLM_DIR
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
        return model

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
                "new_embeddings": [self.placeholders],
            }
        )
