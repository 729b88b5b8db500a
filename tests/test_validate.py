"""`uniad data validate` / `convert-bank`: every problem listed, exit codes, cross-checks."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from uniad.cli import main

TVAD_SAMPLE = Path("/work/shared/data/tvad_sample/tvad_char_refine_eval.sample.json")
CAST_SAMPLE = Path("/work/shared/data/tvad_sample/tvad_charbank.sample.json")



def _run(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = main(["data", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def _char(i: int) -> dict[str, str]:
    return {"id": f"nm{i}", "name": f"Actor {i}", "role": f"Role{i} X"}


def _mad(path: Path, movies: list[str]) -> Path:
    records = [{"start": str(2 * i), "end": str(2 * i + 1), "ad": f"AD {i}.",
                "char": [_char(1), _char(2)], "ad_chars": [_char(1)],
                "ad_chars_in_chars": [_char(1), _char(2)], "context": [], "movie_id": m}
               for i, m in enumerate(movies)]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _h5(path: Path, keys: list[str], nan_in: str | None = None) -> Path:
    with h5py.File(path, "w") as f:
        for key in keys:
            data = np.zeros((6, 4), dtype=np.float32)
            if key == nan_in:
                data[3, 1] = np.nan
            f.create_dataset(key, data=data)
    return path


def test_real_tvad_sample_is_clean(capsys):
    code, out, err = _run(capsys, "validate", str(TVAD_SAMPLE), str(CAST_SAMPLE))
    records = json.loads(TVAD_SAMPLE.read_text(encoding="utf-8"))["tvad"]
    videos = len({r["key_name"] for r in records})
    assert code == 0 and err == ""
    assert out[0] == f"{TVAD_SAMPLE}: OK (tvad, {len(records)} records, {videos} videos)"
    assert out[1].startswith(f"{CAST_SAMPLE}: OK (character bank")


def test_every_problem_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    records = json.loads(_mad(tmp_path / "m.json", ["tt1", "tt1", "tt2"]).read_text())
    records[0]["end"] = "0"  # end <= start
    del records[2]["ad"]
    bad.write_text(json.dumps(records), encoding="utf-8")
    good = _mad(tmp_path / "good.json", ["tt1", "tt2"])
    code, out, err = _run(capsys, "validate", str(bad), str(good))
    assert code == 1
    assert out == [
        f"{bad}: record 0: field 'end': end (0.0) must be after start (0.0)",
        f"{bad}: record 2: field 'ad': missing",
        f"{good}: OK (mad_train, 2 records, 2 videos)",
    ]
    assert "2 problem(s) in 1 of 2 file(s)" in err and "Traceback" not in err


def test_unreadable_files_are_problems_not_tracebacks(tmp_path, capsys):
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"tvad": [{"ad": "\xe9t\xe9"}]}')
    broken = tmp_path / "broken.json"
    broken.write_text('{"tvad": [\n  {"start": 1,, }]}', encoding="utf-8")
    shape = tmp_path / "shape.json"
    shape.write_text('"just text"', encoding="utf-8")
    missing = tmp_path / "missing.json"
    code, out, _ = _run(capsys, "validate", str(latin), str(broken), str(shape), str(missing))
    assert code == 1
    assert out[0].startswith(f"{latin}: not UTF-8 text: byte 0xe9 at byte offset 18")
    assert out[1].startswith(f"{broken}: invalid JSON at line 2, column 15")
    assert out[2].startswith(f"{shape}: expected a JSON list of records (MAD training)")
    assert out[3] == f"{missing}: file not found"


def test_unknown_movie_id_against_feature_store(tmp_path, capsys):
    ann = _mad(tmp_path / "train.json", ["tt1", "tt9", "tt1", "tt9"])
    store = _h5(tmp_path / "feats.h5", ["tt1", "tt2"])
    code, out, _ = _run(capsys, "validate", str(ann), "--features", str(store))
    assert code == 1
    assert out[0].startswith(f"{store}: OK (features, 2 videos")
    assert out[1:] == [f"{ann}: record 1: field 'movie_id': no features for movie 'tt9' in "
                       f"{store} (2 records)"]

    code, out, _ = _run(capsys, "validate", str(_mad(ann, ["tt2", "tt1"])), "--features",
                        str(store))
    assert code == 0 and out[1] == f"{ann}: OK (mad_train, 2 records, 2 videos)"


def test_unknown_clip_key_against_feature_store(tmp_path, capsys):
    records = json.loads(TVAD_SAMPLE.read_text(encoding="utf-8"))["tvad"][:3]
    ann = tmp_path / "tvad.json"
    ann.write_text(json.dumps({"tvad": records}), encoding="utf-8")
    keys = [f"{r['key_name']}_{r['start']}_{r['end']}" for r in records]
    store = _h5(tmp_path / "clips.h5", [keys[0], keys[2]])
    code, out, _ = _run(capsys, "validate", str(ann), "--features", str(store))
    assert code == 1
    assert out[1] == f"{ann}: record 1: field 'key_name': no features for clip " \
                     f"'{keys[1]}' in {store}"


def test_nan_features_are_reported(tmp_path, capsys):
    store = _h5(tmp_path / "nan.h5", ["tt1", "tt2"], nan_in="tt2")
    code, out, _ = _run(capsys, "validate", str(store))
    assert code == 1 and len(out) == 1
    assert out[0].startswith(f"{store}: record tt2:") and "NaN" in out[0]


def test_bank_cross_check_and_convert(tmp_path, capsys):
    import torch

    legacy = tmp_path / "MAD_examplers.pth.tar"
    torch.save({"tt1_nm1": torch.ones(1, 4), "tt1_nm2": torch.zeros(1, 4),
                "tt2_nm1": torch.ones(1, 4)}, legacy)
    bank = tmp_path / "bank.safetensors"
    code, out, _ = _run(capsys, "convert-bank", str(legacy), "--out", str(bank))
    assert code == 0 and bank.is_file()

    ann = _mad(tmp_path / "train.json", ["tt1", "tt2"])  # tt2 lacks nm2's exemplar
    code, out, _ = _run(capsys, "validate", str(ann), "--bank", str(bank))
    assert code == 1
    assert out[0] == f"{bank}: OK (character bank, 3 exemplars, 0 cast lists)"
    assert out[1:] == [f"{ann}: record 1: field 'ad_chars_in_chars[1].id': no exemplar for "
                       f"nm2 (Role2 X) of 'tt2' in {bank}"]

    code, _, err = _run(capsys, "convert-bank", str(legacy), "--out", str(legacy))
    assert code == 2 and "--out must differ" in err


def test_unrecognised_file_and_help(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello", encoding="utf-8")
    code, out, _ = _run(capsys, "validate", str(notes))
    assert code == 1 and "unrecognised file type" in out[0] and ".safetensors" in out[0]

    with pytest.raises(SystemExit) as exc:
        main(["data", "validate", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for words in ("MAD training", '"tvad"|"cmdad"', ".h5", ".pth.tar", "cast .json",
                  "exit status"):
        assert words in text
