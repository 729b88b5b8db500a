"""Speech synthesis fitted to slots, the narration track, and mixing it into the video."""

from __future__ import annotations

import av
import numpy as np
import pytest
from media import DURATION, ffprobe_duration, ffprobe_streams, make_video

from uniad.errors import UniADError
from uniad.narrate.deliver import mix
from uniad.narrate.deliver.fit import fit_speech
from uniad.narrate.deliver.mix import duck_envelope, mix_into_video
from uniad.narrate.deliver.speech import EspeakEngine, Speech, assemble_track, read_wav, write_wav
from uniad.narrate.media.video import decode_audio

TEXT = "Anna opens the heavy wooden door and walks slowly into the dark room."


@pytest.fixture(scope="module")
def engine():
    return EspeakEngine()


def test_espeak_speaks_faster_at_a_higher_rate(engine):
    slow, sr = engine.synthesize(TEXT, 120)
    fast, sr2 = engine.synthesize(TEXT, 300)
    assert sr == sr2 and slow.dtype == np.float32
    assert len(fast) < 0.6 * len(slow)
    assert np.abs(slow).max() > 0.05


def test_assemble_places_speech_at_its_start():
    sr = 8000
    tone = np.full(sr // 2, 0.5, np.float32)  # 0.5 s of a constant level
    track = assemble_track([Speech(1.0, tone, sr, 160), Speech(3.0, tone, sr, 160)], 4.0, sr)
    assert len(track) == 4 * sr
    loud = np.flatnonzero(track > 0.25) / sr
    assert loud.min() == pytest.approx(1.0, abs=0.01) and loud.max() == pytest.approx(3.5, abs=0.01)
    assert np.abs(track[int(1.6 * sr): int(2.9 * sr)]).max() == 0


def test_wav_round_trip(tmp_path):
    samples = np.linspace(-1, 1, 1000, dtype=np.float32)
    back, sr = read_wav(write_wav(tmp_path / "x.wav", samples, 22050))
    assert sr == 22050 and np.abs(back - samples).max() < 1e-3


def test_duck_envelope_ramps_between_full_and_ducked_gain():
    ads = [(1.0, 2.0), (2.3, 3.0), (5.0, 5.5)]
    env = duck_envelope(ads, duration=7.0, duck_db=12, ramp_s=0.2, hold_s=1.0, rate=100)
    ducked = 10 ** (-12 / 20)
    assert len(env) == 701
    assert env[50] == pytest.approx(1.0) and env[400] == pytest.approx(1.0)
    assert env[100:301] == pytest.approx(ducked)  # both ADs and the 0.3 s between them
    assert env[90] == pytest.approx(10 ** (-6 / 20))  # halfway down the ramp: half the dB
    assert env[500:551] == pytest.approx(ducked) and env[600] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, engine):
    """The test video with two ADs spoken in its silent gaps, mixed in."""
    tmp = tmp_path_factory.mktemp("mix")
    video = make_video(tmp / "clip.mp4")
    speeches = [fit_speech(engine, text, start, 2.0).speech
                for start, text in ((2.2, "Anna enters."), (7.2, "Tom sits."))]
    assert all(s.duration <= 2.0 for s in speeches)
    wav = write_wav(tmp / "ad.wav", assemble_track(speeches, DURATION, 16000), 16000)
    intervals = [(s.start, s.start + s.duration) for s in speeches]
    out = mix_into_video(video, wav, tmp / "clip.ad.mp4", intervals, duck_db=12)
    return video, out, speeches


