"""`uniad render` from an edited ad.json / SRT, and the review page in a real Chromium."""

from __future__ import annotations

import json
import time

import pytest
import srt

from uniad.cli import main
from uniad.config import NarrationConfig
from uniad.narrate.core import Description
from uniad.narrate.deliver.dapt import dapt_problems
from uniad.narrate.deliver.deliverables import write_deliverables
from uniad.narrate.deliver.plan import plan_cues
from uniad.narrate.media.video import probe
from uniad.narrate.timeline.gaps import find_gaps, speech_spans
from uniad.testing.browser import browser_missing, headless_chromium
from uniad.world.sample_media import make_dialogue_film

LINES = ((0.5, "Where were you?"), (5.0, "Out."), (9.0, "Sit down."))


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    """A narration's ad.json (text only, no speech) for a 12 s film."""
    root = tmp_path_factory.mktemp("render")
    film = make_dialogue_film(root / "media", LINES, 12.0)
    settings = NarrationConfig()
    info = probe(film.video)
    dialogue = speech_spans(film.video, info, settings)
    gaps = find_gaps(dialogue, info.duration, settings)
    texts = iter(["Anna looks up.", "Tom leaves.", "The door shuts.", "Night falls."])
    plan = plan_cues(gaps, lambda slot, n, prev: Description(next(texts, "")), settings)
    paths = write_deliverables(plan, film.video, root / "first", info.duration, dialogue,
                               settings, {"video": str(film.video)}, mix=False)
    return film, paths["json"]


def test_render_rebuilds_everything_from_an_edited_json(script, tmp_path):
    film, ad_json = script
    payload = json.loads(ad_json.read_text())
    assert len(payload["ads"]) >= 3
    payload["ads"][0]["text"] = "Anna smiles."
    del payload["ads"][1]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(payload))
    assert main(["render", str(edited), "--out", str(tmp_path / "out"), "--voice", "espeak"]) == 0
    out = tmp_path / "out"
    cues = list(srt.parse((out / "ad.srt").read_text()))
    assert [c.content for c in cues] == [a["text"] for a in payload["ads"]]
    assert (out / f"{film.video.stem}.ad.mp4").is_file() and (out / "ad.wav").is_file()
    assert dapt_problems(out / "ad.dapt.ttml") == []
    report = json.loads((out / "ad.json").read_text())
    assert report["info"]["rendered_from"] == str(edited)
    assert all(a["meta"]["fit"] in ("fits", "rate", "tempo") for a in report["ads"])


def test_render_from_an_edited_srt_needs_only_the_video(script, tmp_path):
    film, ad_json = script
    edited = tmp_path / "ad.srt"
    subs = list(srt.parse((ad_json.parent / "ad.srt").read_text()))
    subs[0].content = "A clock ticks."
    edited.write_text(srt.compose(subs))
    assert main(["render", str(edited), "--video", str(film.video), "--out",
                 str(tmp_path / "o"), "--no-speech"]) == 0
    cues = list(srt.parse((tmp_path / "o" / "ad.srt").read_text()))
    assert cues[0].content == "A clock ticks." and len(cues) == len(subs)


def test_render_names_the_bad_record_and_field(script, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"info": {}, "ads": [{"start": 1.0, "end": 2.0}]}))
    assert main(["render", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "record 0" in err and "'text'" in err
    assert "Traceback" not in err


@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_review_page_in_headless_chromium(script, tmp_path):
    film, ad_json = script
    assert main(["render", str(ad_json), "--out", str(tmp_path), "--voice", "espeak"]) == 0
    page = tmp_path / "ad.html"
    cues = json.loads((tmp_path / "ad.json").read_text())["ads"]
    with headless_chromium() as browser:
        browser.get(page.as_uri())
        state = None
        for _ in range(50):  # the video's metadata and the track load asynchronously
            state = browser.execute_script(
                "const v = document.getElementById('video'); const t = v.textTracks[0];"
                "return {ready: v.readyState, duration: v.duration, kind: t.kind,"
                " cues: t.cues ? t.cues.length : -1, error: v.error && v.error.code};")
            if state["ready"] >= 1 and state["cues"] >= 0:
                break
            time.sleep(0.1)
        # Chromium's own WebVTT parser reads every cue of the descriptions track
        assert state["kind"] == "descriptions" and state["cues"] == len(cues), state
        assert state["error"] is None and state["duration"] == pytest.approx(12.0, abs=0.2)
        rows = browser.find_elements("css selector", "tr.cue")
        assert len(rows) == len(cues)
        assert len(browser.find_elements("css selector", "#timeline .ad")) == len(cues)
        target = rows[-1]
        target.click()
        seek = browser.execute_script("return document.getElementById('video').currentTime")
        assert seek == pytest.approx(cues[-1]["start"], abs=0.05)
        assert "active" in target.get_attribute("class")
        browser.save_screenshot(str(tmp_path / "ad.png"))  # a test artefact, not in git
    assert (tmp_path / "ad.png").stat().st_size > 1000
