"""uniad/bench/bench_learn.py: each model of the table trains with its own switches and the
same budget, and the table reports what the evaluation measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from uniad.world.synthetic import load_world
from uniad.bench import bench_learn as bench
from uniad.world.training import chance_name_accuracy




def test_bench_learn_trains_each_variant_and_reports_its_scores(tmp_path: Path, capsys) -> None:
    out = tmp_path / "learn"
    argv = ["--llm", "tiny", "--steps", "3", "--movies", "3", "--eval-movies", "1",
            "--events", "6,8", "--out", str(out), "--set", "train.batch_size=2"]
    assert bench.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    rows = {r["variant"]: r for r in results["rows"]}
    assert set(rows) == set(bench.VARIANTS)
    for name, row in rows.items():
        assert row["steps"] == 3  # same budget for every model
        config = yaml.safe_load((out / name.replace(" ", "_") / "run" / "config.yaml").read_text())
        assert config["model"]["use_characters"] == (name != "no bank")
        assert config["model"]["use_context_ads"] == (name != "no context")
        assert config["model"]["use_previous_video"] == (name != "no context")
        scores = json.loads((out / name.replace(" ", "_") / "eval" / "scores.json").read_text())
        assert row["name_accuracy"] == scores["scores"]["NameAcc"]
        assert row["pronoun_accuracy"] == scores["scores"]["PronounAcc"]
    printed = capsys.readouterr().out
    assert "| full |" in printed and "| no bank |" in printed and "chance" in printed
    assert (out / "table.md").read_text().strip() in printed


def test_chance_is_the_mean_inverse_cast_size_over_naming_ads(tmp_path: Path) -> None:
    from uniad.world.synthetic import make_world

    make_world(tmp_path, movies=4, eval_movies=2, events_min=6, events_max=9, cast_min=2,
               cast_max=5)
    record = load_world(tmp_path)
    held_out = {m: len(v["cast"]) for m, v in record["movies"].items() if v["split"] == "eval"}
    naming = [e for e in record["events"].values()
              if e["movie_id"] in held_out and not e["uses_pronoun"]]
    by_movie = {m: sum(e["movie_id"] == m for e in naming) for m in held_out}
    expected = 100 * sum(by_movie[m] / held_out[m] for m in held_out) / len(naming)
    assert chance_name_accuracy(tmp_path) == pytest.approx(expected)
    assert 100 / 5 <= chance_name_accuracy(tmp_path) <= 100 / 2
