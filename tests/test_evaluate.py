"""`uniad evaluate`: outputs, resumability, synthetic name/pronoun accuracy, clear failures."""

from __future__ import annotations

import csv
import dataclasses
import json
from unittest import mock

import pytest
import torch

from uniad.cli import main
from uniad.config import load_config
from uniad.data.dataset import ADDataset
from uniad.data.formats import read_annotations
from uniad.world.synthetic import EventTruth, load_world_truth, make_world
from uniad.errors import UniADError
from uniad.eval.evaluate import LINES_FILE, evaluate, read_lines
from uniad.eval.scoring import ScoreOptions
from uniad.world.accuracy import WorldScorer, judge, synthetic_accuracy
from uniad.model.uniad import UniAD
from uniad.data.splits import open_split

DIM = 16
SIZES = ["model.llm=tiny", f"model.feature_dim={DIM}", "model.perceiver_head_dim=16",
         "generation.max_new_tokens=6", "generation.num_beams=1"]
OPTIONS = ScoreOptions(metrics=("cider", "bleu", "rouge"), tokenizer="python")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("eval")
    world = root / "world"
    make_world(world, movies=3, dim=DIM, eval_movies=2, events_min=4, events_max=5)
    config = load_config("demo", overrides=SIZES)
    corpus = [e.text for e in read_annotations(world / "train.json").events]  # tiny tokenizer
    model = UniAD.build(config, corpus=corpus)
    model.save_pretrained(root / "run" / "final")
    dataset = open_split(world / "eval.json", world / "features.h5", world / "charbank.safetensors",
                         config.data, training=False, seed=0)
    yield root, world, model, dataset
    torch.set_num_threads(threads)


