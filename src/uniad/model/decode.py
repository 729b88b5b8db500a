"""Batched greedy and beam search for UniAD, prefilling each prompt once.

Why not Hugging Face ``generate``: it expands every prompt to ``num_beams`` copies before
the prefill (the 150-300 prompt positions of a UniAD sample are computed five times), keeps
finished samples in the batch until the whole batch ends, and under transformers 5 gives a
left-padded row a repetition penalty that skips its first ``pad_len`` generated tokens (it
takes a per-row "prompt ignore length" from the attention mask even when the prompt is
embeddings only), so the output depends on the batch. Here the prompt is prefilled once per
sample, its KV cache is copied to the beams after the first step, samples leave the batch
when their search is over, and the penalties see exactly the ids of their own beam.

Three rule sets, chosen by ``generation.rules`` (documented in docs/decoding.md):

``hf432``
    What transformers 4.32.1 (the release's pin) does for the release's arguments when
    ``generate`` gets ``inputs_embeds`` only: ``input_ids`` is seeded with BOS, so the
    repetition penalty and the n-gram ban see that BOS and a finished hypothesis's length
    counts it; EOS candidates ranked below ``num_beams`` are ignored; a sample is done when
    ``num_beams`` hypotheses are kept and the worst of them is at least the best candidate
    score of the step divided by the current length; at the length limit every running beam
    is added as a hypothesis. The release's ``max_length=67`` counts the seed: 66 new tokens.
``hf446``
    What transformers 4.46.3 (the release's CMD-AD/TV-AD code) does: the same hypothesis
    heap and stopping rule, but no BOS seed (``input_ids`` starts empty), so the penalties
    see only generated ids and a beam that reaches the limit counts its new tokens only.
``standard``
    transformers 5's beam search (finished candidates only from the top ``num_beams``,
    lengths without the seed, the early-stop heuristic on the best running beam, candidates
    that reach the length limit finish), without the padding offset of its penalty.

Greedy search (``num_beams == 1``) applies the penalties to raw logits, as both versions
do; under ``hf432`` they also see the BOS seed. The rules are plain functions of score
tables, so tests pin them on hand-made logits (tests/test_decode_rules.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
from torch import Tensor
from transformers import (
    LogitsProcessorList,
    NoBadWordsLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
)

from uniad.model.shared_prefix import SHARED_PREFIX_MODEL_TYPES, SharedPrefixCache, shared_prefix_steps

Rules = Literal["hf432", "hf446", "standard"]
NEG_INF_SCORE = -1.0e9  # the score transformers gives beams that must not be chosen


@dataclass(frozen=True)
class DecodeSettings:
    """What the search needs besides the model: sizes, penalties, special ids, rules."""

    num_beams: int
    max_new_tokens: int
    repetition_penalty: float
    no_repeat_ngram_size: int
    eos_id: int
    bos_id: int | None
    rules: Rules
    # Token sequences never to complete (transformers' ``bad_words_ids``): narration's
    # repeat guard bans the previous AD this way.
    banned: tuple[tuple[int, ...], ...] = ()

    @property
    def seed_length(self) -> int:
        """Ids the penalties see before the first new token (the BOS seed of ``hf432``)."""
        return 1 if self.rules == "hf432" else 0


class StepModel(Protocol):
    """The model side of decoding: logits for the next token of every live row.

    ``advance(parents, tokens)``: row ``i`` of the new step continues row ``parents[i]`` of
    the previous one (a reorder, an expansion to beams and the removal of finished samples
    are all this one gather) and appends ``tokens[i]``; returns ``(len(parents), V)`` logits.
    """

    def advance(self, parents: Tensor, tokens: Tensor) -> Tensor: ...


def _processors(settings: DecodeSettings) -> LogitsProcessorList:
    """transformers' own penalty processors, given only each row's ids (no prompt offset)."""
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(float(settings.repetition_penalty)))
    if settings.no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGramLogitsProcessor(settings.no_repeat_ngram_size))
    if settings.banned:
        processors.append(NoBadWordsLogitsProcessor([list(b) for b in settings.banned], settings.eos_id))
    return processors


def _with_seed(history: Tensor, settings: DecodeSettings) -> Tensor:
    """The ids the penalties see: the generated ones, after the BOS seed under ``hf432``."""
    if settings.seed_length == 0:
        return history
    if settings.bos_id is None:
        raise ValueError("rules 'hf432' need a BOS id (the seed transformers 4.32.1 adds)")
    seed = torch.full((history.shape[0], 1), settings.bos_id, dtype=history.dtype, device=history.device)
    return torch.cat([seed, history], dim=1)


# -- the per-sample bookkeeping of each rule set --------------------------------------------


@dataclass
class HeapHypotheses:
    """transformers 4.x's ``BeamHypotheses`` (``hf432``, ``hf446``) with ``early_stopping=False``: the best
    ``num_beams`` finished hypotheses, scored ``sum_logprobs / length`` (the release's
    ``length_penalty`` is 1)."""

    num_beams: int
    beams: list[tuple[float, list[int]]] = field(default_factory=list)
    worst_score: float = 1e9

    def add(self, tokens: list[int], sum_logprobs: float, length: int) -> None:
        """Keep ``tokens`` if there is room or it beats the worst kept (4.32.1's order of
        operations, including its tie-breaking by insertion index)."""
        score = sum_logprobs / length
        if len(self.beams) < self.num_beams or score > self.worst_score:
            self.beams.append((score, tokens))
            if len(self.beams) > self.num_beams:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst_score = ranked[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs: float, cur_len: int) -> bool:
        """Full, and no running beam can beat the worst kept (the ``cur_len`` heuristic)."""
        if len(self.beams) < self.num_beams:
            return False
        return self.worst_score >= best_sum_logprobs / cur_len

    def best(self) -> list[int]:
        """The highest score; among equal scores the last added (4.32.1 pops a stable sort)."""
        return sorted(self.beams, key=lambda beam: beam[0])[-1][1]


@dataclass
class _Step:
    """One beam step's decision for the live samples, in their current order."""

    scores: Tensor  # (B, k) scores of the beams that continue
    tokens: Tensor  # (B, k) their new tokens
    beams: Tensor  # (B, k) which of the sample's previous rows each continues
    done: list[bool]  # per sample: its search is over


