"""Track readers and ``uniad score`` track mode: files in, REFRAMED's numbers out, bad
files refused with one line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uniad.cli import main
from uniad.errors import DataError
from uniad.eval.timed.readers import read_dialogue, read_track
from uniad.text import JAVA_MISSING, java_available

needs_java = pytest.mark.skipif(not java_available(), reason=f"METEOR is Java: {JAVA_MISSING}")

SRT = """1
00:00:01,000 --> 00:00:04,000
Anna <i>opens</i>   the door.

2
00:00:03,000 --> 00:00:06,500
She walks in.
"""
VTT = """WEBVTT

ad-1
00:00:01.000 --> 00:00:04.000
Anna opens the door.

ad-2
00:00:03.000 --> 00:00:06.500
She walks in.
"""


def _write(tmp_path: Path, name: str, text: str | object) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if isinstance(text, str) else json.dumps(text), encoding="utf-8")
    return path


def test_srt_vtt_ad_json_and_segment_json_read_the_same_cues(tmp_path):
    expected = [(1.0, 4.0, "Anna opens the door."), (3.0, 6.5, "She walks in.")]
    srt = read_track(_write(tmp_path, "a.srt", SRT))
    vtt = read_track(_write(tmp_path, "a.vtt", VTT))
    ad = read_track(_write(tmp_path, "ad.json", {"info": {}, "ads": [
        {"start": 3.0, "end": 6.5, "text": "She walks in.", "characters": []},
        {"start": 1.0, "end": 4.0, "text": "Anna opens the door."}]}))
    seg = read_track(_write(tmp_path, "s.json", {"2": {"start": "3.0", "end": 6.5, "text": "She walks in."},
                                                 "1": {"start": 1, "end": 4, "text": "Anna opens the door."}}))
    for track in (srt, vtt, ad, seg):
        assert [(s.start, s.end, s.text) for s in track] == expected


def test_ties_are_ordered_by_json_key_as_reframed_does_and_by_file_order_in_srt(tmp_path):
    tie = {"9": {"start": 1, "end": 2, "text": "nine"}, "10": {"start": 1, "end": 2, "text": "ten"},
           "1": {"start": 0, "end": 2, "text": "one"}}
    assert [s.text for s in read_track(_write(tmp_path, "t.json", tie))] == ["one", "ten", "nine"]
    srt = "1\n00:00:01,000 --> 00:00:02,000\nnine\n\n2\n00:00:01,000 --> 00:00:02,000\nten\n"
    assert [s.text for s in read_track(_write(tmp_path, "t.srt", srt))] == ["nine", "ten"]


def test_dialogue_lines_that_overlap_are_merged(tmp_path):
    path = _write(tmp_path, "subs.json", {"1": {"start": 1.0, "end": 3.0, "text": "Hi."},
                                          "2": {"start": 2.5, "end": 4.0, "text": "Hello."},
                                          "3": {"start": 6.0, "end": 7.0, "text": "Bye."}})
    assert read_dialogue(path) == [(1.0, 4.0), (6.0, 7.0)]


@pytest.mark.parametrize("content,message", [
    ({"1": {"start": 1.0, "text": "x"}}, "record 1: field 'end': missing 'end'"),
    ({"1": {"start": "soon", "end": 2.0, "text": "x"}}, "record 1: field 'start': not a number"),
    ({"1": {"start": 3.0, "end": 3.0, "text": "x"}}, "record 1: field 'end': ends (3.0) at or before"),
    ([1, 2], "record 1: expected an object"),
])
def test_bad_track_records_name_the_record_and_field(tmp_path, content, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_track(_write(tmp_path, "bad.json", content))


def test_bad_files_exit_2_with_one_line(tmp_path, capsys):
    ref = _write(tmp_path, "ref.srt", SRT)
    subs = _write(tmp_path, "subs.srt", SRT)
    broken = _write(tmp_path, "pred.srt", "1\n00:00:01,000 --> nonsense\nx\n")
    code = main(["score", "--pred", str(broken), "--ref", str(ref), "--dialogue", str(subs)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "pred.srt" in err and "not valid SRT" in err and "\n" not in err
    code = main(["score", "--pred", str(tmp_path / "missing.json"), "--ref", str(ref),
                 "--dialogue", str(subs)])
    assert code == 2 and "missing.json: file not found" in capsys.readouterr().err
    code = main(["score", "--pred", str(ref), "--ref", str(ref), "--ref", str(ref), "--ref", str(ref),
                 "--dialogue", str(subs)])
    assert code == 2 and "at most two reference tracks" in capsys.readouterr().err
    code = main(["score", "--pred", str(ref), "--ref", str(ref), "--dialogue", str(tmp_path)])
    assert code == 2 and "all be files or all be folders" in capsys.readouterr().err


@needs_java
def test_track_mode_prints_raw_and_realistic_scores_and_the_filters_account(tmp_path, capsys):
    pred = _write(tmp_path, "pred.srt", SRT + "\n3\n00:00:12,000 --> 00:00:12,500\n"
                  "A man runs down the street with a gun.\n")
    ref1 = _write(tmp_path, "ref1.srt", "1\n00:00:01,500 --> 00:00:04,000\nAnna opens the front door.\n")
    ref2 = _write(tmp_path, "ref2.json", {"1": {"start": 2.0, "end": 5.0, "text": "She walks in."}})
    subs = _write(tmp_path, "subs.srt", "1\n00:00:08,000 --> 00:00:11,000\nHello.\n")
    out = tmp_path / "out"
    code = main(["score", "--pred", str(pred), "--ref", str(ref1), "--ref", str(ref2),
                 "--dialogue", str(subs), "--duration", "20", "--json", "--out", str(out)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report == json.loads((out / "timed_scores.json").read_text())
    for variant in ("raw", "realistic"):
        assert set(report[variant]) >= {"CIDEr", "METEOR", "SODA-M", "SODA-T", "cues", "wpm"}
    assert report["raw"]["cues"] == 3 and report["realistic"]["cues"] == 1
    assert {(d["cue"], d["reason"]) for d in report["realistic"]["dropped"]} == {(2, "overlap"), (3, "rate")}
    assert report["wpm"]["at_or_over_limit"] == 1
    # the first cue is aligned with a reference cue whose midpoint is < 10 s away
    assert report["realistic"]["SODA-M"] > 0 and report["realistic"]["SODA-T"] == 100.0
    assert "off" in report["parts"]["sentence / element splitting (REFRAMED's SaT models)"]


@needs_java
def test_batched_meteor_equals_pycocoevalcaps_one_request_at_a_time(monkeypatch):
    from pycocoevalcap.meteor.meteor import Meteor

    from uniad.eval.timed import java

    requests = [("a man opens the door", ("the man opens a door",)), ("", ("tom sits down",)),
                ("tom sits", ("tom sits down",)), ("anna | runs  fast", ("anna walks",)),
                ("a man opens the door", ("the man opens a door",))]
    monkeypatch.setattr(java, "PER_PROCESS", 2)  # force two METEOR processes
    got = java.meteor_scores(requests)
    scorer = Meteor()
    _, expected = scorer.compute_score({n: list(r) for n, (_, r) in enumerate(requests)},
                                       {n: [h] for n, (h, _) in enumerate(requests)})
    del scorer
    assert got == [float(s) for s in expected]


def _segments(*cues):
    return {str(n + 1): {"start": a, "end": b, "text": t} for n, (a, b, t) in enumerate(cues)}


def test_folders_of_films_are_matched_by_name_with_durations_from_json(tmp_path):
    from uniad.eval.timed.layout import folder_set, read_durations

    for film in ("a", "b"):
        _write(tmp_path / "pred", f"{film}.json", _segments((1.0, 2.0, "x")))
        _write(tmp_path / "ref", f"{film}.srt", "1\n00:00:01,000 --> 00:00:02,000\nx\n")
        _write(tmp_path / "subs", f"{film}.vtt", "WEBVTT\n\n00:00:05.000 --> 00:00:06.000\nHi.\n")
    durations = read_durations(str(_write(tmp_path, "d.json", {"a": 30, "b": 12.5})))
    scoring = folder_set(tmp_path / "pred", [tmp_path / "ref"], tmp_path / "subs", durations)
    assert [(u.key, u.items[0].end, u.items[0].gaps) for u in scoring.units] == [
        ("a", 30.0, ((0.0, 5.0), (6.0, 30.0))), ("b", 12.5, ((0.0, 5.0), (6.0, 12.5)))]
    (tmp_path / "pred" / "b.json").unlink()
    with pytest.raises(DataError, match="no generated track for film 'b'"):
        folder_set(tmp_path / "pred", [tmp_path / "ref"], tmp_path / "subs", durations)


def test_reframed_challenge_layout_is_read_as_their_code_reads_it(tmp_path):
    from uniad.eval.timed.layout import reframed_set
    from uniad.eval.timed.pipeline import assign

    ref = tmp_path / "reference_data" / "challenge"
    scenes = {"s1": {"start": 0, "end": 30}, "s2": {"start": 30, "end": 50},
              "s3": {"start": 50, "end": 80}, "end_credits": {"start": 80, "end": 90}}
    sequences = {"q1": ["s1", "s2"], "q2": ["s3"], "q3": ["end_credits"]}
    for movie in ("m1", "m2"):
        _write(ref / "scenes", f"{movie}.json", scenes)
        _write(ref / "sequences", f"{movie}.json", sequences)
        _write(ref / "subs", f"{movie}.json", _segments((10.0, 12.0, "Hi."), (49.0, 52.0, "Yes.")))
        for name in ("reference1", "reference2"):
            _write(ref / name, f"{movie}.json", {"1": {"start": 2, "end": 4, "text": "Anna sits.", "scene": "s1"},
                                                  "2": {"start": 60, "end": 62, "text": "Tom.", "scene": "s3"}})
    _write(tmp_path / "meta", "reframed-challenge.json", {"m1": ["q1", "q2", "q3"], "m2": ["q1", "q2", "q3"]})
    _write(tmp_path / "generations" / "challenge" / "mine", "m1.json", _segments((2.0, 4.0, "Anna sits."), (45.0, 55.0, "Across.")))
    scoring = reframed_set(tmp_path, "challenge", "mine")
    m1, m2 = scoring.units
    assert (m1.covered, m2.covered) == (True, False) and "m2: no generations" in scoring.notes[0]
    assert [(i.name, i.start, i.end) for i in m1.items] == [("q1", 0.0, 50.0), ("q2", 50.0, 80.0)]
    assert m1.items[0].gaps == ((0.0, 10.0), (12.0, 49.0)) and m1.items[1].gaps == ((52.0, 80.0),)
    assert [len(r) for r in m1.items[0].references] == [1, 1]
    by_item = assign(m1, scoring.cues["m1"])  # 45-55 overlaps q1 by 5 s and q2 by 5 s: q1 first
    assert [s.text for s in by_item["q1"]] == ["Anna sits.", "Across."] and by_item["q2"] == []


def test_against_runs_reframeds_test_per_variant_and_metric(tmp_path, monkeypatch):
    from test_timed_metrics import unigram_f1, whitespace_tokenize
    from uniad.eval.timed import run
    from uniad.eval.timed.layout import film_set
    from uniad.text import JavaPTBTokenizer

    monkeypatch.setattr(run, "meteor_scores", unigram_f1)  # no Java: stand-ins for both tools
    monkeypatch.setattr(JavaPTBTokenizer, "tokenize", lambda self, texts: whitespace_tokenize(texts))
    ref = _write(tmp_path, "ref.json", _segments((1.0, 3.0, "Anna opens the door."),
                                                 (12.0, 14.0, "Tom sits down.")))
    subs = _write(tmp_path, "subs.json", _segments((8.0, 10.0, "Hi.")))
    good = _write(tmp_path, "good.json", _segments((1.0, 3.0, "Anna opens the door."),
                                                   (12.0, 14.0, "Tom sits.")))
    bad = _write(tmp_path, "bad.json", _segments((1.0, 3.0, "A car."), (8.5, 9.5, "Rain.")))
    report = run.score_timed(film_set(good, [ref], subs, 16.0), against=film_set(bad, [ref], subs, 16.0),
                             rounds=200)
    tests = report["significance"]
    assert set(tests) == {"raw", "realistic"} and set(tests["raw"]) == {"CIDEr", "METEOR", "SODA-M", "SODA-T"}
    assert tests["raw"]["METEOR"]["paired"] and tests["raw"]["METEOR"]["difference"] > 0
    assert report["raw"]["METEOR"] - tests["raw"]["METEOR"]["difference"] == pytest.approx(0.0)
