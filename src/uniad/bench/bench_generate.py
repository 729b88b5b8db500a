"""AD generation speed: UniAD's decoder against what a user would otherwise run.

The same samples (random features in the release's MAD layout: 30 video tokens, 30 tokens
per character, 2-5 characters, a previous clip and a previous AD) are decoded with the
release's settings (5 beams, repetition penalty 1.2, no repeated 3-grams, 66 new tokens at
most) three ways, each timed after a warm-up, in one process, alternating rounds:

- ``ours``: :meth:`UniAD.generate_ids` (``uniad.model.decode``): prompts bucketed by length
  in batches of ``--batch-size``, each prompt prefilled once and its keys and values kept
  once per sample for all its beams (``uniad.model.shared_prefix``), finished samples
  leaving the batch, logits at the last position only;
- ``hf-generate`` (baseline, ``standard`` rules): Hugging Face ``generate`` at the release's
  batch 3 on the same embeddings, as a user of transformers 5 runs it: every prompt
  expanded to ``num_beams`` copies before the prefill, the batch kept until its last
  sample ends. Its ids must equal ours under ``generation.rules=standard``;
- ``release-pattern`` (baseline, ``hf432`` rules): how the release's pinned transformers
  4.32.1 spends its time, replayed with the same hf432 decisions as ours so that the ids
  must be identical: batch 3 in dataset order, prompts expanded to ``num_beams`` copies
  before the prefill, the LM head applied to every prompt position in float32 (4.32.1's
  ``LlamaForCausalLM`` computes the logits of the whole sequence), and each step run through
  transformers' ``DynamicCache`` (the prompt copied per beam, reordered and extended every
  step). It keeps our removal of finished samples, so it is, if anything, faster than the
  release.

Greedy decoding is checked too (ids of ours and of ``hf-generate`` must be identical).
Both LLMs are measured: the tiny random Llama and the embedded SmolLM2-135M-Instruct
(``--llm``). Figures: ADs/s, new tokens/s, and ours / baseline ratios, plus batch-1 greedy
decoding in new tokens/s against the memory-bandwidth bound (weight bytes read per token /
bandwidth: given by ``--hbm-gbs`` or, on CUDA, measured by a device copy).

On a GPU: ``uniad bench generate --llm llama2-7b-random --device cuda --dtype bfloat16
--samples 32 --batch-size 32`` runs Llama-2-7B's shape with random weights. In half
precision the ids are counted, not required equal (rounding differs between batch shapes
in any implementation, transformers' own included). Run as
``uniad bench generate [--llm tiny|smollm2|both|llama2-7b-random] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, LogitsProcessorList, RepetitionPenaltyLogitsProcessor

from uniad.config import GenerationConfig, UniADConfig
from uniad.data.schema import ADEvent, Character, CharacterEntry, Sample
from uniad.model.decode import PrefilledLM, decode
from uniad.model.llm import llama2_7b_config
from uniad.model.sequence import sequence_length
from uniad.model.tiny import build_tiny_tokenizer
from uniad.model.uniad import UniAD
from uniad.runtime import choose_threads
from uniad.io import write_json

log = logging.getLogger("bench_generate")

FEATURE_DIM = 64
RELEASE_BATCH = 3
NAMES = (("Anna Hart", "H. Bianchi"), ("Tom Burke", "M. Tanaka"), ("Julia Shaw", "Q. Jansen"),
         ("David Nash", "B. Dubois"), ("Sophie Blake", "V. Ivanova"))
Decoder = Callable[[list[Sample]], list[list[int]]]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
RANDOM_7B = "llama2-7b-random"
BATCH1_SAMPLES = 4


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_generate", description=__doc__.split("\n\n")[0])
    p.add_argument("--llm", choices=("tiny", "smollm2", "both", RANDOM_7B), default="both",
                   help=f"both: tiny and smollm2; {RANDOM_7B}: Llama-2-7B's shape with random "
                        "weights (for a GPU)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    p.add_argument("--hbm-gbs", type=float, default=None,
                   help="memory bandwidth in GB/s for the batch-1 bound (default: measured on CUDA)")
    p.add_argument("--samples", type=int, default=24, help="ADs per method (default 24)")
    p.add_argument("--batch-size", type=int, default=24, help="our batch size (default 24)")
    p.add_argument("--num-beams", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=66, help="release MAD: 66")
    p.add_argument("--rounds", type=int, default=2, help="timed rounds per method, alternated")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p.parse_args(argv)


def build_model(llm: str, seed: int, device: str = "cpu", dtype: torch.dtype = torch.float32) -> UniAD:
    """``llm`` with the release's MAD sequence sizes (30/30 tokens), random mappers.

    The placeholder logit columns are off so that Hugging Face ``generate`` (which has no
    such columns) decodes exactly the same distribution; they cost two dot products.
    ``llama2-7b-random`` is built in place on ``device`` (its 7B random weights never pass
    through the CPU) with a small trained tokenizer: speed does not depend on the words.
    """
    config = UniADConfig()
    config.model.llm = llm
    config.model.feature_dim = FEATURE_DIM
    config.model.perceiver_depth = 1
    config.model.perceiver_head_dim = 16 if llm == "tiny" else 64
    config.model.placeholder_logits = False
    torch.manual_seed(seed)
    if llm != RANDOM_7B:
        return UniAD.build(config).to(device=device, dtype=dtype).eval()
    with torch.device(device):
        causal = AutoModelForCausalLM.from_config(llama2_7b_config(), dtype=dtype)
    return UniAD(config, causal.eval(), build_tiny_tokenizer()).to(device=device, dtype=dtype).eval()


def make_samples(n: int, seed: int) -> list[Sample]:
    """Ragged samples: 2-5 characters, 6-16 frames, a previous clip and a previous AD."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(n):
        previous = ADEvent("movie", 2.0 * i, 2.0 * i + 1.0, "Anna opens the door.")
        event = ADEvent("movie", 2.0 * i + 1.0, 2.0 * i + 2.0, "", context=(previous,), uid=f"movie#{i}")
        characters = [
            CharacterEntry(Character(f"nm{k}", actor, role), torch.randn(1, FEATURE_DIM, generator=g))
            for k, (role, actor) in enumerate(NAMES[: 2 + i % 4])
        ]
        frames = 6 + int(torch.randint(0, 11, (1,), generator=g))
        samples.append(Sample(
            sample_id=event.uid, event=event,
            video=torch.randn(frames, FEATURE_DIM, generator=g),
            previous_videos=[torch.randn(8, FEATURE_DIM, generator=g)],
            context_texts=[previous.text], characters=characters,
        ))
    return samples