class _HeapSearch:
    """transformers 4.x's ``BeamSearchScorer.process``/``finalize`` for one batch (``hf432``
    and ``hf446``: a hypothesis's length at an EOS and the ``is_done`` length are the
    generated tokens + 1 in both, the seed in 4.32.1, the EOS candidate in 4.46.3)."""

    def __init__(self, settings: DecodeSettings, batch: int) -> None:
        self.s = settings
        self.hyps = [HeapHypotheses(settings.num_beams) for _ in range(batch)]

    def step(self, live: list[int], histories: Tensor, top_scores: Tensor, top_tokens: Tensor,
             top_beams: Tensor, generated: int) -> _Step:
        k, s = self.s.num_beams, self.s
        cur_len = generated + 1  # 4.32.1: seed + generated; 4.46.3: generated + the candidate
        done = []
        # Python lists once per step: the loop below is 4.32.1's, per candidate.
        all_scores, all_tokens, all_beams = top_scores.tolist(), top_tokens.tolist(), top_beams.tolist()
        kept_scores, kept_tokens, kept_beams = [], [], []
        for row, sample in enumerate(live):
            kept = 0
            for rank, (score, token, beam) in enumerate(zip(all_scores[row], all_tokens[row], all_beams[row])):
                if token == s.eos_id:
                    if rank >= k:  # an EOS outside the top num_beams is not a hypothesis
                        continue
                    self.hyps[sample].add(histories[row, beam].tolist(), score, cur_len)
                else:
                    kept_scores.append(score)
                    kept_tokens.append(token)
                    kept_beams.append(beam)
                    kept += 1
                if kept == k:
                    break
            if kept < k:
                raise ValueError(f"sample {sample}: fewer than {k} non-EOS candidates")
            done.append(self.hyps[sample].is_done(max(all_scores[row]), cur_len))
        shape = (len(live), k)
        return _Step(torch.tensor(kept_scores, dtype=top_scores.dtype).view(shape),
                     torch.tensor(kept_tokens).view(shape), torch.tensor(kept_beams).view(shape), done)

    def finish_running(self, sample: int, histories: Tensor, scores: Tensor) -> None:
        """At the length limit every running beam becomes a hypothesis (``finalize``)."""
        length = self.s.seed_length + histories.shape[-1]
        for beam in range(histories.shape[0]):
            self.hyps[sample].add(histories[beam].tolist(), float(scores[beam]), length)

    def best(self, sample: int) -> list[int]:
        return self.hyps[sample].best()


