"""`uniad demo --quick`: every step runs and leaves files a person can open."""

from __future__ import annotations

import json
from pathlib import Path

import srt

from uniad.cli import main
from uniad.world.synthetic import load_world_truth



def test_quick_demo_trains_evaluates_and_narrates(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--out", str(out), "--steps", "30", "--eval-limit", "6"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "pronoun: previous AD is about" in printed  # the world is shown first
    assert "Generated vs reference" in printed and "Time per step" in printed

    summary = json.loads((out / "demo.json").read_text())
    assert summary["llm"] == "tiny" and summary["steps"] == 30
    assert set(summary["seconds"]) == {"world", "train", "evaluate", "narrate", "total"}
    parts = sum(v for k, v in summary["seconds"].items() if k != "total")
    assert parts <= summary["seconds"]["total"] + 0.1
    for key in ("CIDEr", "NameAcc", "PronounAcc"):
        assert 0 <= summary["scores"][key] <= 100 * 10  # CIDEr x100 may exceed 100

    # Evaluation wrote the first 6 held-out ADs and says how many it left out.
    predictions = json.loads((out / "eval" / "predictions.json").read_text())
    truth = load_world_truth(out)
    held_out = {uid for uid, t in truth.items() if t.movie_id in summary_movies(out)}
    assert len(predictions) == 6 and set(predictions) <= held_out
    assert summary["counts"]["left out by --limit"] == len(held_out) - 6
    assert (out / "eval" / "report.md").is_file() and (out / "run" / "final").is_dir()

    # The narration's cues sit in the sample film's gaps between its dialogue lines.
    narration = summary["outputs"]["narration"]
    assert {"srt", "vtt", "json", "wav", "video"} <= set(narration)
    cues = list(srt.parse(Path(narration["srt"]).read_text()))
    dialogue = list(srt.parse((out / "narration" / "media" / "sample.srt").read_text()))
    assert cues and dialogue
    for cue in cues:
        assert all(cue.end <= line.start or cue.start >= line.end for line in dialogue)


def summary_movies(world: Path) -> set[str]:
    record = json.loads((world / "world.json").read_text())
    return {m for m, v in record["movies"].items() if v["split"] == "eval"}
