"""Gaps from voice activity on a film with speech at known times, subtitles and shot cuts."""

from __future__ import annotations

import pytest
from media import make_srt

from uniad.config import NarrationConfig
from uniad.errors import UniADError
from uniad.narrate.core import Slot
from uniad.narrate.media.shots import shot_cuts
from uniad.narrate.media.video import probe
from uniad.narrate.timeline.gaps import find_gaps, speech_spans, split_at
from uniad.world.sample_media import make_dialogue_film

LINES = ((1.0, "Where were you last night?"), (6.0, "I was out with Tom."),
         (12.5, "Sit down, please."))
CUTS = (4.0, 9.5)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return make_dialogue_film(tmp_path_factory.mktemp("film"), LINES, 16.0, cuts=CUTS)


def test_voice_activity_finds_each_line_within_0_2_s(film):
    spans = speech_spans(film.video, probe(film.video), NarrationConfig())
    assert len(spans) == len(film.speech) == 3
    for (a, b), (ta, tb) in zip(spans, film.speech):
        assert abs(a - ta) <= 0.2 and abs(b - tb) <= 0.2, ((a, b), (ta, tb))


def test_gaps_are_padded_split_at_cuts_and_within_0_2_s_of_the_truth(film):
    settings = NarrationConfig()
    cuts = shot_cuts(film.video)
    assert cuts == pytest.approx(list(CUTS), abs=0.1)  # 10 fps sampling
    gaps = find_gaps(speech_spans(film.video, probe(film.video), settings), 16.0, settings,
                     cuts)
    pad = settings.pad_s
    (s1, e1), (s2, e2), (s3, e3) = film.speech
    truth = [(e1 + pad, CUTS[0]), (CUTS[0], s2 - pad), (e2 + pad, CUTS[1]),
             (CUTS[1], s3 - pad), (e3 + pad, 16.0)]
    assert len(gaps) == len(truth)
    for gap, (a, b) in zip(gaps, truth):
        assert gap.start == pytest.approx(a, abs=0.2) and gap.end == pytest.approx(b, abs=0.2)
        assert gap.duration >= settings.min_gap_s
        assert all(gap.end <= sa or gap.start >= sb for sa, sb in film.speech)


def test_a_gap_is_free_of_subtitles_too(film, tmp_path):
    # a subtitle over a stretch with no voice (an off-screen line the VAD cannot hear)
    srt = make_srt(tmp_path / "extra.srt", [(10.0, 11.0, "(whispers)")])
    settings = NarrationConfig(split_at_cuts=False)
    spans = speech_spans(film.video, probe(film.video), settings, srt)
    gaps = find_gaps(spans, 16.0, settings)
    assert all(g.end <= 10.0 - settings.pad_s + 1e-6 or g.start >= 11.0 + settings.pad_s - 1e-6
               for g in gaps)
    assert any(g.end == pytest.approx(9.85, abs=0.01) for g in gaps)


def test_min_gap_and_cut_split_keep_pieces_long_enough():
    slots = [Slot(0.0, 3.0)]
    assert split_at(slots, [0.5, 1.5], min_gap=1.2) == [Slot(0.0, 1.5), Slot(1.5, 3.0)]
    assert split_at(slots, [2.5], min_gap=1.2) == slots  # a 0.5 s sliver is not split off
    settings = NarrationConfig(min_gap_s=2.0, pad_s=0.0, split_at_cuts=False)
    assert find_gaps([(1.0, 2.0), (3.9, 5.0)], 8.0, settings) == [Slot(5.0, 8.0)]


def test_settings_refuse_values_out_of_range():
    with pytest.raises(UniADError, match="plan_wpm"):
        NarrationConfig(plan_wpm=320).validate()
    with pytest.raises(UniADError, match="voice"):
        NarrationConfig(voice="robot").validate()
    with pytest.raises(UniADError, match="min_gap_s 9 must not exceed narration.max_len_s 8"):
        NarrationConfig(min_gap_s=9.0).validate()