class _StandardSearch:
    """transformers 5's vectorised beam search bookkeeping (``_beam_search``), per batch.

    Mirrors its tensor operations (the same ``topk`` calls on the same shapes) so that ties
    break the same way; finished sequences are kept as id lists.
    """

    def __init__(self, settings: DecodeSettings, batch: int) -> None:
        self.s = settings
        k = settings.num_beams
        self.finished_scores = torch.full((batch, k), NEG_INF_SCORE)
        self.finished = torch.zeros(batch, k, dtype=torch.bool)
        self.sequences: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(batch)]
        self.improvable = torch.ones(batch, dtype=torch.bool)

    def step(self, live: list[int], histories: Tensor, top_scores: Tensor, top_tokens: Tensor,
             top_beams: Tensor, generated: int) -> _Step:
        k, s = self.s.num_beams, self.s
        idx = torch.tensor(live)
        hits = (top_tokens == s.eos_id) | (generated + 1 >= s.max_new_tokens)
        running = top_scores + hits.to(torch.float32) * NEG_INF_SCORE
        choice = torch.topk(running, k=k)[1]
        next_scores = running.gather(1, choice)
        # Finished candidates: only those ranked in the top num_beams, length-normalised.
        rank_ok = torch.arange(top_scores.shape[1]) < k
        just_finished = hits & rank_ok[None, :]
        normalised = top_scores / (generated + 1)
        normalised = normalised + (~self.improvable[idx, None]).to(torch.float32) * NEG_INF_SCORE
        normalised = normalised + (~just_finished) * NEG_INF_SCORE
        merged_scores = torch.cat([self.finished_scores[idx], normalised], dim=1)
        merged_finished = torch.cat([self.finished[idx], just_finished], dim=1)
        keep = torch.topk(merged_scores, k=k)[1]
        for row, sample in enumerate(live):
            old = self.sequences[sample]
            new = [histories[row, b].tolist() + [t] for b, t in
                   zip(top_beams[row].tolist(), top_tokens[row].tolist())]
            pool = old + new
            self.sequences[sample] = [pool[j] for j in keep[row].tolist()]
        self.finished_scores[idx] = merged_scores.gather(1, keep)
        self.finished[idx] = merged_finished.gather(1, keep)
        # The early-stop heuristic, after the length grows by one.
        best_running = next_scores[:, :1] / (generated + 1)
        worst = torch.where(self.finished[idx], self.finished_scores[idx].min(dim=1, keepdim=True)[0],
                            torch.full_like(self.finished_scores[idx], NEG_INF_SCORE))
        self.improvable[idx] = self.improvable[idx] & (best_running > worst).any(dim=1)
        done = [not bool(self.improvable[sample]) or bool(hits[row].all())
                for row, sample in enumerate(live)]
        return _Step(next_scores, top_tokens.gather(1, choice), top_beams.gather(1, choice), done)

    def finish_running(self, sample: int, histories: Tensor, scores: Tensor) -> None:
        """Nothing to add: a candidate that reaches the limit has already finished."""

    def best(self, sample: int) -> list[int]:
        tokens = self.sequences[sample][0]
        return tokens[: tokens.index(self.s.eos_id)] if self.s.eos_id in tokens else tokens


# -- the loops ------------------------------------------------------------------------------


