"""Character bank: safetensors round trip, safe legacy import, cast files, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from uniad.data.charbank import (
    CharacterBank,
    convert_legacy_bank,
    legacy_key,
    load_legacy_exemplars,
    read_cast_json,
    read_chars_mapping,
    validate_bank,
)
from uniad.data.schema import Character
from uniad.errors import DataError

TVAD_CAST = Path("/work/shared/data/tvad_sample/tvad_charbank.sample.json")
D = 8



@pytest.fixture()
def tensors() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "movie_A/nm001": torch.randn(1, D, generator=gen),
        "nm001": torch.randn(32, D, generator=gen).half(),
        "nm002": torch.randn(32, D, generator=gen),
    }


@pytest.fixture()
def cast() -> dict[str, list[Character]]:
    return {"movie_A": [
        Character("nm001", "Jennifer Aniston", "Rachel Green", short_name="Rachel",
                  gender="female"),
        Character("nm002", "Matt LeBlanc", "Joey Tribbiani"),
    ]}


class _MarkerWriter:
    """Pickles to a call that would create ``marker`` when unpickled by plain pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_save_load_round_trip_is_bit_identical(tmp_path, tensors, cast):
    path = CharacterBank.from_tensors(tensors, cast).save(tmp_path / "bank.safetensors")
    bank = CharacterBank.load(path)
    assert sorted(bank.keys()) == sorted(tensors) and len(bank) == 3
    for key, value in tensors.items():
        got = bank._exemplars[key]
        assert got.dtype == value.dtype and torch.equal(got, value)
    assert bank.cast("movie_A") == cast["movie_A"]
    assert bank.cast("unknown") == []
    assert bank.feature_dim == D


def test_exemplar_lookup_prefers_the_movie_scope(tensors):
    bank = CharacterBank.from_tensors({**tensors, "nm003.jpg": torch.zeros(32, D)})
    assert torch.equal(bank.exemplar("movie_A", "nm001"), tensors["movie_A/nm001"])
    assert torch.equal(bank.exemplar("movie_B", "nm001"), tensors["nm001"])  # global
    assert torch.equal(bank.exemplar("movie_B", "nm003"), torch.zeros(32, D))
    assert bank.exemplar("movie_A", "nm999") is None


def test_bank_refuses_bad_exemplars(tensors):
    with pytest.raises(DataError, match="NaN") as info:
        CharacterBank.from_tensors({"x": torch.full((1, D), float("nan"))})
    assert info.value.problem.record == "x"
    with pytest.raises(DataError, match="width 4 differs from 8"):
        CharacterBank.from_tensors({**tensors, "narrow": torch.zeros(1, 4)})
    with pytest.raises(DataError, match=r"\(K, D\)"):
        CharacterBank.from_tensors({"flat": torch.zeros(D)})


def test_legacy_keys():
    assert legacy_key("3001_21_JUMP_STREET_nm0000123") == "3001_21_JUMP_STREET/nm0000123"
    assert legacy_key("1234_nm_movie_nm0000001") == "1234_nm_movie/nm0000001"
    assert legacy_key("nm0000098.jpg") == "nm0000098"


def test_legacy_import_and_conversion(tmp_path, tensors):
    legacy = {
        "3001_21_JUMP_STREET_nm0000123": tensors["movie_A/nm001"],  # MAD style, [1, D]
        "nm0000098.jpg": tensors["nm002"],  # CMD/TV style, [32, D]
    }
    src = tmp_path / "MAD_examplers.pth.tar"
    torch.save(legacy, src)
    loaded = load_legacy_exemplars(src)
    assert set(loaded) == set(legacy)
    out = convert_legacy_bank(src, tmp_path / "bank.safetensors", cast=TVAD_CAST)
    bank = CharacterBank.load(out)
    assert sorted(bank.keys()) == ["3001_21_JUMP_STREET/nm0000123", "nm0000098"]
    assert torch.equal(bank.exemplar("3001_21_JUMP_STREET", "nm0000123"), legacy[
        "3001_21_JUMP_STREET_nm0000123"])
    assert torch.equal(bank.exemplar("friends_s01e01", "nm0000098"), legacy["nm0000098.jpg"])
    assert bank.cast("tt0583459")[0].role == "Rachel Green"
    # the legacy file also loads directly (safely) as a bank
    assert sorted(CharacterBank.load(src).keys()) == sorted(bank.keys())


