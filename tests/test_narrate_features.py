"""Visual encoder, cached feature extraction, encoder checks and the cast bank."""

from __future__ import annotations


import h5py
import numpy as np
import pytest
import torch
from media import make_image, make_video
from PIL import Image

from uniad.data.charbank import CharacterBank
from uniad.errors import DataError, UniADError
from uniad.narrate.describe.cast import build_bank, read_cast
from uniad.narrate.describe.encoder import (
    CLIPVisionEncoder, OpenCLIPEncoder, VisualEncoder, random_clip_encoder,
)
from uniad.narrate.describe.extract import FrameFeatures, check_encoder
from uniad.narrate.media.video import iter_frame_batches

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            image_size=32, patch_size=8, projection_dim=16)


@pytest.fixture(scope="module")
def encoder():
    torch.set_num_threads(1)
    return random_clip_encoder(**TINY)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", duration=4.0)


def test_encoder_gives_one_row_per_image(encoder):
    assert isinstance(encoder, VisualEncoder)
    images = [Image.new("RGB", (64, 48), c) for c in ("red", "blue", "red")]
    feats = encoder.encode(images)
    assert feats.shape == (3, 16) and feats.dtype == np.float32
    assert np.allclose(feats[0], feats[2], atol=1e-5) and not np.allclose(feats[0], feats[1])


def test_encoder_loads_from_a_folder(encoder, tmp_path):
    encoder.model.save_pretrained(tmp_path / "tiny-clip")
    loaded = CLIPVisionEncoder(tmp_path / "tiny-clip")
    assert loaded.name == "clip:tiny-clip:16" and loaded.feature_dim == 16
    image = [Image.new("RGB", (40, 40), "green")]
    assert np.allclose(loaded.encode(image), encoder.encode(image), atol=1e-5)


def test_encoder_loads_the_vision_tower_of_a_full_clip_folder(tmp_path):
    """Like openai/clip-vit-large-patch14: text + vision, projection width at the top level."""
    from transformers import CLIPConfig, CLIPModel

    vision = {k: v for k, v in TINY.items() if k != "projection_dim"}
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                vocab_size=64)
    clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)).eval()
    clip.save_pretrained(tmp_path / "full-clip")
    loaded = CLIPVisionEncoder(tmp_path / "full-clip")
    assert loaded.feature_dim == 24 and loaded.name == "clip:full-clip:24"
    image = [Image.new("RGB", (40, 40), "green")]
    pixels = loaded.processor(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)
    assert np.allclose(loaded.encode(image), expected.numpy(), atol=1e-5)


def test_encoder_folder_must_exist(tmp_path):
    with pytest.raises(UniADError, match="not a CLIP model folder"):
        CLIPVisionEncoder(tmp_path)


def test_open_clip_is_optional(tmp_path):
    try:
        import open_clip  # noqa: F401
    except ImportError:
        with pytest.raises(UniADError, match="open_clip_torch"):
            OpenCLIPEncoder("ViT-L-14", tmp_path / "w.bin")
    else:
        with pytest.raises(UniADError, match="not found"):
            OpenCLIPEncoder("ViT-L-14", tmp_path / "w.bin")


def test_features_are_encoded_where_read_equal_a_full_decode_and_are_cached(encoder, video,
                                                                             tmp_path):
    store = FrameFeatures(video, encoder, 5.0, 4.0, tmp_path)
    window = store.window("clip", 1.0, 2.0)
    assert window.shape == (6, 16) and store.encoded_now == 0  # nothing read yet
    rows = window[np.array([0, 5])]
    assert rows.shape == (2, 16) and store.encoded_now == 2
    every = np.concatenate([encoder.encode(images)
                            for _, images in iter_frame_batches(video, 5.0)])
    np.testing.assert_allclose(rows, every[[5, 10]], atol=1e-5)  # the frames at 1 s and 2 s
    np.testing.assert_allclose(np.asarray(window), every[5:11], atol=1e-5)
    assert store.encoded_now == 6 and store.cached == 6
    store.close()
    with h5py.File(store.path) as f:
        assert f.attrs["encoder"] == encoder.name and f["features"].shape == (20, 16)
    again = FrameFeatures(video, encoder, 5.0, 4.0, tmp_path)
    np.testing.assert_allclose(again.window("clip", 0.9, 2.1)[:], every[5:11], atol=1e-5)
    assert again.encoded_now == 0  # all six from the cache
    again.close()
    assert FrameFeatures(video, encoder, 2.0, 4.0, tmp_path).path != store.path  # another rate
    with pytest.raises(DataError, match="no features for 'other'"):
        again.window("other", 0.0, 1.0)


