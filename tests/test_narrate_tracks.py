"""AD track files (SRT, WebVTT, JSON) and fitting text to a slot's word budget."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import srt
import webvtt
from media import DIALOGUE, DURATION, make_srt

from uniad.narrate.timeline.subtitles import read_subtitle_cues, read_subtitle_intervals

from uniad.narrate.core import NarratedAD
from uniad.narrate.deliver.tracks import write_json, write_srt, write_vtt
from uniad.narrate.timeline.slots import slots_between
from uniad.narrate.timeline.timing import fit_text


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


# What describers and editors have been seen to write: markup, escapes, a cue arrow,
# blank lines, control bytes, nothing at all.
HOSTILE = ["Tom & Anna <b>run</b> --> out.", "A sign: 5 < 7 && 9 > 3 &amp; more",
           "First line.\n\nSecond line after a blank.", "Bell\x07 and NUL\x00 inside.",
           "00:00:01,000 --> 00:00:02,000", "<", "", "  \u2028  "]
WEBVTT_PARSER = Path(__file__).resolve().parents[1] / ".node" / "node_modules" / "webvtt-parser"
W3C_CHECK = """
const {WebVTTParser} = require(process.argv[1]);
const text = require('fs').readFileSync(0, 'utf8');
const tree = new WebVTTParser().parse(text, 'subtitles');
console.log(JSON.stringify({errors: tree.errors.map(e => `${e.message} (line ${e.line})`),
                            cues: tree.cues.length}));
"""


def _hostile_ads() -> list[NarratedAD]:
    return [NarratedAD(2.0 * i, 2.0 * i + 1.5, text) for i, text in enumerate(HOSTILE)]


def test_any_text_gives_valid_srt_and_webvtt_that_read_back_as_written(tmp_path):
    ads = _hostile_ads()
    assert ads[2].text == "First line. Second line after a blank."  # one line of plain text
    assert ads[3].text == "Bell and NUL inside."
    vtt, srt_path = write_vtt(ads, tmp_path / "ad.vtt"), write_srt(ads, tmp_path / "ad.srt")
    content = vtt.read_text()
    assert "-->" not in content.replace(" --> ", "", len(ads))  # only the timing arrows
    assert "&amp;" in content and "&lt;b&gt;" in content and "<b>" not in content
    webvtt.read(str(vtt), strict=True)  # webvtt-py's strict parse accepts it
    cues = read_subtitle_cues(vtt)  # and our reader gets back the texts, unescaped
    assert [c[2] for c in cues] == [ad.text for ad in ads]
    subs = list(srt.parse(srt_path.read_text(), ignore_errors=False))  # srt leaves out empty cues
    assert [s.content for s in subs] == [ad.text.replace("-->", "->") for ad in ads if ad.text]


@pytest.mark.skipif(shutil.which("node") is None or not WEBVTT_PARSER.is_dir(),
                    reason="needs node and the W3C parser (npm webvtt-parser in .node/, "
                           "installed by scripts/setup.sh)")
def test_the_w3c_webvtt_parser_accepts_any_text(tmp_path):
    vtt = write_vtt(_hostile_ads(), tmp_path / "ad.vtt")
    run = subprocess.run(["node", "-e", W3C_CHECK, str(WEBVTT_PARSER)], input=vtt.read_text(),
                         capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(run.stdout)
    assert result == {"errors": [], "cues": len(HOSTILE)}
    raw = tmp_path / "raw.vtt"  # the check itself is not blind: unescaped text is refused
    raw.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nTom & Anna <b\n")
    run = subprocess.run(["node", "-e", W3C_CHECK, str(WEBVTT_PARSER)], input=raw.read_text(),
                         capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(run.stdout)["errors"]