def test_legacy_colliding_keys_are_refused(tmp_path):
    src = tmp_path / "dup.pth.tar"
    torch.save({"nm1.jpg": torch.zeros(1, D), "nm1": torch.ones(1, D)}, src)
    with pytest.raises(DataError, match="both map to 'nm1'"):
        convert_legacy_bank(src, tmp_path / "out.safetensors")


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    src = tmp_path / "chars_all_videollama.pth.tar"
    torch.save({"nm1.jpg": torch.zeros(1, D), "evil": _MarkerWriter(marker)}, src)  # unsafe-ok
    assert not marker.exists()
    with pytest.raises(DataError) as info:
        load_legacy_exemplars(src)
    message = str(info.value)
    assert "Python objects other than tensors and was not loaded" in message
    assert str(src) in message
    assert "weights_only" not in message and "safe_globals" not in message  # no bypass advice
    assert not marker.exists()
    [problem] = validate_bank(src)
    assert "other than tensors" in problem.message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "words", "record"),
    [
        ([torch.zeros(1, D)], "expected a dict", None),
        ({"a": {"b": torch.zeros(1, D)}}, "expected a tensor, got dict", "a"),
        ({"a": 3}, "expected a tensor, got int", "a"),
        ({1: torch.zeros(1, D)}, "expected string keys", None),
    ],
)
def test_legacy_non_tensor_content_is_refused(tmp_path, content, words, record):
    src = tmp_path / "odd.pth.tar"
    torch.save(content, src)
    with pytest.raises(DataError, match=words) as info:
        load_legacy_exemplars(src)
    assert info.value.problem.record == record
    assert info.value.problem.file == str(src)


def test_read_real_tvad_cast():
    cast = read_cast_json(TVAD_CAST)
    raw = json.loads(TVAD_CAST.read_text())
    assert list(cast) == list(raw)  # every episode, in file order
    first = cast["tt0583459"][0]
    assert (first.id, first.name, first.role) == ("nm0000098", "Jennifer Aniston", "Rachel Green")
    assert first.display_name == "Rachel"  # role's first word when no short name is known
    bank = CharacterBank.load(TVAD_CAST)
    assert len(bank) == 0 and bank.feature_dim is None
    assert bank.cast("tt0583459") == cast["tt0583459"]


def test_cast_json_errors_name_the_entry(tmp_path):
    path = tmp_path / "cast.json"
    path.write_text(json.dumps({"tt1": [{"id": "nm1", "name": "A", "role": "B"},
                                        {"name": "C", "role": "D"}]}))
    with pytest.raises(DataError) as info:
        read_cast_json(path)
    assert (info.value.problem.record, info.value.problem.field) == ("tt1", "[1].id")


def test_read_chars_mapping(tmp_path):
    path = tmp_path / "TV_chars_mapping.json"
    path.write_text(json.dumps({
        "nm0000098": {"char_in_ad": "Rachel", "name": "Jennifer Aniston", "role": "Rachel Green"},
        "nm0001435": {"name": "Lisa Kudrow", "role": "Phoebe Buffay"},
        "nm0000001": {"name": "X", "role": "Y", "char_in_ad": None},
    }))
    mapping = read_chars_mapping(path)
    rachel = mapping["nm0000098"]
    assert (rachel.id, rachel.role, rachel.short_name) == ("nm0000098", "Rachel Green", "Rachel")
    assert mapping["nm0001435"].short_name == "" and mapping["nm0000001"].short_name == ""
    path.write_text(json.dumps({"nm1": ["not", "an", "object"]}))
    with pytest.raises(DataError, match="expected an object") as info:
        read_chars_mapping(path)
    assert info.value.problem.record == "nm1"


def test_validate_bank_reports_problems(tmp_path, tensors):
    good = CharacterBank.from_tensors(tensors).save(tmp_path / "good.safetensors")
    assert validate_bank(good) == []
    bad = tmp_path / "bad.safetensors"
    save_file({
        "ok": torch.zeros(1, D),
        "nan": torch.tensor([[0.0, float("nan")] * (D // 2)]),
        "flat": torch.zeros(D),
        "narrow": torch.zeros(2, 4),
    }, str(bad))
    problems = {p.record: p.message for p in validate_bank(bad)}
    assert set(problems) == {"nan", "flat", "narrow"}
    assert "NaN" in problems["nan"] and "(K, D)" in problems["flat"]
    assert "width 4" in problems["narrow"]
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 16)
    [problem] = validate_bank(junk)
    assert "cannot read as safetensors" in problem.message


def test_corrupt_cast_metadata_is_reported(tmp_path):
    path = tmp_path / "bank.safetensors"
    save_file({"nm1": torch.zeros(1, D)}, str(path), metadata={"cast": "{not json"})
    with pytest.raises(DataError, match="cast metadata") as info:
        CharacterBank.load(path)
    assert info.value.problem.field == "cast"
