"""On-screen text: Tesseract on a generated film with a title card, a sign and burnt-in
subtitles drawn at known times (ffmpeg drawtext), then tracking, filtering and cues."""

from __future__ import annotations

import pytest
from media import DIALOGUE, DURATION, SILENT

from uniad.errors import UniADError
from uniad.narrate.core import Slot
from uniad.narrate.media.ocr import FrameText, TesseractOCR, TextBlock, scan_video
from uniad.narrate.timeline.screen_text import (
    ScreenText, cue_text, place_cues, texts_during, track_texts,
)
from uniad.narrate.timeline.slots import slots_between
from uniad.world.sample_media import Caption, make_text_video

TITLE, SIGN = "THE LAST TRAIN", "EXIT"
CAPTIONS = (
    Caption(0.0, 2.5, "THE LAST\nTRAIN", "title"),  # two lines, read as one title
    Caption(6.0, 10.0, SIGN, "sign"),
    *(Caption(a, b, text, "subtitle") for a, b, text in DIALOGUE),
)


def edits(a: str, b: str) -> int:
    """Levenshtein distance (the test's own, independent of the code under test)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def read_as(got: str, want: str) -> bool:
    """Same words, each within one character edit."""
    g, w = got.split(), want.split()
    return len(g) == len(w) and all(edits(x, y) <= 1 for x, y in zip(g, w))


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    root = tmp_path_factory.mktemp("screen_text")
    video = make_text_video(root / "text.mp4", DURATION, CAPTIONS, silent=SILENT)
    ocr = CountingOCR("eng")
    frames = list(scan_video(video, ocr, fps=1.0))
    return {"video": video, "frames": frames, "reads": ocr.reads}


class CountingOCR(TesseractOCR):
    reads = 0

    def read(self, time, image):
        self.reads += 1
        return super().read(time, image)


def test_unchanged_frames_reuse_the_last_reading_with_the_same_result(film):
    every = CountingOCR("eng")
    frames = list(scan_video(film["video"], every, fps=1.0, same_below=0.0))
    assert every.reads == len(frames) == len(film["frames"]) == DURATION
    assert film["reads"] < len(frames)  # held title and sign shots were not read again
    assert [(f.time, [b.text for b in f.blocks]) for f in film["frames"]] == \
        [(f.time, [b.text for b in f.blocks]) for f in frames]


def test_title_and_sign_are_read_at_their_times_and_subtitles_are_not(film):
    texts = track_texts(film["frames"], dialogue=DIALOGUE)
    assert len(texts) == 2, texts
    title, sign = texts
    assert read_as(title.text, TITLE) and title.kind == "title"
    assert read_as(sign.text, SIGN) and sign.kind == "sign"
    assert 0.0 <= title.start and title.end <= 2.5
    assert 6.0 <= sign.start <= 7.0 and 9.0 <= sign.end <= 10.0
    assert title.confidence >= 60 and sign.confidence >= 60
    # The subtitle "Where were you?" was on screen (and OCR saw it) but is not kept.
    seen = " ".join(b.text for f in film["frames"] for b in f.blocks)
    assert "were" in seen
    assert not any("were" in t.text for t in texts)


def test_cues_land_in_gaps_after_the_text_within_the_budget(film):
    texts = track_texts(film["frames"], dialogue=DIALOGUE)
    slots = slots_between([(a, b) for a, b, _ in DIALOGUE], DURATION)
    cues, free = place_cues(texts, slots, words_per_second=2.5)
    assert [c.meta["kind"] for c in cues] == ["title", "sign"]
    for cue, text in zip(cues, texts):
        slot = next(s for s in slots if s.start <= cue.start and cue.end <= s.end)
        assert cue.start >= text.start
        assert len(cue.text.split()) <= cue.meta["word_budget"]
        assert cue.meta["word_budget"] == int((slot.end - cue.start) * 2.5)
        assert all(cue.end <= a or cue.start >= b for a, b, _ in DIALOGUE)
    assert cues[0].text.startswith("Title:") and cues[1].text.startswith("A sign reads:")
    # The time the cues take is not offered to the describer again.
    for s in free:
        assert all(s.end <= c.start or s.start >= c.end for c in cues)


def test_cue_is_cut_to_a_short_slot_and_skipped_when_even_a_word_does_not_fit():
    text = ScreenText(0.0, 3.0, "NO ENTRY BEYOND THIS POINT", "sign", 90.0)
    cues, free = place_cues([text], [Slot(1.0, 3.0)], words_per_second=2.5)  # 5 words
    assert len(cues[0].text.split()) <= 5 and cues[0].meta["cut"]
    assert free == []  # nothing of at least min_gap left
    none, untouched = place_cues([text], [Slot(1.0, 1.6)], words_per_second=2.5)
    assert none == [] and untouched == [Slot(1.0, 1.6)]
    late, _ = place_cues([text], [Slot(20.0, 25.0)], max_delay=10.0)
    assert late == []  # long gone from the screen by then
    assert cue_text(text) == "A sign reads: NO ENTRY BEYOND THIS POINT."


def test_stacked_lines_join_and_side_by_side_texts_do_not():
    from uniad.narrate.media.ocr import merge_lines

    lines = [TextBlock("TRAIN", 96.0, (212, 181, 131, 33)),
             TextBlock("THE LAST", 94.0, (212, 138, 216, 34)),
             TextBlock("EXIT", 90.0, (500, 140, 80, 30)),  # beside, not below
             TextBlock("Far below", 90.0, (212, 300, 200, 30))]  # too far down
    merged = merge_lines(lines)
    assert [b.text for b in merged] == ["THE LAST TRAIN", "EXIT", "Far below"]
    assert merged[0].box == (212, 138, 216, 76)
    assert merged[0].confidence == pytest.approx((94 * 2 + 96) / 3)


def _frame(time, text, top=50, plain=False):
    return FrameText(time, 640, 360, (TextBlock(text, 90.0, (100, top, 200, 30)),), plain)


def test_one_frame_readings_and_spoken_lines_are_dropped_wherever_they_sit():
    frames = [_frame(0, "MOTEL"), _frame(1, "M0TEL"), _frame(2, "MOTEL"),  # an OCR slip
              _frame(3, "GHOST"),  # one frame only: noise
              _frame(4, "Sit down now", top=40), _frame(5, "Sit down now", top=40)]
    # "motel" is said too, but long after the sign: the sign stays.
    texts = track_texts(frames, dialogue=[(4.0, 5.5, "Sit down."), (9.0, 10.0, "The motel.")])
    assert [(t.text, t.start, t.end) for t in texts] == [("MOTEL", 0, 2)]
    back = [*frames[:3], _frame(10, "MOTEL"), _frame(11, "MOTEL"),
            _frame(90, "MOTEL"), _frame(91, "MOTEL")]
    assert [(t.start, t.end) for t in track_texts(back)] == [(0, 11), (90, 91)]
    said_then = track_texts(frames, dialogue=[(0.5, 2.0, "A motel!"), (4.0, 5.5, "Sit down.")])
    assert said_then == []
    assert texts_during(texts, Slot(3.0, 6.0)) == texts  # seen 1 s before the slot
    assert texts_during(texts, Slot(5.0, 8.0)) == []


def test_confidence_threshold_and_missing_language_data(film):
    frame = next(f for f in film["frames"] if f.time == 8.0)
    assert frame.blocks and all(b.confidence >= 60 for b in frame.blocks)
    from uniad.narrate.media.video import iter_frames

    image = next(img for t, img in iter_frames(film["video"], fps=1.0) if t == 8.0)
    assert TesseractOCR("eng", min_confidence=100.1).blocks(image) == []
    with pytest.raises(UniADError, match="klingon"):
        TesseractOCR("eng+klingon")


def test_uniad_reads_screen_text_only_behind_its_switch():
    import dataclasses

    from model_samples import make_sample, tiny_config

    from uniad.model.sequence import SequenceBuilder, TextSegment
    from uniad.model.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    sample = dataclasses.replace(make_sample(), screen_text=["EXIT"])
    off = SequenceBuilder(tokenizer, tiny_config().model).build(sample)
    on = SequenceBuilder(tokenizer, tiny_config(use_screen_text=True).model).build(sample)
    added = [s for s in on if s.role == "screen_text"]
    assert [s.text for s in added] == ['On screen: "EXIT"'] and added[0].ids
    assert [s for s in on if s.role != "screen_text"] == off  # nothing else moves
    describe_at = next(i for i, s in enumerate(on) if isinstance(s, TextSegment)
                       and s.text == "Describe ")
    assert on.index(added[0]) == describe_at - 1


def test_frames_between_seeks_to_the_asked_times(film):
    import numpy as np

    from uniad.narrate.media.frames import frame_times, frames_between

    assert frame_times(2.0, 4.0, 2) == [2.5, 3.5]
    title, bars = frames_between(film["video"], 0.5, 4.5, count=2, size=None)  # 1.5 s, 3.5 s
    assert title.size == (640, 360)
    assert np.asarray(title.convert("L")).mean() < 40  # the black title card
    assert np.asarray(bars.convert("L")).mean() > 80  # colour bars after it


def test_uniad_describer_puts_the_slots_screen_text_in_its_sample(caplog):
    from types import SimpleNamespace

    import numpy as np
    import torch

    from uniad.config import load_config
    from uniad.data.charbank import CharacterBank
    from uniad.data.schema import Character
    from uniad.narrate.describe.uniad import UniADDescriber

    cast = [Character(id="anna", name="", role="Anna")]
    bank = CharacterBank.from_tensors({"anna": torch.ones(1, 4)}, cast={"v": cast})
    store = SimpleNamespace(window=lambda video, a, b: np.ones((10, 4), np.float32))
    model = SimpleNamespace(config=load_config("demo"))
    sign = ScreenText(1.0, 3.0, "EXIT", "sign", 90.0)
    describer = UniADDescriber(model, store, "v", bank, screen_texts=[sign])
    assert "use_screen_text" in caplog.text  # told it will not be read by this checkpoint
    assert describer.sample(Slot(2.0, 4.0), []).screen_text == ["EXIT"]
    assert describer.sample(Slot(10.0, 12.0), []).screen_text == []
