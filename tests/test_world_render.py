"""The rendered world: deterministic pictures, an encoder under which identities stay
apart, and features that survive H.264 (the demo's film goes through real compression)."""

from __future__ import annotations

import numpy as np
import pytest

from uniad.narrate.describe.extract import FrameFeatures
from uniad.narrate.deliver.speech import write_wav
from uniad.world import render
from uniad.world.encoder_fit import fit_encoder
from uniad.world.film import write_film_video
from uniad.world.pictures import encode_frames

IDENTITIES = 6


def _clip() -> list[render.Staged]:
    return [render.Staged(2, 9, 0, "lifts", "a cup"), render.Staged(12, 19, 3, "shakes", "the box", 5)]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return fit_encoder(tmp_path_factory.mktemp("enc"), IDENTITIES, 32, seed=0, pictures=600)


def test_rendering_is_deterministic_for_a_seed():
    def frames(seed):
        return render.render_timeline(_clip(), 22, (90, 100, 110), np.random.default_rng(seed))

    a, b, c = frames(1), frames(1), frames(2)
    assert a.shape == (22, render.SIZE, render.SIZE, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # the gaps show the empty set: frame 0 differs from the empty background by noise only
    empty = np.full_like(a[0], 0) + np.array((90, 100, 110), dtype=np.uint8)
    assert np.abs(a[0, :40].astype(int) - empty[:40]).mean() < 10
    assert np.abs(a[5, :40].astype(int) - empty[:40]).mean() > 20  # a figure stands there


def test_looks_differ_between_identities():
    looks = [render.identity_look(i) for i in range(24)]
    assert len(set(looks)) == 24


def test_an_identitys_two_photos_are_closer_than_two_identities(encoder):
    rng = np.random.default_rng(0)
    photos = np.stack([encode_frames(encoder, np.stack([render.render_photo(i, v, rng)
                                                        for v in (0, 1)]))
                       for i in range(IDENTITIES)])
    unit = photos / np.linalg.norm(photos, axis=-1, keepdims=True)
    same = [float(unit[i, 0] @ unit[i, 1]) for i in range(IDENTITIES)]
    across = [float(unit[i, 0] @ unit[j, 1]) for i in range(IDENTITIES)
              for j in range(IDENTITIES) if i != j]
    assert min(same) > max(across)


def test_the_encoder_is_rebuilt_from_its_folder_and_seed(encoder, tmp_path):
    again = fit_encoder(tmp_path / "again", IDENTITIES, 32, seed=0, pictures=600)
    frames = render.render_timeline(_clip(), 12, (90, 100, 110), np.random.default_rng(3))
    assert np.allclose(encode_frames(encoder, frames), encode_frames(again, frames), atol=1e-5)


def test_features_of_a_clip_survive_h264(encoder, tmp_path):
    fps = 5.0
    frames = render.render_timeline(_clip(), 22, (90, 100, 110), np.random.default_rng(4))
    audio = write_wav(tmp_path / "silence.wav", np.zeros(int(16000 * 22 / fps), np.float32), 16000)
    video = write_film_video(tmp_path / "clip.mp4", frames, fps, audio)
    store = FrameFeatures(video, encoder, fps, 22 / fps, tmp_path / "cache")  # as narration reads
    try:
        decoded = np.asarray(store.window("clip", 0.0, 21 / fps))
    finally:
        store.close()
    direct = encode_frames(encoder, frames)
    assert decoded.shape == direct.shape
    cos = np.sum(decoded * direct, 1) / (np.linalg.norm(decoded, axis=1)
                                         * np.linalg.norm(direct, axis=1))
    assert cos.min() > 0.95, cos.round(3)
