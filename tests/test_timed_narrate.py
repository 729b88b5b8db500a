"""`uniad render --reference` / `uniad narrate --reference`: the written track is scored with
REFRAMED's timed metrics; a bad reference is refused before any work."""

from __future__ import annotations

import json

import pytest

from uniad.cli import main
from uniad.text import JAVA_MISSING, java_available
from uniad.world.sample_media import make_dialogue_film

LINES = ((0.5, "Where were you?"), (6.0, "Out."))
TRACK = """1
00:00:02,500 --> 00:00:05,000
Anna looks up from her desk.

2
00:00:07,500 --> 00:00:10,500
Tom leaves the room.
"""


@pytest.mark.skipif(not java_available(), reason=f"METEOR is Java: {JAVA_MISSING}")
def test_render_scores_the_track_it_wrote_against_the_reference(tmp_path, capsys):
    film = make_dialogue_film(tmp_path / "media", LINES, 12.0)
    track = tmp_path / "edited.srt"
    track.write_text(TRACK)
    reference = tmp_path / "ref.srt"
    reference.write_text(TRACK.replace("from her desk", "at the window"))
    out = tmp_path / "out"
    assert main(["render", str(track), "--video", str(film.video), "--out", str(out),
                 "--no-speech", "--reference", str(reference)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "timed_scores.json").read_text())
    assert "timed (REFRAMED, x100): raw CIDEr" in printed and str(out / "timed_scores.json") in printed
    assert report["raw"]["cues"] == 2 and report["raw"]["SODA-T"] == 100.0
    assert 0 < report["raw"]["METEOR"] < 100.0  # one cue differs from the reference


def test_a_bad_reference_is_refused_before_narrating(tmp_path, capsys):
    bad = tmp_path / "ref.json"
    bad.write_text(json.dumps({"1": {"start": 2.0, "text": "x"}}))
    code = main(["narrate", str(tmp_path / "video.mp4"), "--cast", str(tmp_path / "cast.json"),
                 "--describer", "openai:http://127.0.0.1:9", "--out", str(tmp_path / "out"),
                 "--reference", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "ref.json: record 1: field 'end': missing 'end'" in err
    assert not (tmp_path / "out").exists()