def _prompts(model: UniAD, samples: list[Sample]):
    segments = [model.builder.build(s, with_target=False) for s in samples]
    return model.encode(segments, model.visual_embeddings(samples, segments))


def hf_generate(model: UniAD, gen: GenerationConfig) -> Decoder:
    """transformers 5 ``generate`` at the release's batch size, penalty as an explicit
    processor (given as ``repetition_penalty`` it skips the left padding's length)."""
    eos = model.tokenizer.eos_token_id

    def run(samples: list[Sample]) -> list[list[int]]:
        out: list[list[int]] = []
        for i in range(0, len(samples), RELEASE_BATCH):
            batch = _prompts(model, samples[i : i + RELEASE_BATCH])
            processors = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(gen.repetition_penalty)])
            ids = model.llm.generate(
                inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                num_beams=gen.num_beams, no_repeat_ngram_size=gen.no_repeat_ngram_size,
                max_new_tokens=gen.max_new_tokens, do_sample=False, logits_processor=processors,
                eos_token_id=eos, pad_token_id=model.tokenizer.pad_token_id)
            out += [row[: row.index(eos)] if eos in row else row for row in ids.tolist()]
        return out

    return run


class ExpandedPrefill(PrefilledLM):
    """4.32.1's prefill: ``num_beams`` copies of every prompt, the LM head over every
    position in float32; then the rows of beam 0 feed the (identical) search, and each step
    runs as transformers does: the whole ``DynamicCache`` (prompt included, one copy per
    beam) reordered and extended, attention over it with the padding mask."""

    def __init__(self, causal_lm: torch.nn.Module, beams: int) -> None:
        super().__init__(causal_lm, shared_prefix=False)
        self.beams = beams

    def prefill(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        k = self.beams
        hidden = self.run_prompts(inputs_embeds.repeat_interleave(k, 0),
                                  attention_mask.repeat_interleave(k, 0))
        logits = self.head(hidden).float()  # every position, as 4.32.1
        # The search starts from one row per sample: keep the rows of beam 0 (0, k, 2k, ...).
        self.cache.reorder_cache(torch.arange(0, len(hidden), k))
        self.mask, self.next_position = self.mask[::k], self.next_position[::k]
        return logits[::k, -1]


def release_pattern(model: UniAD, gen: GenerationConfig) -> Decoder:
    settings = model.decode_settings(gen)

    def run(samples: list[Sample]) -> list[list[int]]:
        out: list[list[int]] = []
        for i in range(0, len(samples), RELEASE_BATCH):
            batch = _prompts(model, samples[i : i + RELEASE_BATCH])
            lm = ExpandedPrefill(model.llm.get_base_model(), gen.num_beams)
            out += decode(lm, lm.prefill(batch.inputs_embeds, batch.attention_mask), settings)
        return out

    return run


def ours(model: UniAD, gen: GenerationConfig) -> Decoder:
    return lambda samples: model.generate_ids(samples, gen)


def time_methods(methods: dict[str, Decoder], samples: list[Sample], rounds: int) -> dict[str, dict]:
    """Warm each method up, then alternate timed rounds; keep the fastest round of each."""
    results: dict[str, dict] = {}
    with torch.no_grad():
        for name, run in methods.items():
            run(samples[:2])
        for _ in range(rounds):
            for name, run in methods.items():
                start = time.perf_counter()
                ids = run(samples)
                seconds = time.perf_counter() - start
                best = results.get(name)
                if best is None or seconds < best["seconds"]:
                    results[name] = {"seconds": seconds, "ids": ids}
    for r in results.values():
        tokens = sum(len(ids) + 1 for ids in r["ids"])  # + the end token where one was written
        r.update(ads_per_second=len(samples) / r["seconds"], tokens_per_second=tokens / r["seconds"],
                 mean_new_tokens=sum(map(len, r["ids"])) / len(samples))
    return results


def weight_bytes_per_token(model: UniAD) -> int:
    """Bytes of LLM weights one decoding step reads: all of them but the input embedding
    table (one row is looked up), unless the LM head shares it."""
    llm = model.llm
    total = sum(p.numel() * p.element_size() for p in llm.parameters())
    embedding, head = llm.get_input_embeddings().weight, llm.get_output_embeddings().weight
    if embedding.data_ptr() != head.data_ptr():
        total -= embedding.numel() * embedding.element_size()
    return total


def measured_bandwidth(device: torch.device) -> float | None:
    """Bytes/s of a device-to-device copy (read + write), CUDA only."""
    if device.type != "cuda":
        return None
    source = torch.empty(1 << 30, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize(device)
    start, repeats = time.perf_counter(), 10
    for _ in range(repeats):
        target.copy_(source)
    torch.cuda.synchronize(device)
    return 2 * source.numel() * repeats / (time.perf_counter() - start)


def batch1_decode(model: UniAD, samples: list[Sample], args: argparse.Namespace) -> dict:
    """Greedy decoding one AD at a time (prefill included), against the bandwidth bound."""
    gen = GenerationConfig(num_beams=1, max_new_tokens=args.max_new_tokens, batch_size=1, rules="standard")
    subset = samples[:BATCH1_SAMPLES]
    with torch.no_grad():
        model.generate_ids(subset[:1], gen)
        start = time.perf_counter()
        ids = model.generate_ids(subset, gen)
        seconds = time.perf_counter() - start
    weights = weight_bytes_per_token(model)
    bandwidth = args.hbm_gbs * 1e9 if args.hbm_gbs else measured_bandwidth(model.device)
    out = {"samples": len(subset), "tokens_per_second": sum(len(r) + 1 for r in ids) / seconds,
           "weight_bytes_per_token": weights, "bandwidth_bytes_per_second": bandwidth}
    if bandwidth:
        out["bound_tokens_per_second"] = bandwidth / weights
        out["fraction_of_bound"] = out["tokens_per_second"] / out["bound_tokens_per_second"]
    return out


def bench_llm(llm: str, args: argparse.Namespace) -> dict:
    model = build_model(llm, args.seed, args.device, DTYPES[args.dtype])
    samples = make_samples(args.samples, args.seed)
    positions = [sequence_length(model.builder.build(s, with_target=False)) for s in samples]
    beams = dict(num_beams=args.num_beams, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    hf432, standard = GenerationConfig(**beams, rules="hf432"), GenerationConfig(**beams, rules="standard")
    greedy = GenerationConfig(num_beams=1, max_new_tokens=args.max_new_tokens,
                              batch_size=args.batch_size, rules="standard")
    comparisons = {
        "beam, hf432 rules": {"ours": ours(model, hf432), "release-pattern": release_pattern(model, hf432)},
        "beam, standard rules": {"ours": ours(model, standard), "hf-generate": hf_generate(model, standard)},
        "greedy": {"ours": ours(model, greedy), "hf-generate": hf_generate(model, greedy)},
    }
    out = {"llm": llm, "mean_prompt_positions": sum(positions) / len(positions), "comparisons": {}}
    for label, methods in comparisons.items():
        log.info("%s: %s", llm, label)
        results = time_methods(methods, samples, args.rounds)
        (baseline_name,) = [n for n in methods if n != "ours"]
        mine, base = results["ours"], results[baseline_name]
        same = sum(a == b for a, b in zip(mine["ids"], base["ids"]))
        out["comparisons"][label] = {
            "baseline": baseline_name, "identical_ids": same, "samples": len(samples),
            "speedup_ads": mine["ads_per_second"] / base["ads_per_second"],
            **{name: {k: v for k, v in r.items() if k != "ids"} for name, r in results.items()},
        }
    log.info("%s: batch-1 greedy decoding", llm)
    out["batch1_decode"] = batch1_decode(model, samples, args)
    return out


def print_table(result: dict, args: argparse.Namespace) -> None:
    where = (torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda"
             else f"{torch.get_num_threads()} thread(s), {platform.machine()}")
    print(f"\n{result['llm']}: {args.samples} samples, prompts of {result['mean_prompt_positions']:.0f} "
          f"positions on average, {args.num_beams} beams, <= {args.max_new_tokens} new tokens, "
          f"{args.dtype}, {where}\n")
    print("| decoding | method | ADs/s | new tokens/s | new tokens per AD | ours / baseline | identical ids |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, c in result["comparisons"].items():
        for name in ("ours", c["baseline"]):
            r = c[name]
            ratio = f"{c['speedup_ads']:.2f}x" if name == "ours" else ""
            same = f"{c['identical_ids']}/{c['samples']}" if name == "ours" else ""
            method = f"ours, batch {args.batch_size}" if name == "ours" else f"{name}, batch {RELEASE_BATCH}"
            print(f"| {label} | {method} | {r['ads_per_second']:.2f} | {r['tokens_per_second']:.0f} | "
                  f"{r['mean_new_tokens']:.1f} | {ratio} | {same} |")
    one = result["batch1_decode"]
    line = (f"\nbatch-1 greedy decoding ({one['samples']} ADs, prefill included): "
            f"{one['tokens_per_second']:.1f} new tokens/s; {one['weight_bytes_per_token'] / 1e6:,.1f} MB "
            f"of weights read per token")
    if "bound_tokens_per_second" in one:
        line += (f"; bandwidth {one['bandwidth_bytes_per_second'] / 1e9:.0f} GB/s bounds it at "
                 f"{one['bound_tokens_per_second']:.1f} tokens/s ({one['fraction_of_bound']:.0%} reached)")
    print(line)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(choose_threads(args.threads))
    llms = ("tiny", "smollm2") if args.llm == "both" else (args.llm,)
    results = [bench_llm(llm, args) for llm in llms]
    for result in results:
        print_table(result, args)
    if args.json:
        summary = {"settings": {k: v for k, v in vars(args).items() if k != "json"}, "results": results}
        write_json(args.json, summary)
    mismatched = [(r["llm"], label) for r in results for label, c in r["comparisons"].items()
                  if c["identical_ids"] != c["samples"]]
    if mismatched and args.dtype != "float32":
        print(f"\nids differ from the baseline in {mismatched} ({args.dtype} rounding)", file=sys.stderr)
    elif mismatched:
        print(f"\nids differ from the baseline in: {mismatched}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