def greedy_search(model: StepModel, first_logits: Tensor, settings: DecodeSettings) -> list[list[int]]:
    """Greedy decoding of ``len(first_logits)`` samples; finished samples leave the batch."""
    processors = _processors(settings)
    batch = first_logits.shape[0]
    results: list[list[int]] = [[] for _ in range(batch)]
    live = list(range(batch))
    histories = torch.zeros(batch, 0, dtype=torch.long)
    logits = first_logits
    for generated in range(settings.max_new_tokens):
        scores = processors(_with_seed(histories, settings), logits.float())
        tokens = scores.argmax(dim=-1)
        histories = torch.cat([histories, tokens[:, None]], dim=1)
        ended = tokens == settings.eos_id
        keep = [row for row in range(len(live)) if not ended[row]]
        for row, sample in enumerate(live):
            if ended[row] or generated + 1 == settings.max_new_tokens:
                ids = histories[row].tolist()
                results[sample] = ids[:-1] if ended[row] else ids
        if not keep or generated + 1 == settings.max_new_tokens:
            break
        parents = torch.tensor(keep)
        live, histories = [live[r] for r in keep], histories[parents]
        logits = model.advance(parents, tokens[parents])
    return results


def beam_search(model: StepModel, first_logits: Tensor, settings: DecodeSettings) -> list[list[int]]:
    """Beam search of ``len(first_logits)`` samples under ``settings.rules``.

    The first step expands from one prefilled row per sample (what transformers does with
    ``num_beams`` identical rows, the others at score -1e9); from then on each sample has
    ``num_beams`` rows, reordered and pruned through ``model.advance``.
    """
    k, processors = settings.num_beams, _processors(settings)
    batch = first_logits.shape[0]
    search = (_StandardSearch if settings.rules == "standard" else _HeapSearch)(settings, batch)
    live = list(range(batch))
    rows_per_sample = 1
    scores = torch.zeros(batch, 1)
    histories = torch.zeros(batch, 1, 0, dtype=torch.long)  # (live, rows, generated)
    logits = first_logits
    for generated in range(settings.max_new_tokens):
        flat_history = histories.reshape(len(live) * rows_per_sample, generated)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        log_probs = processors(_with_seed(flat_history, settings), log_probs)
        vocab = log_probs.shape[-1]
        totals = (log_probs.view(len(live), rows_per_sample, vocab) + scores[:, :, None])
        top_scores, top_flat = torch.topk(totals.view(len(live), -1), 2 * k)
        top_beams, top_tokens = top_flat // vocab, top_flat % vocab
        step = search.step(live, histories, top_scores, top_tokens, top_beams, generated)
        histories = torch.cat([histories.gather(1, step.beams[:, :, None].expand(-1, -1, generated)),
                               step.tokens[:, :, None]], dim=2)
        at_limit = generated + 1 == settings.max_new_tokens
        if at_limit:
            for row, sample in enumerate(live):
                if not step.done[row]:
                    search.finish_running(sample, histories[row], step.scores[row])
            break
        keep = [row for row in range(len(live)) if not step.done[row]]
        if not keep:
            break
        keep_t = torch.tensor(keep)
        parents = (keep_t[:, None] * rows_per_sample + step.beams[keep_t]).reshape(-1)
        live = [live[r] for r in keep]
        scores, histories = step.scores[keep_t], histories[keep_t]
        rows_per_sample = k
        logits = model.advance(parents, step.tokens[keep_t].reshape(-1))
    return [search.best(sample) for sample in range(batch)]


def decode(model: StepModel, first_logits: Tensor, settings: DecodeSettings) -> list[list[int]]:
    """New token ids per sample (without EOS) from prefill logits ``(B, V)``."""
    if settings.num_beams < 1 or settings.max_new_tokens < 1:
        raise ValueError("num_beams and max_new_tokens must be >= 1")
    if settings.num_beams == 1:
        return greedy_search(model, first_logits, settings)
    return beam_search(model, first_logits, settings)


def bucket_by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Sample indices grouped into batches of similar prompt length (less left padding).

    Decoding is batch-invariant, so the grouping changes speed, never the output.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), max(1, batch_size))]


