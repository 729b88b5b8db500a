"""Decoding real media with PyAV: frame sampling, audio, and clear errors on bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from media import DURATION, SILENT, make_video, make_wav, remux

from uniad.errors import DataError
from uniad.narrate.media.video import decode_audio, iter_frame_batches, iter_frames, probe, resample


DURATION_S = int(DURATION)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4")


def test_probe_reports_the_generated_video(video):
    info = probe(video)
    assert info.width == 160 and info.height == 120
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(DURATION, abs=0.1)
    assert info.has_audio and info.audio_language == "fra"


@pytest.mark.parametrize("fps", [5.0, 2.0])
def test_frames_are_sampled_on_the_fps_timeline(video, fps):
    frames = list(iter_frames(video, fps=fps, progress=False))
    assert len(frames) == math.ceil(DURATION * fps)
    times = [t for t, _ in frames]
    assert times == pytest.approx([k / fps for k in range(len(frames))])
    assert frames[0][1].size == (160, 120) and frames[0][1].mode == "RGB"


def test_frames_change_over_time_and_resize(video):
    (t0, a), (t1, b) = list(iter_frames(video, fps=0.5, size=60, progress=False))[:2]
    assert a.size == (80, 60)  # shorter side scaled to 60, aspect kept
    # testsrc draws a moving pattern and a counter: two seconds apart the frames differ.
    assert np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() > 1.0


def test_batches_cover_all_frames(video):
    batches = list(iter_frame_batches(video, fps=5.0, batch_size=16))
    assert [len(images) for _, images in batches] == [16, 16, 16, 12]


def test_decode_audio_is_mono_float_at_the_requested_rate(video):
    audio = decode_audio(video, sample_rate=8000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / 8000 == pytest.approx(DURATION, abs=0.1)
    (a, b) = SILENT[0]
    assert np.abs(audio[int((a + 0.2) * 8000): int((b - 0.2) * 8000)]).max() < 1e-3
    assert np.abs(audio[int(1.0 * 8000): int(1.5 * 8000)]).max() > 0.1


def test_timestamps_start_at_zero_in_mpeg_ts(video, tmp_path):
    """MPEG-TS timestamps start at 1.4 s; frames and audio must still count from 0."""
    ts = remux(video, tmp_path / "clip.ts")
    mp4_frames = [np.asarray(im, float) for _, im in iter_frames(video, fps=1.0, progress=False)]
    ts_frames = [np.asarray(im, float) for _, im in iter_frames(ts, fps=1.0, progress=False)]
    # the remuxed audio keeps AAC's 64 ms priming, so the TS lasts a little longer
    assert len(ts_frames) == math.ceil(probe(ts).duration) >= len(mp4_frames) == DURATION
    # Same picture at the same second (up to the one-frame video delay the priming makes),
    # not the picture of the next second, as an uncorrected 1.4 s clock would give.
    for k in range(1, DURATION_S - 1):
        same = np.abs(ts_frames[k] - mp4_frames[k]).mean()
        assert same < np.abs(ts_frames[k] - mp4_frames[k + 1]).mean()
        assert same < np.abs(ts_frames[k] - mp4_frames[k - 1]).mean()
    audio = decode_audio(ts, sample_rate=8000)
    (a, b) = SILENT[0]
    assert np.abs(audio[int((a + 0.2) * 8000): int((b - 0.2) * 8000)]).max() < 1e-3
    assert np.abs(audio[int((a - 0.4) * 8000): int((a - 0.2) * 8000)]).max() > 0.1


def test_resample_keeps_duration():
    tone = np.sin(np.arange(22050) / 22050 * 2 * np.pi * 200).astype(np.float32)
    out = resample(tone, 22050, 16000)
    assert abs(len(out) - 16000) < 64


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.mp4.*not found"):
        probe(tmp_path / "nope.mp4")


def test_corrupt_file_is_named(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00not a video at all" * 100)
    with pytest.raises(DataError, match="broken.mp4.*cannot be read"):
        list(iter_frames(bad, progress=False))


def test_audio_only_file_has_no_video_stream(tmp_path):
    wav = make_wav(tmp_path / "speech.wav")
    with pytest.raises(DataError, match="speech.wav.*no video stream"):
        probe(wav)
    assert decode_audio(wav).size > 0  # but its audio decodes


def test_video_without_audio_says_so(tmp_path):
    silent = make_video(tmp_path / "mute.mp4", duration=1.0, audio=False)
    assert not probe(silent).has_audio
    with pytest.raises(DataError, match="mute.mp4.*no audio stream"):
        decode_audio(silent)


def test_one_pass_gives_each_sink_its_frames_and_the_audio_as_separate_decodes_do(video):
    from uniad.narrate.media.frames import frames_at
    from uniad.narrate.media.video import FrameSink, decode_once

    got: dict[float, list] = {10.0: [], 1.0: []}
    sinks = [FrameSink(10.0, lambda t, im: got[10.0].append((t, np.asarray(im))), size=32),
             FrameSink(1.0, lambda t, im: got[1.0].append((t, np.asarray(im))))]
    audio = decode_once(video, sinks, audio_rate=16000)
    np.testing.assert_array_equal(audio, decode_audio(video, 16000))
    for fps, size in ((10.0, 32), (1.0, None)):
        alone = [(t, np.asarray(im)) for t, im in iter_frames(video, fps, size, progress=False)]
        assert [t for t, _ in got[fps]] == [t for t, _ in alone]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got[fps], alone))
    # and a frame reached by seeking is the frame the timeline has at that time
    times = [0.0, 0.4, 2.2, 3.0]
    seeked = frames_at(video, times)
    by_time = dict(got[1.0])
    for t, image in zip(times, seeked):
        if t in by_time:
            assert np.array_equal(np.asarray(image), by_time[t])
    assert decode_once(video, [], audio_rate=None) is None