def test_mix_adds_one_tagged_audio_stream_and_keeps_duration(mixed):
    video, out, _ = mixed
    before, after = ffprobe_streams(video), ffprobe_streams(out)
    audio_before = [s for s in before if s["codec_type"] == "audio"]
    audio_after = [s for s in after if s["codec_type"] == "audio"]
    assert len(audio_after) == len(audio_before) + 1
    assert len(after) == len(before) + 1
    added = audio_after[-1]
    assert added["codec_name"] == "aac"
    assert added["tags"]["handler_name"] == "Audio description"  # mp4's stream title
    assert added["tags"]["language"] == "fra"  # taken from the original track
    assert added["disposition"]["descriptions"] == 1 and added["disposition"]["default"] == 0
    # the original video stream is copied, not re-encoded
    v0 = next(s for s in before if s["codec_type"] == "video")
    v1 = next(s for s in after if s["codec_type"] == "video")
    for key in ("codec_name", "nb_frames", "bit_rate"):
        assert v1[key] == v0[key]
    assert ffprobe_duration(out) == pytest.approx(ffprobe_duration(video), abs=0.1)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def test_mixed_track_has_narration_in_the_gaps_and_ducks_nothing_else(mixed):
    video, out, speeches = mixed
    original = decode_audio(video, 16000)
    ad = _decode_last_audio_stream(out)
    s = speeches[0]
    inside = slice(int((s.start + 0.1) * 16000), int((s.start + s.duration - 0.1) * 16000))
    assert np.abs(original[inside]).max() < 1e-3 < np.abs(ad[inside]).max()  # narration in the gap
    loud = slice(int(0.5 * 16000), int(1.5 * 16000))  # tone, far from any AD: not ducked
    assert rms(ad[loud]) == pytest.approx(rms(original[loud]), rel=0.1)


def _decode_last_audio_stream(path):
    """decode_audio reads the first audio stream; the added one is the last."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
    chunks = []
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.audio[-1]):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    return np.concatenate(chunks)


def test_missing_binaries_fail_clearly(monkeypatch, tmp_path):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(UniADError, match="espeak-ng"):
        EspeakEngine()
    with pytest.raises(UniADError, match="ffmpeg"):
        mix.mix_into_video(tmp_path / "film.mp4", tmp_path / "ad.wav", tmp_path / "out.mp4", [])


def test_a_failed_mix_leaves_neither_a_partial_video_nor_a_temporary_file(tmp_path):
    """ffmpeg writes to a temporary name; the final name appears only when it succeeded."""
    video = make_video(tmp_path / "film.mp4", duration=2.0, audio=False)
    broken = tmp_path / "ad.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    out = tmp_path / "film.ad.mp4"
    with pytest.raises(UniADError, match="ffmpeg failed"):
        mix_into_video(video, broken, out, [(0.5, 1.0)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ad.wav", "film.mp4"]


def test_mix_into_a_silent_video_gives_the_narration_alone(tmp_path, engine):
    video = make_video(tmp_path / "mute.mp4", duration=4.0, audio=False)
    speech = fit_speech(engine, "Night falls.", 1.0, 2.0).speech
    wav = write_wav(tmp_path / "ad.wav", assemble_track([speech], 4.0, 16000), 16000)
    out = mix_into_video(video, wav, tmp_path / "mute.ad.mkv", [(1.0, 1.0 + speech.duration)])
    (added,) = [s for s in ffprobe_streams(out) if s["codec_type"] == "audio"]
    assert added["tags"]["title"] == "Audio description" and added["tags"]["language"] == "eng"
    assert ffprobe_duration(out) == pytest.approx(4.0, abs=0.1)


def test_original_audio_is_ducked_by_duck_db_while_ad_speaks(mixed, tmp_path):
    video = mixed[0]
    silence = np.zeros(int(DURATION * 16000), np.float32)
    silence = write_wav(tmp_path / "silence.wav", silence, 16000)
    out = mix_into_video(video, silence, tmp_path / "ducked.mp4", [(0.5, 1.5)], duck_db=12)
    original, ducked = decode_audio(video, 16000), _decode_last_audio_stream(out)
    during = slice(int(0.9 * 16000), int(1.2 * 16000))  # inside the AD, past the ramp
    after = slice(int(5.0 * 16000), int(6.0 * 16000))  # tone, no AD
    assert 20 * np.log10(rms(ducked[during]) / rms(original[during])) == pytest.approx(-12, abs=1)
    assert rms(ducked[after]) == pytest.approx(rms(original[after]), rel=0.1)


def test_a_long_films_ducking_does_not_grow_the_command(mixed, tmp_path):
    """Thousands of ADs: one envelope file, where a volume expression would be refused."""
    video = mixed[0]
    silence = write_wav(tmp_path / "s.wav", np.zeros(16000, np.float32), 16000)
    many = [(i * 0.006, i * 0.006 + 0.003) for i in range(2000)]
    out = mix_into_video(video, silence, tmp_path / "many.mp4", many, ramp_s=0.001)
    assert len([s for s in ffprobe_streams(out) if s["codec_type"] == "audio"]) == 2
