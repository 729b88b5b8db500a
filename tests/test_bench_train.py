"""uniad/bench/bench_train.py: the figures it reports agree with the samples it timed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from uniad.world.synthetic import make_world
from uniad.errors import UniADError
from uniad.model.sequence import sequence_length
from uniad.model.uniad import previous_ad
from uniad.train.data import build_for_training
from uniad.train.distributed import epoch_order, init_distributed
from uniad.bench import bench_train as bench
from uniad.world.training import open_world_split


BATCH, WARMUP, STEPS = 3, 1, 2



@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    make_world(out, movies=3, dim=64, eval_movies=1, events_min=8, events_max=10)
    return out


def _dataset(world: Path):
    return open_world_split(world, bench.bench_config([], 1, False, seed=0), "train")


def _timed_samples(world: Path, batch_size: int):
    """The samples the timed steps read, worked out from the loop's epoch order (the
    warm-up's batches come first), and the tiny model's tokenizer for them."""
    config = bench.bench_config([], batch_size, False, seed=0)
    model, dataset = build_for_training(*bench.world_paths(world), config)
    order = epoch_order(len(dataset), init_distributed("cpu"), config.train.seed, 0)
    timed = order[WARMUP * batch_size : (WARMUP + STEPS) * batch_size]
    return [dataset[i] for i in timed], model


def test_training_figures_match_the_timed_samples(world: Path) -> None:
    r = bench.measure_training(world, batch_size=BATCH, steps=STEPS, warmup=WARMUP)
    assert (r["batch_size"], r["steps"], r["threads"], r["gradient_checkpointing"]) == (BATCH, STEPS, 1, False)
    assert r["samples"] == BATCH * STEPS  # warm-up batches are not counted

    samples, model = _timed_samples(world, BATCH)
    tokenizer = model.tokenizer
    # Target = the AD's own ids + the end token; counted here with the tokenizer directly.
    target = sum(len(tokenizer(s.target, add_special_tokens=False)["input_ids"]) + 1 for s in samples)
    sequence = sum(sequence_length(model.builder.build(s)) for s in samples)
    assert r["mean_target_tokens"] == pytest.approx(target / len(samples))
    assert r["mean_sequence_tokens"] == pytest.approx(sequence / len(samples))
    assert r["target_tokens_per_s"] == pytest.approx(r["samples_per_s"] * target / len(samples))
    assert r["sequence_tokens_per_s"] == pytest.approx(r["samples_per_s"] * sequence / len(samples))
    assert r["samples_per_s"] == pytest.approx(r["samples"] / r["seconds"])
    assert r["seconds_per_step"] * STEPS == pytest.approx(r["seconds"])
    assert 0 <= r["padding_share"] < 1
    # In this process earlier tests may have left freed pages resident, which training then
    # reuses: the extra peak can be 0 here (the bench measures each setting in a fresh child).
    assert r["peak_extra_mib"] >= 0 and r["baseline_rss_mib"] > 0
    assert 0 < r["trainable_parameters"] < r["parameters"]  # the LLM's own weights stay frozen


def test_batch_one_has_no_padding_and_checkpointing_is_reported(world: Path) -> None:
    r = bench.measure_training(world, batch_size=1, checkpointing=True, steps=STEPS, warmup=WARMUP)
    assert (r["batch_size"], r["samples"], r["gradient_checkpointing"]) == (1, STEPS, True)
    assert r["padding_share"] == 0


def test_data_path_reads_what_was_asked(world: Path) -> None:
    r = bench.measure_data(world, batch_size=BATCH, samples=2 * BATCH, warmup=WARMUP)
    assert (r["kind"], r["samples"], r["batch_size"]) == ("data", 2 * BATCH, BATCH)
    assert r["samples_per_s"] == pytest.approx(r["samples"] / r["seconds"])


def test_too_small_a_world_is_refused_before_training(world: Path) -> None:
    with pytest.raises(UniADError, match="--movies"):
        bench.measure_training(world, batch_size=8, steps=50, warmup=1)


def test_child_mode_prints_one_setting_as_json(world: Path, capsys: pytest.CaptureFixture) -> None:
    spec = {"kind": "data", "batch_size": 2, "threads": 1}
    argv = ["--world", str(world), "--steps", "2", "--warmup", "1", "--batch-sizes", "1", "2",
            "--child", json.dumps(spec)]
    assert bench.main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Default data pass: the rest of the epoch after one warm-up batch of 2.
    assert (out["kind"], out["batch_size"], out["samples"]) == ("data", 2, len(_dataset(world)) - 2)


def _run(batch: int, threads: int, checkpointing: bool, rate: float, step_s: float, mib: float) -> dict:
    return {"kind": "train", "batch_size": batch, "threads": threads,
            "gradient_checkpointing": checkpointing, "samples_per_s": rate,
            "seconds_per_step": step_s, "peak_extra_mib": mib}


def test_ratios_compare_the_right_settings() -> None:
    results = [
        _run(1, 1, False, 10.0, 0.1, 20.0), _run(8, 1, False, 40.0, 0.2, 40.0),
        _run(8, 2, False, 60.0, 0.133, 40.0), _run(8, 1, True, 30.0, 0.3, 10.0),
        {"kind": "data", "batch_size": 8, "samples_per_s": 400.0, "peak_extra_mib": 0.0},
    ]
    figures = {key: value for key, _, value in bench.ratios(results)}
    assert figures["batching_b8_vs_b1_t1"] == pytest.approx(4.0)
    assert figures["threads_t2_vs_t1_b8"] == pytest.approx(1.5)
    assert "batching_b8_vs_b1_t2" not in figures  # batch 1 was not run on 2 threads
    assert figures["checkpointing_memory_b8_t1"] == pytest.approx(0.25)
    assert figures["checkpointing_time_b8_t1"] == pytest.approx(1.5)
    assert figures["data_share_b8_t1"] == pytest.approx(0.1)


def test_hinge_step_is_timed_in_both_states_three_ways(world: Path) -> None:
    """The contrastive step figure: each hinge state found in the world is timed with the
    shared pass, the release's two passes and the plain step, and the ratios come from them."""
    r = bench.measure_hinge(world, batch_size=BATCH, steps=1, warmup=1)
    states = {k.split("_")[0] for k in r if k.endswith("_samples_per_s")}
    assert states and states <= {"inactive", "active"}
    for state in states:
        for name in ("shared", "separate", "release", "plain"):
            assert r[f"{state}_{name}_samples_per_s"] > 0
    ratios = {key: value for key, _, value in bench.ratios([r])}
    for state in states:
        for other in ("release", "separate", "plain"):
            assert ratios[f"hinge_{state}_shared_vs_{other}"] == pytest.approx(
                r[f"{state}_shared_samples_per_s"] / r[f"{state}_{other}_samples_per_s"])
    assert r["mean_sequence_tokens"] > 60  # the release's 30 video slots and more
    # 0-3 characters of 30 slots each: prompts differ by more than 60 positions, padding shows
    assert r["character_spread"] == [0, 1, 2, 3]
    assert r["max_sequence_tokens"] - r["min_sequence_tokens"] > 60
    assert 0.1 < r["release_padding_share"] < 0.6 and 0 < r["negative_share"] < 0.3


def test_release_step_equals_the_shared_step_in_loss(world: Path) -> None:
    """The bench's rebuilt release step (logits on every position, the model called twice)
    computes the same CE and loss as the shared-prompt step on a batch with MAD's spread of
    characters (0-3), every sample with a negative (the release had one for each)."""
    config = bench.bench_config([*bench.RELEASE_SLOTS, "model.contrastive_loss=true", "model.lora_dropout=0"],
                                BATCH, False, 0)
    model, dataset = bench.build_for_training(*bench.world_paths(world), config)
    model.train()
    pool = [c for i in range(len(dataset)) for c in dataset[i].characters]
    batch = bench.spread_characters([s for s in dataset if previous_ad(s)][:BATCH], pool)
    assert [len(s.characters) for s in batch] == [bench.CHARACTER_SPREAD[i % 4] for i in range(BATCH)]
    with torch.no_grad():
        want = bench.loss_of(model, batch, "release")
        got = bench.loss_of(model, batch, "shared")
        plain = bench.loss_of(model, batch, "plain")
        ce = bench.release_ce(model, batch)
    torch.testing.assert_close(plain, ce, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert plain <= got
