"""`uniad score` end to end: good inputs give the metric numbers, bad inputs name the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uniad.cli import main
from uniad.eval.coco import coco_scores
from uniad.text import PythonPTBTokenizer

REFS = {"m#0": ["Rachel opens the door."], "m#1": ["Ross sits on the couch."],
        "m#2": ["Monica pours coffee for Joey."]}
PREDS = {"m#0": "Rachel opens a door.", "m#1": "Ross sits down.", "m#2": "Monica pours tea."}
FAST = ["--tokenizer", "python", "--metrics", "bleu,rouge,cider"]


def _write(tmp_path: Path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["score", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_output_equals_the_metric_functions(tmp_path, capsys):
    records = [{"id": k, "prediction": v} for k, v in PREDS.items()]  # list-of-records form
    code, out, _ = _run(capsys, "--pred", _write(tmp_path, "p.json", records),
                        "--ref", _write(tmp_path, "r.json", REFS), "--json", *FAST)
    assert code == 0
    got = json.loads(out)
    expected = coco_scores(PREDS, REFS, PythonPTBTokenizer(), ("bleu", "rouge", "cider"))
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-4)


def test_out_writes_scores_and_report(tmp_path, capsys):
    out_dir = tmp_path / "report"
    refs = {k: v[0] for k, v in REFS.items()}  # {id: text} form
    code, out, _ = _run(capsys, "--pred", _write(tmp_path, "p.json", PREDS),
                        "--ref", _write(tmp_path, "r.json", refs), "--out", str(out_dir),
                        "--metrics", "bleu,recall,chars", "--tokenizer", "python", "--similarity", "lexical")
    assert code == 0 and "| BLEU-4 |" in out
    saved = json.loads((out_dir / "scores.json").read_text())
    assert "R@1/16" in saved["scores"] and "tokenizer: python-ptb" in saved["notes"]
    assert any("lexical" in n for n in saved["notes"])
    assert any("character accuracy unavailable" in n for n in saved["notes"])
    assert "R@5/16" in (out_dir / "report.md").read_text()


def test_annotation_file_as_reference(tmp_path, capsys):
    tvad = {"tvad": [
        {"key_name": "clip_a", "start": 1, "end": 3, "ad": "Rachel opens the door.", "char": [],
         "char_in_ad": ["Rachel"], "char_pred": [], "prob": [], "prob_data": [-1.0]},
        {"key_name": "clip_a", "start": 4, "end": 6, "ad": "She sits down.", "char": [],
         "char_in_ad": [], "char_pred": [], "prob": [], "prob_data": [-1.0]},
    ]}
    preds = {"clip_a#0": "Rachel opens a door.", "clip_a#1": "Rachel sits."}
    code, out, err = _run(capsys, "--pred", _write(tmp_path, "p.json", preds),
                          "--ref", _write(tmp_path, "r.json", tvad), "--json",
                          "--tokenizer", "python", "--metrics", "bleu,critic,chars")
    assert code == 0, err
    got = json.loads(out)
    assert got["CharAcc"] == 100.0 and got["CRITIC"] == 100.0


def test_references_of_annotations_already_read_equal_those_of_the_file(tmp_path, monkeypatch):
    import uniad.data.formats as formats
    from uniad.eval.inputs import load_references

    path = tmp_path / "r.json"
    path.write_text(json.dumps({"tvad": [
        {"key_name": "clip_a", "start": 1, "end": 3, "ad": "Rachel opens the door.", "char": [],
         "char_in_ad": ["Rachel"], "char_pred": [], "prob": [], "prob_data": [-1.0]}]}))
    parses = []
    monkeypatch.setattr(formats.json, "loads", lambda text, f=json.loads: parses.append(1) or f(text))
    from_file = load_references(path)
    assert len(parses) == 1  # parsed once, not again to read the events
    given = load_references(path, formats.read_annotations(path))
    assert len(parses) == 2 and given == from_file


@pytest.mark.parametrize("pred, ref, message", [
    (None, REFS, "file not found"),
    (["just", "strings"], REFS, "expected a record with 'id' and 'prediction'"),
    ({"m#0": "  ", "m#1": "x", "m#2": "y"}, REFS, "empty prediction"),
    ("{not json", REFS, "invalid JSON"),
    (PREDS, ["a", "b"], "r.json: record 0: expected an object"),
    (PREDS, 42, "expected {id: [reference texts]}"),
    (PREDS, {"m#0": [], "m#1": "x", "m#2": "y"}, "record m#0: expected non-empty reference text(s)"),
    ({"m#0": "a", "m#1": "b", "x#9": "c", "y#3": "d"}, REFS, "2 of 4 prediction id(s) are not in"),
    ({"m#0": "a"}, REFS, "2 of 3 reference id(s) have no prediction"),
])
def test_malformed_inputs_exit_nonzero_naming_the_problem(tmp_path, capsys, pred, ref, message):
    pred_path = str(tmp_path / "missing.json") if pred is None else _write(tmp_path, "p.json", pred)
    code, out, err = _run(capsys, "--pred", pred_path, "--ref", _write(tmp_path, "r.json", ref), *FAST)
    assert code == 2 and out == ""
    assert message in err


def test_unknown_metric_and_allow_missing(tmp_path, capsys):
    ref = _write(tmp_path, "r.json", REFS)
    code, _, err = _run(capsys, "--pred", _write(tmp_path, "p.json", PREDS), "--ref", ref, "--metrics", "bleurt")
    assert code == 2 and "unknown metric" in err
    code, out, _ = _run(capsys, "--pred", _write(tmp_path, "p.json", {"m#0": "Rachel opens."}),
                        "--ref", ref, "--allow-missing", *FAST)
    assert code == 0 and "2 of 3 references have no prediction and are left out" in out
