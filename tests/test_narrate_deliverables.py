"""The deliverables of a narration, checked with tools that did not write them.

A 16 s film with espeak-ng dialogue at known times, a stub describer (one text per gap, no
shorter version), the Piper voice, extended AD on: cues pass the REFRAMED rule, no AD
sample is heard over dialogue in the mixed audio, DAPT parses with ttconv, the AD stream's
dispositions read back with ffprobe, the extended video holds its pause.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import srt
from media import ffprobe_duration, ffprobe_streams

from uniad.config import NarrationConfig
from uniad.narrate.core import Description
from uniad.narrate.deliver.dapt import dapt_problems
from uniad.narrate.deliver.deliverables import write_deliverables
from uniad.narrate.deliver.plan import plan_cues
from uniad.narrate.deliver.speech import make_engine
from uniad.narrate.media.shots import shot_cuts
from uniad.narrate.media.video import decode_audio, probe
from uniad.narrate.timeline.gaps import find_gaps, speech_spans
from uniad.narrate.timeline.timing import check_cues
from uniad.world.sample_media import make_dialogue_film

LINES = ((1.0, "Where were you last night?"), (6.0, "I was out with Tom."),
         (12.5, "Sit down, please."))
TEXTS = ["Anna opens the door.",
         "Unquestionably extraordinary reconstructions materialise.",  # too long to say
         "",  # SKIP
         "Rain runs down the window.",
         "Tom switches off the light."]


class ByGap:
    """The i-th gap gets ``TEXTS[i]``; asked again (for a shorter text) it has none."""

    def __init__(self, gaps) -> None:
        self.index = {g.start: i for i, g in enumerate(gaps)}
        self.asked: set[float] = set()

    avoids = False

    def __call__(self, slot, max_words, previous, avoid=()):
        if slot.start in self.asked:
            return Description("")
        self.asked.add(slot.start)
        return Description(TEXTS[self.index[slot.start]], meta={"stub": True})


@pytest.fixture(scope="module")
def narrated(tmp_path_factory):
    root = tmp_path_factory.mktemp("deliver")
    film = make_dialogue_film(root / "media", LINES, 16.0, cuts=(4.0, 9.5))
    settings = NarrationConfig(extended=True)
    info = probe(film.video)
    dialogue = speech_spans(film.video, info, settings)
    gaps = find_gaps(dialogue, info.duration, settings, shot_cuts(film.video))
    assert len(gaps) == len(TEXTS)
    plan = plan_cues(gaps, ByGap(gaps), settings, make_engine("piper"))
    paths = write_deliverables(plan, film.video, root / "out", info.duration, dialogue,
                               settings, {"video": str(film.video)})
    return film, plan, paths


def test_every_cue_passes_the_realistic_rule_and_the_report_says_so(narrated):
    film, plan, paths = narrated
    report = json.loads(paths["json"].read_text())
    cues = [c for c in report["ads"] if c["meta"]["fit"] != "extended"]
    assert [c["text"] for c in cues] == [t for i, t in enumerate(TEXTS) if t and i != 1]
    assert report["info"]["realistic_pass_rate"] == 1.0
    spans = [(c["start"], c["end"], c["text"]) for c in cues]
    # stricter than the rule: no collar, against the true speech of the film
    assert all(c.passed for c in check_cues(spans, film.speech, collar=0.0))
    for cue in cues:
        meta = cue["meta"]
        assert meta["realistic"] and meta["wpm"] <= 180.0 and meta["words"] <= meta["word_budget"]
        assert meta["gap"][0] <= cue["start"] < cue["end"] <= meta["gap"][1]
        assert meta["fit"] in ("fits", "rate", "tempo") and meta["rate_wpm"] <= 204
    assert report["info"]["settings"]["plan_wpm"] == 180.0
    assert report["info"]["extended_count"] == 1


def test_no_ad_sample_is_heard_over_dialogue_in_the_mix(narrated):
    film, plan, paths = narrated
    rate = 16000
    original = decode_audio(film.video, rate)
    import av

    with av.open(str(paths["video"])) as container:  # the AD stream: the second audio one
        stream = container.streams.audio[1]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        mixed = np.concatenate([f.to_ndarray().reshape(-1) for frame in container.decode(stream)
                                for f in resampler.resample(frame)])
    n = min(len(original), len(mixed))
    added = mixed[:n] - original[:n]  # the narration (and the ducking) alone

    def rms(a: float, b: float) -> float:
        piece = added[int(a * rate):int(b * rate)]
        return float(np.sqrt(np.mean(piece ** 2))) if len(piece) else 0.0

    spoken = [rms(c.start, c.end) for c in plan.normal()]
    assert min(spoken) > 0.02  # the narration is there, well above coding noise
    for a, b in film.speech:
        assert rms(a, b) < 0.1 * min(spoken), (a, b)
    narration, sr = decode_audio(paths["wav"], rate), rate  # and the AD track alone
    for a, b in film.speech:
        assert np.abs(narration[int(a * sr):int(b * sr)]).max() < 1e-3


def test_dapt_is_valid_and_reads_back_with_ttconv(narrated):
    from ttconv.imsc import reader

    _, plan, paths = narrated
    assert dapt_problems(paths["dapt"]) == []
    doc = reader.to_model(ET.parse(paths["dapt"]))
    divs = list(doc.get_body())
    cues = plan.normal()
    assert len(divs) == len(cues)
    for div, cue in zip(divs, cues):
        assert float(div.get_begin()) == pytest.approx(cue.start, abs=1e-3)
        assert float(div.get_end()) == pytest.approx(cue.end, abs=1e-3)
        text = "".join(t.get_text() for p in div for span in p for t in span)
        assert text == cue.text
    root = ET.parse(paths["dapt"]).getroot()
    assert root.get("{http://www.w3.org/ns/ttml/profile/dapt#metadata}scriptType") == "asRecorded"


def test_dapt_problems_names_what_breaks_the_profile(tmp_path):
    bad = tmp_path / "bad.ttml"
    bad.write_text('<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="en"><body>'
                   '<div begin="2s" end="1s"><p>x</p></div></body></tt>')
    problems = "\n".join(dapt_problems(bad))
    for expected in ("contentProfiles", "scriptRepresents", "scriptType", "xml:id",
                     "must precede"):
        assert expected in problems


def test_the_ad_stream_is_flagged_for_players(narrated):
    film, _, paths = narrated
    audio = [s for s in ffprobe_streams(paths["video"]) if s["codec_type"] == "audio"]
    assert len(audio) == 2 and audio[0]["disposition"]["visual_impaired"] == 0
    ad = audio[1]["disposition"]
    assert ad["visual_impaired"] == 1 and ad["descriptions"] == 1 and ad["default"] == 0
    assert audio[1]["tags"]["language"] == "eng"
    assert audio[1]["tags"]["handler_name"] == "Audio description"
    assert ffprobe_duration(paths["video"]) == pytest.approx(16.0, abs=0.15)


def test_extended_video_pauses_for_the_long_description(narrated):
    film, plan, paths = narrated
    (long,) = [c for c in plan.cues if c.meta["fit"] == "extended"]
    pause = long.meta["pause_s"]
    assert pause > 0.3
    assert ffprobe_duration(paths["extended_video"]) == pytest.approx(16.0 + pause, abs=0.2)
    import webvtt

    cues = webvtt.read(str(paths["extended_vtt"]))
    assert [c.text for c in cues] == [c.text for c in plan.cues]
    held = [c for c in cues if c.text == long.text][0]
    assert held.end_in_seconds >= long.meta["gap"][1] + pause - 1.0
    normal = list(srt.parse(paths["srt"].read_text()))
    assert long.text not in [c.content for c in normal]  # the normal track stays as it was
    pausing = webvtt.read(str(paths["pausing_vtt"]))  # normal timeline, pauses marked
    marked = [c for c in pausing if "-pause-" in c.identifier]
    assert [c.text for c in marked] == [long.text]
    assert marked[0].identifier.endswith(f"-pause-{pause:.2f}s")
    assert marked[0].start_in_seconds == int(long.start)
    streams = ffprobe_streams(paths["extended_video"])
    assert [s["codec_type"] for s in streams].count("audio") == 2