class PrefilledLM:
    """A causal LM prefilled with a batch of prompt embeddings, then stepped through its cache.

    ``extra_embeddings`` (the ``<video>``/``<v>`` placeholders, ``(n, D)``) append ``n``
    logit columns tied to them, as the release's generation does; an id ``V + j`` chosen
    from those columns is fed back as ``extra_embeddings[j]``. Logits are computed for the
    last position only (the prefill never builds a ``(B, L, V)`` tensor).

    ``shared_prefix``: steps through :mod:`uniad.model.shared_prefix` (the prompt's cache
    once per sample); ``False`` steps as transformers does (a ``DynamicCache`` with the
    prompt copied per row, reordered and extended each step). ``None`` chooses shared
    steps for the architectures they are tested on (:data:`SHARED_PREFIX_MODEL_TYPES`).
    """

    def __init__(self, causal_lm: torch.nn.Module, extra_embeddings: Tensor | None = None,
                 shared_prefix: bool | None = None) -> None:
        self.decoder = causal_lm.get_decoder()
        self.head = causal_lm.get_output_embeddings()
        self.embed = causal_lm.get_input_embeddings()
        self.extra = extra_embeddings
        if shared_prefix is None:
            shared_prefix = getattr(self.decoder.config, "model_type", None) in SHARED_PREFIX_MODEL_TYPES
        self.shared_prefix = shared_prefix
        self.cache = None
        self.mask = self.next_position = None
        # transformers renamed the decoder's cache argument (``past_key_values`` -> ``cache``,
        # the old name deprecated); use whichever this version's decoder takes.
        parameters = inspect.signature(self.decoder.forward).parameters
        self.cache_argument = "cache" if "cache" in parameters else "past_key_values"

    def _logits(self, hidden: Tensor) -> Tensor:
        logits = self.head(hidden)
        if self.extra is not None:
            logits = torch.cat([logits, hidden @ self.extra.to(hidden.dtype).T], dim=-1)
        return logits

    def _embed(self, tokens: Tensor) -> Tensor:
        vocab = self.embed.num_embeddings
        vectors = self.embed(tokens.clamp(max=vocab - 1))
        if self.extra is not None and bool((tokens >= vocab).any()):
            placeholder = tokens >= vocab
            vectors[placeholder] = self.extra[tokens[placeholder] - vocab].to(vectors.dtype)
        return vectors

    def run_prompts(self, inputs_embeds: Tensor, attention_mask: Tensor) -> Tensor:
        """Run left-padded prompts into a fresh cache (positions count from each first real
        token) and return their hidden states ``(B, L, D)``."""
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.decoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                           position_ids=positions, use_cache=True)
        self.cache, self.mask = getattr(out, self.cache_argument), attention_mask
        self.next_position = attention_mask.sum(-1)
        return out.last_hidden_state

    def prefill(self, inputs_embeds: Tensor, attention_mask: Tensor) -> Tensor:
        """Run the prompts once; the next-token logits ``(B, V)`` of each."""
        return self._logits(self.run_prompts(inputs_embeds, attention_mask)[:, -1])

    def advance(self, parents: Tensor, tokens: Tensor) -> Tensor:
        parents, tokens = parents.to(self.mask.device), tokens.to(self.mask.device)
        moved = len(parents) != len(self.next_position) or not torch.equal(
            parents, torch.arange(len(parents), device=parents.device))
        if moved:
            self.next_position = self.next_position[parents]
        step = dict(inputs_embeds=self._embed(tokens)[:, None], position_ids=self.next_position[:, None],
                    use_cache=True)
        if self.shared_prefix:
            # The prompt's cache stays one copy per sample; only generated positions move.
            if not isinstance(self.cache, SharedPrefixCache):
                self.cache = SharedPrefixCache(self.cache, self.mask)
            if moved:
                self.cache.select_rows(parents)
            with shared_prefix_steps(self.decoder.config):
                out = self.decoder(**step, **{self.cache_argument: self.cache})
        else:
            if moved:
                self.cache.reorder_cache(parents)  # a copy of the whole cache: only when needed
                self.mask = self.mask[parents]
            self.mask = torch.cat([self.mask, self.mask.new_ones(len(parents), 1)], dim=1)
            out = self.decoder(**step, attention_mask=self.mask, **{self.cache_argument: self.cache})
        self.next_position = self.next_position + 1
        return self._logits(out.last_hidden_state[:, -1])