def test_check_encoder_refuses_a_different_width_or_name():
    check_encoder("clip:a:768", 768, "clip:a:768", 768, "x.h5")
    check_encoder("", 768, "clip:a:768", 768, "mad.h5")  # benchmark stores record no name
    with pytest.raises(UniADError, match=r"x\.h5.*width 512.*width 768"):
        check_encoder("clip:b:512", 512, "clip:a:768", 768, "x.h5")
    with pytest.raises(UniADError, match="clip:b:768"):
        check_encoder("clip:b:768", 768, "clip:a:768", 768, "x.h5")


@pytest.fixture()
def photos(tmp_path):
    (tmp_path / "img").mkdir()
    return [make_image(tmp_path / "img" / f"{c}.png", c) for c in ("red", "blue", "green")]


def test_cast_csv_to_bank(encoder, photos, tmp_path):
    cast = tmp_path / "cast.csv"
    cast.write_text(
        "name,role,short_name,gender,photos\n"
        "Ann Actor,Anna Berg,Anna,female,img/red.png;img/blue.png\n"
        "Tom Actor,Tom Hill,,male,img/green.png\n"
    )
    bank = build_bank(cast, encoder, "clip")
    assert [c.display_name for c in bank.cast("clip")] == ["Anna", "Tom"]
    anna = bank.exemplar("clip", "anna-berg")
    expected = encoder.encode([Image.open(p).convert("RGB") for p in photos[:2]]).mean(0)
    assert anna.shape == (1, 16) and np.allclose(anna[0].numpy(), expected, atol=1e-5)
    bank.save(tmp_path / "bank.safetensors")
    assert CharacterBank.load(tmp_path / "bank.safetensors").feature_dim == 16


def test_cast_json_per_photo(encoder, photos, tmp_path):
    cast = tmp_path / "cast.json"
    cast.write_text('{"cast": [{"id": "nm1", "name": "A", "role": "Anna", '
                    '"photos": ["img/red.png", "img/blue.png"]}]}')
    bank = build_bank(cast, encoder, "v", per_photo=True)
    assert bank.exemplar("v", "nm1").shape == (2, 16)


def test_cast_photo_that_does_not_open_is_named(encoder, photos, tmp_path):
    (tmp_path / "img" / "bad.jpg").write_bytes(b"not a jpeg")
    cast = tmp_path / "cast.csv"
    cast.write_text("name,role,photos\nA,Anna,img/red.png\nB,Bea,img/bad.jpg\n")
    expected = r"cast\.csv: record line 3: field 'photos': photo .*bad\.jpg"
    with pytest.raises(DataError, match=expected):
        build_bank(cast, encoder, "v")
    cast.write_text("name,role,photos\nA,Anna,img/missing.png\n")
    with pytest.raises(DataError, match=r"line 2.*missing\.png"):
        build_bank(cast, encoder, "v")


def test_cast_rows_are_checked(tmp_path):
    cast = tmp_path / "cast.json"
    cast.write_text('[{"role": "Anna", "photos": []}]')
    with pytest.raises(DataError, match="record 0.*photos.*at least one photo"):
        read_cast(cast)
    cast.write_text('[{"role": "Anna", "photos": "a.png"}, {"role": "Anna", "photos": "b.png"}]')
    with pytest.raises(DataError, match="record 1.*'id'.*also used by record 0"):
        read_cast(cast)
