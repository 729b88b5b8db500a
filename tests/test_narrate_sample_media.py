"""The demo's self-made film: its files agree with the timeline and cast it reports."""

from __future__ import annotations

import pytest
import srt
from media import ffprobe_duration, ffprobe_streams

from uniad.data.schema import Character
from uniad.errors import UniADError
from uniad.narrate.describe.cast import read_cast
from uniad.narrate.media.vad import speech_intervals
from uniad.narrate.media.video import decode_audio, probe
from uniad.narrate.timeline.slots import slots_between
from uniad.world.sample_media import dialogue_layout, make_sample_media
from uniad.world.synthetic import FEMALE_NAMES, MALE_NAMES


def test_video_subtitles_and_soundtrack_follow_the_reported_timeline(tmp_path):
    media = make_sample_media(tmp_path, duration=12.0)
    assert ffprobe_duration(media.video) == pytest.approx(12.0, abs=0.1)
    assert sorted(s["codec_type"] for s in ffprobe_streams(media.video)) == ["audio", "video"]
    lines = [(c.start.total_seconds(), c.end.total_seconds(), c.content)
             for c in srt.parse(media.subtitles.read_text())]
    assert lines == list(media.dialogue) and len(lines) >= 2
    # The tone sounds only during the lines, so the soundtrack's silences are the gaps.
    rate = 16000
    found = slots_between(speech_intervals(decode_audio(media.video, rate), rate),
                          probe(media.video).duration, min_gap=1.5)
    gaps = [(a, b) for a, b in media.silent if b - a >= 1.5]
    assert len(found) == len(gaps) >= 2
    for slot, (a, b) in zip(found, gaps):  # slots keep a margin from the speech
        assert a - 0.1 <= slot.start < slot.end <= b + 0.1 and slot.duration > (b - a) / 2


def test_silences_are_the_complement_of_the_lines():
    for duration in (2.5, 10.0, 31.0):
        lines, silent = dialogue_layout(duration)
        edges = sorted([(a, b) for a, b, _ in lines] + list(silent))
        assert edges[0][0] == 0.0 and edges[-1][1] == duration
        assert all(b == c for (_, b), (c, _) in zip(edges, edges[1:]))  # no hole, no overlap


def test_cast_file_is_readable_with_synthetic_names_and_several_photos(tmp_path):
    media = make_sample_media(tmp_path / "a", duration=3.0)
    members = read_cast(media.cast)
    assert len(members) >= 2
    for m in members:
        assert m.character.short_name in FEMALE_NAMES + MALE_NAMES
        assert len(m.photos) >= 2 and all(p.is_file() for p in m.photos)
    colours = {m.photos[0].read_bytes() for m in members}
    assert len(colours) == len(members)  # each character looks different

    own = [Character(id="x", name="X", role="Nina Hale", short_name="Nina", gender="female")]
    assert [m.character.role for m in read_cast(make_sample_media(tmp_path / "b", 3.0,
                                                                  cast=own).cast)] == ["Nina Hale"]


def test_missing_ffmpeg_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(UniADError, match="ffmpeg"):
        make_sample_media(tmp_path)
