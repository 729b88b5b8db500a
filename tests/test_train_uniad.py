"""`uniad train` on the tiny UniAD and a small synthetic world: runs, resumes exactly, reloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from uniad.cli import main
from uniad.world.synthetic import make_world
from uniad.model.uniad import UniAD
from uniad.train import checkpoint as ckpt



@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    make_world(out, movies=3, dim=16, eval_movies=1)
    return out


def _train(world: Path, out: Path, *extra: str) -> int:
    settings = ["model.llm=tiny", "model.feature_dim=16", "model.perceiver_head_dim=16",
                "train.batch_size=2", "train.grad_accum=2", "train.max_steps=4",
                "train.warmup_steps=1", "train.log_every=1", "train.eval_every=2"]
    argv = ["train", "--preset", "demo", "--out", str(out),
            "--train-data", str(world / "train.json"), "--val-data", str(world / "eval.json"),
            "--features", str(world / "features.h5"), "--bank", str(world / "charbank.safetensors")]
    for item in settings:
        argv += ["--set", item]
    return main(argv + list(extra))


def test_tokenizer_corpus_holds_what_the_llm_reads(world: Path) -> None:
    """The tiny tokenizer is trained on the prompt's character lines too, so a character
    line is not split into single bytes."""
    from uniad.config import load_config
    from uniad.model.llm import load_llm
    from uniad.model.sequence import character_text
    from uniad.data.splits import open_split
    from uniad.train.data import tokenizer_corpus

    config = load_config("demo", None, ["model.feature_dim=16", "model.character_line=played_by",
                                        "model.context_line=labelled"])
    dataset = open_split(world / "train.json", world / "features.h5", world / "charbank.safetensors",
                         config.data, training=True, seed=0)
    corpus = tokenizer_corpus(dataset.events, config)
    event = dataset.events[1]
    line = character_text(event.candidates[0])
    assert event.text in corpus and line in corpus and "Possible characters:" in corpus
    assert f'Previous AD: "{event.context[0].text}"' in corpus
    assert corpus == tokenizer_corpus(dataset.events, config)  # same data, same tokenizer
    # The shorter lines are what the LLM then reads, so they are what the tokenizer learns.
    short = tokenizer_corpus(dataset.events, load_config(
        "demo", None, ["model.character_line=role", "model.context_line=quoted"]))
    assert event.candidates[0].role in short and line not in short
    assert f'"{event.context[0].text}"' in short and f'Previous AD: "{event.context[0].text}"' not in short
    _, trained = load_llm("tiny", corpus=corpus)
    _, ads_only = load_llm("tiny", corpus=[e.text for e in dataset.events])
    assert len(trained(line)["input_ids"]) <= 0.75 * len(ads_only(line)["input_ids"])


def test_tiny_uniad_trains_resumes_bitwise_and_reloads(world: Path, tmp_path: Path) -> None:
    straight, sliced = tmp_path / "straight", tmp_path / "sliced"
    assert _train(world, straight) == 0
    assert _train(world, sliced, "--stop-at-step", "1") == 0  # mid-epoch, grad_accum 2
    assert not (sliced / "final").exists()
    assert _train(world, sliced, "--resume") == 0

    a = load_file(str(straight / "final" / ckpt.WEIGHTS))
    b = load_file(str(sliced / "final" / ckpt.WEIGHTS))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # lora dropout on: RNG restored

    records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4]
    assert [r["step"] for r in records if r["split"] == "val"] == [2, 4]
    assert (straight / "config.yaml").is_file() and (straight / "run.json").is_file()

    model = UniAD.from_pretrained(straight / "final")
    reloaded = model.trainable_state_dict()
    assert all(torch.equal(reloaded[k].cpu(), a[k]) for k in a)
