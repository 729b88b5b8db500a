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
            "--events", "6,8", "--out", str(out), "--set", "train.batch_size=2",
            "--world-kind", "vector"]
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
        assert row["action_accuracy"] == scores["scores"]["ActionAcc"]
        assert row["object_accuracy"] == scores["scores"]["ObjectAcc"]
    # the shuffled-frames model trained and evaluated on its own copy of the world
    shuffled = out / "shuffled_frames" / "world"
    assert json.loads((out / "shuffled_frames" / "run" / "run.json").read_text())
    assert (shuffled / "features.h5").is_file()
    printed = capsys.readouterr().out
    assert "| full |" in printed and "| no bank |" in printed and "chance" in printed
    assert "| shuffled frames |" in printed
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


def test_shuffled_frames_give_each_event_another_events_frames(tmp_path: Path) -> None:
    import h5py
    import numpy as np

    from uniad.data.formats import read_mad_eval, read_mad_train
    from uniad.world.ablations import shuffle_event_frames
    from uniad.world.synthetic import make_world

    world = tmp_path / "world"
    make_world(world, movies=3, eval_movies=1, events_min=6, events_max=8)
    shuffled = shuffle_event_frames(world, tmp_path / "shuffled")
    events = [*read_mad_train(world / "train.json"), *read_mad_eval(world / "eval.json")]
    with h5py.File(world / "features.h5") as a, h5py.File(shuffled / "features.h5") as b:
        before = {m: a[m][:] for m in a}
        after = {m: b[m][:] for m in b}
    assert before.keys() == after.keys()
    spans = [(e.video_id, round(e.start * 5), round(e.end * 5)) for e in events]
    moved = 0
    for movie, first, last in spans:
        new = after[movie][first:last + 1]
        own = before[movie][first:last + 1]
        moved += not np.array_equal(new, own)
        # every new frame is a frame of some event of the world
        pool = np.concatenate([before[m][f:l + 1] for m, f, l in spans])
        assert all((pool == row).all(axis=1).any() for row in new)
    assert moved >= len(spans) - 2  # a permutation keeps few events in place
    inside = {(m, f) for m, first, last in spans for f in range(first, last + 1)}
    for movie in before:  # the gaps are untouched
        gaps = [f for f in range(len(before[movie])) if (movie, f) not in inside]
        assert np.array_equal(before[movie][gaps], after[movie][gaps])
