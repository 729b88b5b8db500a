"""AD track files (SRT, WebVTT, JSON) and fitting text to a slot's word budget."""

from __future__ import annotations

import json

import pytest
import srt
import webvtt
from media import DIALOGUE, DURATION, make_srt

from uniad.narrate.timeline.subtitles import read_subtitle_intervals

from uniad.narrate.timeline.slots import slots_between
from uniad.narrate.core import NarratedAD
from uniad.narrate.timeline.timing import fit_text
from uniad.narrate.deliver.tracks import write_json, write_srt, write_vtt


@pytest.fixture()
def ads(tmp_path):
    slots = slots_between(read_subtitle_intervals(make_srt(tmp_path / "dialogue.srt")), DURATION)
    texts = ["Anna opens the door, smiling.", "Tom sits down. He looks away."]
    return [
        NarratedAD(s.start, s.end, text, characters=(text.split()[0],), meta={"score": -0.5 * i})
        for i, (s, text) in enumerate(zip(slots, texts))
    ]


def test_srt_and_vtt_parse_back_without_overlapping_dialogue(tmp_path, ads):
    paths = {"srt": write_srt(ads, tmp_path / "ad.srt"), "vtt": write_vtt(ads, tmp_path / "ad.vtt")}
    subs = list(srt.parse(paths["srt"].read_text()))
    cues = webvtt.read(str(paths["vtt"]), strict=True)
    assert len(subs) == len(cues.captions) == len(ads)
    for ad, sub, cue in zip(ads, subs, cues.captions):
        assert sub.content == cue.text == ad.text
        assert sub.start.total_seconds() == pytest.approx(ad.start, abs=1e-3)
        assert cue.end_time.in_milliseconds() / 1000 == pytest.approx(ad.end, abs=1e-3)
        for a, b, _ in DIALOGUE:
            assert sub.end.total_seconds() <= a or sub.start.total_seconds() >= b
    assert paths["vtt"].read_text().startswith("WEBVTT")


def test_json_keeps_characters_scores_and_info(tmp_path, ads):
    path = write_json(ads, tmp_path / "ad.json", info={"video": "clip.mp4"})
    data = json.loads(path.read_text())
    assert data["info"] == {"video": "clip.mp4"}
    assert [a["characters"] for a in data["ads"]] == [["Anna"], ["Tom"]]
    assert data["ads"][1]["meta"]["score"] == -0.5
    assert data["ads"][0]["start"] == ads[0].start


def test_ad_times_are_checked():
    with pytest.raises(ValueError, match="start < end"):
        NarratedAD(3.0, 2.0, "x")


@pytest.mark.parametrize(
    ("text", "budget", "expected"),
    [
        ("Anna opens the door. She walks in.", 10, "Anna opens the door. She walks in."),
        ("Anna opens the door. She walks in slowly.", 5, "Anna opens the door."),
        ("Anna opens the door, then walks in slowly.", 5, "Anna opens the door."),
        ("Anna slowly opens the heavy wooden door", 4, "Anna slowly opens."),  # no dangling "the"
        ("Anna opens the door.", 0, ""),
    ],
)
def test_fit_text_cuts_at_the_best_boundary(text, budget, expected):
    assert fit_text(text, budget) == expected
    assert len(fit_text(text, budget).split()) <= budget
