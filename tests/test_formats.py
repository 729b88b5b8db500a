"""Readers/writers of the real annotation formats: mapping, lossless round trips, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from uniad.data import formats
from uniad.data.schema import ADEvent, Character
from uniad.errors import DataError

TVAD_SAMPLE = Path("/work/shared/data/tvad_sample/tvad_char_refine_eval.sample.json")


def _char(i: int, **over: str) -> dict[str, str]:
    return {"id": f"nm{i:07d}", "name": f"Actor {i}", "role": f"Role{i} Surname", **over}


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _same_json(a: Path, b: Path) -> bool:
    """Equal values and the same key order (dumps compares order, == does not)."""
    x, y = (json.loads(p.read_text(encoding="utf-8")) for p in (a, b))
    return x == y and json.dumps(x) == json.dumps(y)


def _mad_train_records() -> list[dict]:
    ctx_near = {"start": "10.0", "end": 12.5, "ad": "Role1 waves.", "char": [_char(1)],
                "ad_chars": [_char(1)], "ad_chars_in_chars": [_char(1)]}
    ctx_far = {"start": 2, "end": "4", "ad": "A car passes."}  # no char lists here
    return [
        {"start": "13.25", "end": "15.0", "ad": "Role1 hugs Role2.",
         "char": [_char(1), _char(2), _char(3)], "ad_chars": [_char(1), _char(2)],
         # keys in another order than the release's: must be read by key
         "ad_chars_in_chars": [{"role": "Role2 Surname", "id": "nm0000002",
                                "name": "Actor 2"}, _char(1)],
         "context": [ctx_near, ctx_far], "movie_id": "tt001", "split": "train"},
        {"start": 1, "end": 3.5, "ad": "Night falls.", "char": [], "ad_chars": [],
         "ad_chars_in_chars": [], "context": [], "movie_id": "tt002"},
        {"start": 20, "end": 22, "ad": "Role3 leaves.", "char": [_char(3)],
         "ad_chars": [_char(3)], "ad_chars_in_chars": [_char(3)],
         "context": [{"start": "13.25", "end": "15.0", "ad": "Role1 hugs Role2."}],
         "movie_id": "tt001"},
    ]


def test_mad_train_maps_every_field_and_round_trips(tmp_path):
    src = _write(tmp_path / "train.json", _mad_train_records())
    events = formats.read_mad_train(src)
    first, second, third = events

    assert (first.video_id, first.start, first.end) == ("tt001", 13.25, 15.0)
    assert [c.id for c in first.candidates] == ["nm0000001", "nm0000002", "nm0000003"]
    assert [c.id for c in first.named] == ["nm0000001", "nm0000002"]
    # read by key: the reordered dict still gives id/name/role their own values
    assert first.named_candidates[0] == Character(id="nm0000002", name="Actor 2",
                                                  role="Role2 Surname")
    assert [c.text for c in first.context] == ["Role1 waves.", "A car passes."]
    assert first.context[0].start == 10.0 and first.context[1].end == 4.0
    assert first.context[0].named_candidates[0].id == "nm0000001"
    assert first.context[1].named_candidates is None  # absent in the file
    assert first.extra["split"] == "train"
    # uid counts records per movie in file order
    assert [e.uid for e in events] == ["tt001#0", "tt002#0", "tt001#1"]
    assert second.context == () and third.named[0].role == "Role3 Surname"

    out = formats.write_mad_train(tmp_path / "out.json", events)
    assert _same_json(src, out)  # strings stay strings, absent lists stay absent


def test_mad_eval_maps_and_round_trips(tmp_path):
    data = {
        "tt010": [
            {"start": "5.5", "end": "8", "ad": "She smiles.",
             "context": [{"start": "1", "end": "4.5"}], "prob": [_char(4), _char(5)]},
            {"start": 9, "end": 11, "ad": "He runs.",
             "context": [{"start": 5.5, "end": 8, "ad": "She smiles."}], "prob": []},
        ],
        "tt011": [{"start": 0.5, "end": 2, "ad": "Rain.", "context": [], "prob": [_char(6)]}],
    }
    src = _write(tmp_path / "eval.json", data)
    events = formats.read_mad_eval(src)
    assert [e.uid for e in events] == ["tt010#0", "tt010#1", "tt011#0"]
    assert events[0].start == 5.5 and events[0].end == 8.0
    assert [c.id for c in events[0].refined] == ["nm0000004", "nm0000005"]
    assert events[0].context[0].text == "" and events[0].context[0].end == 4.5
    assert events[1].context[0].text == "She smiles."
    assert events[2].refined[0].role == "Role6 Surname"
    assert formats.read_annotations(src).format == "mad_eval"
    assert _same_json(src, formats.write_mad_eval(tmp_path / "out.json", events))


def _clip_records() -> list[dict]:
    cand = [{"name": "Actor 1", "role": "Role1 Surname", "char_in_ad": "Role1",
             "id": "nm0000001"},
            {"name": "Actor 2", "role": "Role2 Surname", "char_in_ad": "Role2",
             "id": "nm0000002"}]
    return [
        {"start": 3, "end": 9, "ad": "Role2 sits.", "char": [
            {"id": "nm0000002", "role": "Role2 Surname", "name": "Actor 2"}],
         "char_in_ad": ["Role2"], "content": {"start": 0, "end": 3, "ad": "Role1 enters."},
         "char_pred": cand, "key_name": "show_s01e01_clip_00", "prob": [cand[1]],
         "prob_data": [0.25, 0.75, -1.0, -1.0, -1.0]},
        {"start": 10, "end": 14, "ad": "Silence.", "char": [], "char_in_ad": [],
         "char_pred": cand, "key_name": "show_s01e01_clip_00", "prob": [],
         "prob_data": [-1.0, 0.5, -1.0]},
    ]


def test_clip_eval_maps_and_round_trips(tmp_path):
    src = _write(tmp_path / "cmd.json", {"cmdad": _clip_records()})
    dataset, events = formats.read_clip_eval(src)
    assert dataset == "cmdad"
    first, second = events
    assert first.video_id == "show_s01e01_clip_00" and (first.start, first.end) == (3, 9)
    assert isinstance(first.start, int)  # kept as the file wrote it: the feature key uses it
    assert [(c.short_name, c.score) for c in first.candidates] == [("Role1", 0.25),
                                                                   ("Role2", 0.75)]
    assert first.refined == (first.candidates[1],)  # scored like its candidate
    assert first.named[0].short_name == "Role2" and first.named_short == ("Role2",)
    assert first.context[0].text == "Role1 enters." and first.context[0].end == 3
    assert second.context == ()
    assert second.candidates[0].score is None  # -1 marks a slot without a score
    assert [e.uid for e in events] == ["show_s01e01_clip_00#0", "show_s01e01_clip_00#1"]

    out = formats.write_clip_eval(tmp_path / "out.json", dataset, events)
    assert _same_json(src, out)
    assert "content" not in json.loads(out.read_text())["cmdad"][1]


def test_written_changes_are_not_masked_by_the_source_layout(tmp_path):
    src = _write(tmp_path / "train.json", _mad_train_records()[:1])
    (event,) = formats.read_mad_train(src)
    moved = replace(event, start=14.0, context=event.context[1:])
    out = json.loads(formats.write_mad_train(tmp_path / "o.json", [moved]).read_text())[0]
    assert out["start"] == 14.0 and out["end"] == "15.0"  # changed vs kept as written
    assert [c["ad"] for c in out["context"]] == ["A car passes."]

    clip = _write(tmp_path / "c.json", {"tvad": _clip_records()[:1]})
    _, (ev,) = formats.read_clip_eval(clip)
    renamed = replace(ev, context=(), candidates=(replace(ev.candidates[0], score=0.9),
                                                  ev.candidates[1]))
    rec = json.loads(formats.write_clip_eval(tmp_path / "d.json", "tvad", [renamed])
                     .read_text())["tvad"][0]
    assert "content" not in rec
    assert rec["prob_data"] == [0.9, 0.75, -1.0, -1.0, -1.0]


def test_events_built_in_code_write_complete_records(tmp_path):
    cast = (Character("nm1", "Ann Actor", "Anna Smith", short_name="Anna", score=0.8),)
    prev = ADEvent("vid", 0.0, 2.0, "Anna waits.")
    event = ADEvent("vid", 2.5, 4.0, "Anna sits.", candidates=cast, refined=cast,
                    named=(replace(cast[0], score=None),),  # the format scores candidates only
                    named_short=("Anna",), context=(prev,), uid="vid#0")
    out = formats.write_clip_eval(tmp_path / "t.json", "tvad", [event])
    _, (back,) = formats.read_clip_eval(out)
    assert back == event
    train = formats.write_mad_train(tmp_path / "m.json", [replace(event, named_candidates=cast)])
    (again,) = formats.read_mad_train(train)
    assert again.named_candidates[0].id == "nm1" and again.context[0].text == "Anna waits."
    with pytest.raises(ValueError, match="dataset"):
        formats.write_clip_eval(tmp_path / "x.json", "mad", [event])


# -------------------------------------------------------------------- real TV-AD data


@pytest.fixture(scope="module")
def tvad():
    raw = json.loads(TVAD_SAMPLE.read_text(encoding="utf-8"))["tvad"]
    dataset, events = formats.read_clip_eval(TVAD_SAMPLE)
    assert dataset == "tvad"
    return raw, events


def test_real_tvad_round_trips_without_loss(tvad, tmp_path):
    raw, events = tvad
    assert len(events) == len(raw) == 300
    out = formats.write_clip_eval(tmp_path / "tvad.json", "tvad", events)
    assert _same_json(TVAD_SAMPLE, out)


def test_real_tvad_fields(tvad):
    raw, events = tvad
    assert len({e.uid for e in events}) == len(events)
    for rec, event in zip(raw, events):
        assert event.video_id == rec["key_name"] and event.text == rec["ad"]
        assert [c.id for c in event.candidates] == [c["id"] for c in rec["char_pred"]]
        for cand, score in zip(event.candidates, rec["prob_data"]):
            assert cand.score == (None if score == -1 else score)
        assert set(event.refined) <= set(event.candidates)
        assert [c.id for c in event.refined] == [c["id"] for c in rec["prob"]]
        assert [c.short_name for c in event.named] == rec["char_in_ad"]
        assert [c.role for c in event.named] == [c["role"] for c in rec["char"]]
        if "content" in rec:
            assert event.context[0].text == rec["content"]["ad"]
            assert event.context[0].start == rec["content"]["start"]
        else:
            assert event.context == ()
    # REFERENCE.md: the published refinement keeps the candidates scored >= 0.5; it holds
    # only if scores are aligned with the right candidates.
    for event in events:
        kept = tuple(c for c in event.candidates if c.score is not None and c.score >= 0.5)
        assert kept == event.refined


# ------------------------------------------------------------------------ bad inputs


def _problem(excinfo) -> tuple:
    p = excinfo.value.problem
    return p.file, p.record, p.field


def test_missing_field_names_file_record_field(tmp_path):
    records = _mad_train_records()
    del records[1]["ad"]
    src = _write(tmp_path / "t.json", records)
    with pytest.raises(DataError) as exc:
        formats.read_mad_train(src)
    assert _problem(exc) == (str(src), 1, "ad") and "missing" in str(exc.value)


@pytest.mark.parametrize("start,end,field,words", [
    (5, 5, "end", "after start"),
    ("nan", 7, "start", "not finite"),
    (float("nan"), 7, "start", "not finite"),
    ("soon", 7, "start", "expected seconds"),
    (-1, 7, "start", "negative"),
])
def test_bad_times(tmp_path, start, end, field, words):
    records = _mad_train_records()
    records[2]["start"], records[2]["end"] = start, end
    src = _write(tmp_path / "t.json", records)  # json writes float nan as NaN
    with pytest.raises(DataError) as exc:
        formats.read_mad_train(src)
    assert _problem(exc) == (str(src), 2, field) and words in str(exc.value)


def test_bad_context_and_types_are_located(tmp_path):
    records = _mad_train_records()
    records[0]["context"][1]["start"] = 9  # after its end (4)
    records[2]["ad_chars"] = [{"id": 7, "name": "X", "role": "Y"}]
    src = _write(tmp_path / "t.json", records)
    found = {(p.record, p.field) for p in formats.scan_annotations(src).problems}
    assert found == {(0, "context[1].end"), (2, "ad_chars[0].id")}

    clip = _clip_records()
    clip[0]["start"] = "3"  # integer seconds in CMD/TV files
    clip[1]["char_pred"] = {"name": "x"}
    clip[1]["prob_data"] = [0.1]
    src = _write(tmp_path / "c.json", {"tvad": clip})
    found = {(p.record, p.field) for p in formats.scan_annotations(src).problems}
    assert found == {(0, "start"), (1, "char_pred")}


def test_scan_lists_every_problem(tmp_path):
    records = _mad_train_records()
    records[0]["ad"] = " "  # empty target in a training file
    records[0]["end"] = "x"
    del records[1]["movie_id"]
    records.append("not a record")
    src = _write(tmp_path / "t.json", records)
    problems = formats.scan_annotations(src).problems
    assert {(p.record, p.field) for p in problems} == {
        (0, "ad"), (0, "end"), (1, "movie_id"), (3, None)}
    assert all(p.file == str(src) for p in problems)

    clip = _clip_records()
    clip[0]["prob_data"] = [0.3]  # two candidates, one score: as in the release's file
    src = _write(tmp_path / "c.json", {"tvad": clip})
    scan = formats.scan_annotations(src)
    assert scan.problems == []  # the model reads 'prob', not prob_data: a warning only
    (p,) = scan.warnings
    assert (p.record, p.field) == (0, "prob_data") and "2 candidates" in p.message
    first = scan.events[0]
    assert [c.score for c in first.candidates] == [0.3, None]  # no candidate lost
    out = formats.write_clip_eval(tmp_path / "back.json", "tvad", scan.events)
    assert json.loads(out.read_text())["tvad"][0]["prob_data"] == [0.3]  # written back as read


def test_mad_eval_records_are_labelled_by_movie(tmp_path):
    src = _write(tmp_path / "e.json", {"tt5": [{"start": 1, "end": 2, "ad": "a", "prob": []},
                                              {"start": 3, "end": 2, "ad": "b", "prob": []}]})
    with pytest.raises(DataError) as exc:
        formats.read_mad_eval(src)
    assert _problem(exc) == (str(src), "tt5[1]", "end")
    assert "record tt5[1]: field 'end'" in str(exc.value)


def test_non_utf8_names_byte_offset(tmp_path):
    src = tmp_path / "latin1.json"
    prefix = b'[{"ad": "caf'
    src.write_bytes(prefix + b'\xe9"}]')
    with pytest.raises(DataError) as exc:
        formats.read_annotations(src)
    assert exc.value.problem.file == str(src)
    assert f"byte offset {len(prefix)}" in str(exc.value) and "0xe9" in str(exc.value)


def test_invalid_json_names_line_and_column(tmp_path):
    src = tmp_path / "broken.json"
    src.write_text('[\n  {"start": 1,\n   "end": }\n]', encoding="utf-8")
    problems = formats.scan_annotations(src).problems
    assert len(problems) == 1 and "line 3, column 11" in problems[0].message


@pytest.mark.parametrize("data,reader,words", [
    ({"tvad": []}, formats.read_mad_train, "JSON list of records (MAD training)"),
    ([], formats.read_clip_eval, '{"tvad": [records]}'),
    (42, formats.read_annotations, "got a int (42)"),
    ({"tt1": [{"id": "nm1", "name": "A", "role": "B"}]}, formats.read_annotations,
     "cast list"),
    ({"tvad": {"a": 1}}, formats.read_clip_eval, "expected a list of records"),
])
def test_wrong_top_level_shape(tmp_path, data, reader, words):
    src = _write(tmp_path / "x.json", data)
    with pytest.raises(DataError) as exc:
        reader(src)
    assert exc.value.problem.file == str(src) and words in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        formats.read_annotations(tmp_path / "nope.json")


def test_mad_candidate_scores_survive_a_round_trip(tmp_path):
    """Candidate ranking (threshold, top-k) needs the optional MAD `score` key kept."""
    records = _mad_train_records()
    records[0]["char"] = [_char(1, score=0.9), _char(2, score=0.2), _char(3)]
    src = _write(tmp_path / "train.json", records)
    first = formats.read_mad_train(src)[0]
    assert [c.score for c in first.candidates] == [0.9, 0.2, None]
    assert _same_json(src, formats.write_mad_train(tmp_path / "out.json", [
        *formats.read_mad_train(src)]))
    records[0]["char"][0]["score"] = "high"
    with pytest.raises(DataError, match=r"record 0.*char\[0\]\.score"):
        formats.read_mad_train(_write(tmp_path / "bad.json", records))