def test_cli_writes_every_output(setup, tmp_path):
    root, world, _, dataset = setup
    out = tmp_path / "out"
    code = main(["evaluate", "--checkpoint", str(root / "run"), "--data", str(world / "eval.json"),
                 "--features", str(world / "features.h5"), "--bank", str(world / "charbank.safetensors"),
                 "--out", str(out), "--metrics", "cider,rouge", "--tokenizer", "python",
                 "--batch-size", "3"])
    assert code == 0
    predictions = json.loads((out / "predictions.json").read_text())
    assert list(predictions) == [e.uid for e in dataset.events]
    scores = json.loads((out / "scores.json").read_text())
    assert {"CIDEr", "ROUGE-L", "NameAcc", "PronounAcc"} <= set(scores["scores"])  # world auto-detected
    assert scores["settings"]["checkpoint"] == str(root / "run" / "final")
    assert scores["settings"]["batch_size"] == 3
    assert scores["counts"]["predictions"] == len(dataset)
    assert scores["settings"]["data_settings"]["video_length"] == 8  # the checkpoint's data config
    report = (out / "report.md").read_text()
    assert "## Best" in report and "## Worst" in report and "- reference:" in report
    with (out / "per_movie.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["movie"] for r in rows) == sorted({e.video_id for e in dataset.events})
    assert sum(int(r["n"]) for r in rows) == len(dataset)
    assert all(r["NameAcc n"] for r in rows)


def test_interrupted_run_resumes_and_matches(setup, tmp_path):
    _, world, model, dataset = setup
    truth = load_world_truth(world)
    full = evaluate(model, dataset, tmp_path / "full", options=OPTIONS, scorers=[WorldScorer(truth)], batch_size=2)

    real, calls = model.generate, []

    def crash_after_two(samples, generation=None, **kw):
        if len(calls) == 2:
            raise RuntimeError("killed")
        calls.append([s.sample_id for s in samples])
        return real(samples, generation, **kw)

    with mock.patch.object(model, "generate", side_effect=crash_after_two), pytest.raises(RuntimeError):
        evaluate(model, dataset, tmp_path / "cut", options=OPTIONS, scorers=[WorldScorer(truth)], batch_size=2)
    kept = [r["uid"] for r in read_lines(tmp_path / "cut" / LINES_FILE)]
    assert kept == calls[0] + calls[1]  # both finished batches are on disk

    rerun_calls = []
    with mock.patch.object(model, "generate", side_effect=lambda s, g=None, **kw: (
            rerun_calls.extend(x.sample_id for x in s), real(s, g, **kw))[1]):
        resumed = evaluate(model, dataset, tmp_path / "cut", options=OPTIONS, scorers=[WorldScorer(truth)], batch_size=2)
    assert rerun_calls == [e.uid for e in dataset.events if e.uid not in kept]
    assert resumed.generated_now == len(dataset) - len(kept)
    assert resumed.predictions == full.predictions
    assert resumed.scores == full.scores
    # pooled CIDEr-D is the mean of the per-sample scores: per-movie means are consistent
    per_sample = list(full.sample_cider.values())
    assert sum(per_sample) / len(per_sample) == pytest.approx(full.scores["CIDEr"])


def test_limit_then_extend_and_settings_guard(setup, tmp_path):
    _, _, model, dataset = setup
    first = evaluate(model, dataset, tmp_path, options=OPTIONS, limit=3)
    assert list(first.predictions) == [e.uid for e in dataset.events[:3]]
    assert first.counts["left out by --limit"] == len(dataset) - 3
    with (tmp_path / LINES_FILE).open("a") as handle:
        handle.write('{"uid": "torn')  # a crash in the middle of a write
    second = evaluate(model, dataset, tmp_path, options=OPTIONS, limit=5)
    assert second.generated_now == 2 and len(second.records) == 5
    greedy = dataclasses.replace(model.config.generation, max_new_tokens=3)
    with pytest.raises(UniADError, match="other settings.*decoding"):
        evaluate(model, dataset, tmp_path, options=OPTIONS, generation=greedy)
    fresh = evaluate(model, dataset, tmp_path, options=OPTIONS, generation=greedy, limit=2, resume=False)
    assert fresh.generated_now == 2


def test_features_of_another_width_fail_clearly(setup, tmp_path):
    _, _, model, _ = setup
    make_world(tmp_path, movies=2, dim=8, events_min=4, events_max=5)
    narrow = open_split(tmp_path / "eval.json", tmp_path / "features.h5", None, model.config.data,
                        training=False, seed=0)
    with pytest.raises(UniADError, match=f"width {DIM}.*width 8"):
        evaluate(model, narrow, tmp_path / "out", options=OPTIONS)


def truth(uid, name, gender, pronoun):
    return EventTruth(uid=uid, movie_id="m", subject_id="c1", subject_name=name, gender=gender,
                      uses_pronoun=pronoun, action="opens", object="the door", bystander_id=None)


def test_name_and_pronoun_judgements():
    assert judge("Anna opens the door.", truth("a", "Anna", "female", False)).correct
    assert not judge("Lucy opens the door.", truth("a", "Anna", "female", False)).correct
    assert not judge("Annabel opens the door.", truth("a", "Anna", "female", False)).correct
    assert judge("She opens the door.", truth("a", "Anna", "female", True)).correct
    assert not judge("He opens the door.", truth("a", "Anna", "female", True)).correct
    assert not judge("Anna opens the door.", truth("a", "Anna", "female", True)).correct
    assert judge("he lifts the box.", truth("a", "Tom", "male", True)).correct
    assert not judge("Then he looks at her, she smiles.", truth("a", "Tom", "male", True)).correct
    said = judge("Anna OPENS the door.", truth("a", "Anna", "female", False))
    assert said.action and said.object
    wrong = judge("Anna reopens the doors.", truth("a", "Anna", "female", False))
    assert not wrong.action and not wrong.object


def test_synthetic_accuracy_counts_each_kind():
    world = {"1": truth("1", "Anna", "female", False), "2": truth("2", "Tom", "male", False),
             "3": truth("3", "Anna", "female", True), "4": truth("4", "Tom", "male", True),
             "5": truth("5", "Tom", "male", True)}
    predictions = {"1": "Anna opens the door.", "2": "Anna waves.", "3": "She opens a door.",
                   "4": "She waves.", "5": "Tom waves at the door.", "other": "He waves."}
    assert synthetic_accuracy(predictions, world) == {
        "NameAcc": 50.0, "NameAcc n": 2, "PronounAcc": 100.0 / 3, "PronounAcc n": 3,
        "ActionAcc": 40.0, "ActionAcc n": 5, "ObjectAcc": 40.0, "ObjectAcc n": 5}
    assert synthetic_accuracy({"1": "Anna waves."}, world) == {
        "NameAcc": 100.0, "NameAcc n": 1, "PronounAcc n": 0,
        "ActionAcc": 0.0, "ActionAcc n": 1, "ObjectAcc": 0.0, "ObjectAcc n": 1}


def test_dropped_samples_are_listed_with_reasons(setup, tmp_path):
    _, _, model, dataset = setup
    ghost = dataclasses.replace(dataset.events[0], video_id="ghost", uid="ghost#0")
    with_ghost = ADDataset([*dataset.events[:2], ghost], dataset.features, dataset.bank,
                           dataset.config, training=False)
    result = evaluate(model, with_ghost, tmp_path, options=OPTIONS)
    assert list(result.predictions) == [e.uid for e in dataset.events[:2]]
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["counts"]["dropped by the dataset"] == 1
    assert scores["dropped"][0]["uid"] == "ghost#0" and "ghost" in scores["dropped"][0]["reason"]
    assert "## Dropped samples (1)\n\n- ghost#0: " in (tmp_path / "report.md").read_text()


def test_release_lora_is_a_switch_at_evaluation_and_the_report_says_which_ran(setup, tmp_path):
    """``--set model.release_lora=shipped`` turns the checkpoint's adapters off: the ADs
    equal those of the same run with its LoRA zeroed; report.md names the setting."""
    root, world, model, _ = setup
    run = tmp_path / "run"
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    model.save_pretrained(run)
    common = ["evaluate", "--data", str(world / "eval.json"), "--features", str(world / "features.h5"),
              "--bank", str(world / "charbank.safetensors"), "--metrics", "cider",
              "--tokenizer", "python", "--limit", "4"]
    assert main([*common, "--checkpoint", str(run), "--out", str(tmp_path / "active")]) == 0
    assert main([*common, "--checkpoint", str(run), "--out", str(tmp_path / "shipped"),
                 "--set", "model.release_lora=shipped"]) == 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.zero_()
    model.save_pretrained(tmp_path / "bare")
    assert main([*common, "--checkpoint", str(tmp_path / "bare"), "--out", str(tmp_path / "bare_out")]) == 0
    read = lambda name: json.loads((tmp_path / name / "predictions.json").read_text())
    assert read("shipped") == read("bare_out") != read("active")
    assert "model.release_lora=shipped" in (tmp_path / "shipped" / "report.md").read_text()
    assert "model.release_lora=active" in (tmp_path / "active" / "report.md").read_text()
    assert main([*common, "--checkpoint", str(run), "--out", str(tmp_path / "x"),
                 "--set", "model.num_latents=3"]) == 2
