"""AD slots: gaps between dialogue from subtitles or from the soundtrack's energy."""

from __future__ import annotations

import numpy as np
import pytest
from media import DIALOGUE, DURATION, SILENT, make_srt, make_video, make_vtt

from uniad.errors import DataError
from uniad.narrate.core import Slot, merge
from uniad.narrate.media.vad import speech_intervals
from uniad.narrate.media.video import decode_audio
from uniad.narrate.timeline.slots import MARGIN, slots_between, split_long_slots
from uniad.narrate.timeline.subtitles import read_subtitle_intervals


def expected_gaps(min_gap: float) -> list[tuple[float, float]]:
    """The dialogue gaps of media.DIALOGUE, computed independently of slots_between."""
    edges = [0.0] + [x for a, b, _ in DIALOGUE for x in (a, b)] + [DURATION]
    gaps = []
    for i in range(0, len(edges), 2):
        start = edges[i] + (MARGIN if i > 0 else 0.0)
        end = edges[i + 1] - (MARGIN if i + 1 < len(edges) - 1 else 0.0)
        if end - start >= min_gap:
            gaps.append((start, end))
    return gaps


@pytest.mark.parametrize("maker", [make_srt, make_vtt])
def test_subtitle_slots_are_the_dialogue_gaps(tmp_path, maker):
    path = maker(tmp_path / ("dialogue.srt" if maker is make_srt else "dialogue.vtt"))
    slots = slots_between(read_subtitle_intervals(path), DURATION, min_gap=1.5)
    got = [x for s in slots for x in (s.start, s.end)]
    assert got == pytest.approx([x for gap in expected_gaps(1.5) for x in gap])
    for slot in slots:  # never over dialogue
        assert all(slot.end <= a or slot.start >= b for a, b, _ in DIALOGUE)


def test_short_gaps_are_skipped():
    # gap 2.0..2.9 is under min_gap once margins are taken: only 3.4..10 remains
    slots = slots_between([(1.0, 2.0), (2.9, 3.2)], duration=10.0, min_gap=1.5)
    assert slots == [Slot(3.4, 10.0)]


def test_merge_joins_overlaps():
    assert merge([(3, 4), (0, 1), (0.5, 2)]) == [(0, 2), (3, 4)]


def test_word_budget():
    assert Slot(1.0, 5.0).word_budget() == 10
    assert Slot(1.0, 1.3).word_budget(2.5) == 0


def test_split_long_slots_gives_equal_pieces():
    pieces = split_long_slots([Slot(0.0, 25.0), Slot(30.0, 33.0)], max_len=10.0)
    got = [x for p in pieces for x in (p.start, p.end)]
    assert got == pytest.approx([0, 25 / 3, 25 / 3, 50 / 3, 50 / 3, 25, 30, 33], abs=1e-3)


def test_audio_slots_match_the_silent_gaps(tmp_path):
    video = make_video(tmp_path / "clip.mp4")
    audio = decode_audio(video, 16000)
    speech = speech_intervals(audio, 16000)
    sound = [(0.0, SILENT[0][0]), (SILENT[0][1], SILENT[1][0]), (SILENT[1][1], DURATION)]
    got = [x for interval in speech for x in interval]
    assert got == pytest.approx([x for interval in sound for x in interval], abs=0.3)
    slots = slots_between(speech_intervals(audio, 16000), DURATION, min_gap=1.5)
    assert len(slots) == len(SILENT)
    for slot, (a, b) in zip(slots, SILENT):
        assert slot.start == pytest.approx(a, abs=0.3 + MARGIN)
        assert slot.end == pytest.approx(b, abs=0.3 + MARGIN)
        assert a <= slot.start and slot.end <= b  # inside the silence, never over sound


def test_srt_parse_error_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.srt"
    bad.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n00:00:0x,000 --> 00:00:04,000\nBad.\n"
    )
    with pytest.raises(DataError, match=r"broken\.srt.*line 5"):
        read_subtitle_intervals(bad)


def test_vtt_parse_error_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.vtt"
    bad.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n\n00:00:0x.000 --> 00:00:04.000\nBad.\n"
    )
    with pytest.raises(DataError, match=r"broken\.vtt.*line 6"):
        read_subtitle_intervals(bad)


def test_vtt_without_header_is_rejected(tmp_path):
    bad = tmp_path / "plain.vtt"
    bad.write_text("00:00:01.000 --> 00:00:02.000\nHi.\n")
    with pytest.raises(DataError, match=r"plain\.vtt.*line 1.*WEBVTT"):
        read_subtitle_intervals(bad)


def test_missing_subtitles_are_named(tmp_path):
    with pytest.raises(DataError, match="gone.srt.*not found"):
        read_subtitle_intervals(tmp_path / "gone.srt")


def test_steady_sound_has_no_slots_and_silence_is_one_slot():
    rate = 8000
    t = np.arange(6 * rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    assert slots_between(speech_intervals(tone, rate), 6.0) == []
    assert slots_between(speech_intervals(np.zeros_like(tone), rate), 6.0) == [Slot(0.0, 6.0)]
