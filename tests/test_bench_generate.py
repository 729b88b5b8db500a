"""uniad/bench/bench_generate.py: every comparison decodes the same samples with identical
ids, a difference fails the run, and the batch-1 figure is set against the bandwidth bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig

from uniad.bench import bench_generate as bench
from uniad.config import GenerationConfig
from uniad.model.tiny import TINY_LLAMA

@pytest.fixture(autouse=True)
def keep_threads():
    """main() sets torch's thread count for the process; give the next tests theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


SMALL = ["--samples", "4", "--batch-size", "4", "--max-new-tokens", "5", "--rounds", "1", "--threads", "1"]


def test_ours_and_each_baseline_give_identical_ids(tmp_path: Path, capsys) -> None:
    out = tmp_path / "generate.json"
    assert bench.main(["--llm", "tiny", *SMALL, "--hbm-gbs", "10", "--json", str(out)]) == 0
    (result,) = json.loads(out.read_text())["results"]
    comparisons = result["comparisons"]
    assert {c["baseline"] for c in comparisons.values()} == {"release-pattern", "hf-generate"}
    for c in comparisons.values():
        assert c["identical_ids"] == c["samples"] == 4
        assert c["speedup_ads"] == pytest.approx(c["ours"]["ads_per_second"] / c[c["baseline"]]["ads_per_second"])
    one = result["batch1_decode"]
    assert one["bound_tokens_per_second"] == pytest.approx(10e9 / one["weight_bytes_per_token"])
    printed = capsys.readouterr().out
    assert "| beam, hf432 rules | ours, batch 4 |" in printed and "bounds it at" in printed


def test_different_ids_fail_the_run(monkeypatch, capsys) -> None:
    """The equality check is real: a decoder that writes other ids makes the bench fail."""
    monkeypatch.setattr(bench, "ours", lambda model, gen: lambda samples: [[7] for _ in samples])
    assert bench.main(["--llm", "tiny", *SMALL]) == 1
    assert "ids differ from the baseline" in capsys.readouterr().err


def test_weight_bytes_count_what_a_step_reads() -> None:
    """The input embedding table is looked up, not read, unless the head shares it."""
    model = bench.build_model("tiny", seed=0)
    llm = model.llm
    everything = sum(p.numel() * p.element_size() for p in llm.parameters())
    embedding = llm.get_input_embeddings().weight
    assert bench.weight_bytes_per_token(model) == everything - embedding.numel() * 4


def test_random_7b_shape_is_built_on_the_device_in_the_dtype(monkeypatch) -> None:
    """The GPU benchmark's model, at a small stand-in shape (the real one needs 13 GB)."""
    monkeypatch.setattr(bench, "llama2_7b_config", lambda: LlamaConfig(**{**TINY_LLAMA, "vocab_size": 600}))
    model = bench.build_model(bench.RANDOM_7B, seed=0, dtype=torch.bfloat16)
    assert model.llm.get_input_embeddings().weight.dtype == torch.bfloat16
    assert model.llm.get_input_embeddings().num_embeddings == 600
    samples = bench.make_samples(2, seed=0)
    ids = model.generate_ids(samples, GenerationConfig(num_beams=2, max_new_tokens=3, batch_size=2))
    assert len(ids) == 2
