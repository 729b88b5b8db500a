"""The narration pipeline end to end, with a stub in place of the model."""

from __future__ import annotations

import json

import pytest
import srt
from media import DIALOGUE, DURATION, SILENT, ffprobe_streams, make_srt, make_video

from uniad.narrate.pipeline import Description, describe_slots, find_slots, render
from uniad.narrate.slots import Slot
from uniad.narrate.speech import EspeakEngine
from uniad.narrate.video import probe


class Stub:
    """Answers too long on the first request, so the retry and the cut are exercised."""

    def __init__(self, first_words: int) -> None:
        self.first_words = first_words
        self.calls: list[tuple[Slot, int, int]] = []

    def __call__(self, slot, max_words, previous):
        self.calls.append((slot, max_words, len(previous)))
        n = self.first_words if len(self.calls) % 2 else max_words
        text = " ".join(["Anna"] + ["walks"] * (n - 2) + ["in."])
        return Description(text, ("Anna",), {"score": -1.0})


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4")


def test_slots_come_from_subtitles_or_audio(video, tmp_path):
    info = probe(video)
    from_srt = find_slots(video, info, make_srt(tmp_path / "d.srt"), max_len=100)
    assert all(s.end <= a or s.start >= b for s in from_srt for a, b, _ in DIALOGUE)
    from_audio = find_slots(video, info, max_len=100)
    assert len(from_audio) == len(SILENT)
    short = find_slots(video, info, make_srt(tmp_path / "d.srt"), max_len=1.6)
    assert len(short) > len(from_srt) and max(s.duration for s in short) <= 1.6 + 1e-6


def test_descriptions_fit_their_budget_with_context():
    stub = Stub(first_words=30)
    ads = describe_slots([Slot(0, 4), Slot(5, 9), Slot(9.5, 10.0)], stub)
    assert len(ads) == 2  # the 0.5 s slot has no room
    assert [c[2] for c in stub.calls] == [0, 0, 1, 1]  # retried once, context grows
    for ad in ads:
        assert len(ad.text.split()) <= ad.meta["word_budget"] == 10
        assert ad.meta["retried"] and not ad.meta["cut"] and ad.characters == ("Anna",)


def test_render_writes_tracks_speech_and_mixed_video(video, tmp_path):
    info = probe(video)
    slots = find_slots(video, info, make_srt(tmp_path / "d.srt"))
    ads = describe_slots(slots, Stub(first_words=5))
    paths = render(ads, video, tmp_path / "out", info.duration, engine=EspeakEngine(),
                   info={"video": video.name})
    assert set(paths) == {"srt", "vtt", "json", "wav", "video"}
    cues = list(srt.parse(paths["srt"].read_text()))
    assert [c.content for c in cues] == [ad.text for ad in ads]
    assert json.loads(paths["json"].read_text())["info"] == {"video": "clip.mp4"}
    audio = [s for s in ffprobe_streams(paths["video"]) if s["codec_type"] == "audio"]
    assert len(audio) == 2 and paths["video"].name == "clip.ad.mp4"
    assert info.duration == pytest.approx(DURATION, abs=0.1)
