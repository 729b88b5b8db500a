"""`uniad narrate` end to end: generated media, a PIL-drawn cast, a tiny random UniAD."""

from __future__ import annotations

import json
import logging

import pytest
import srt
import torch
import webvtt
from media import DIALOGUE, DURATION, SILENT, ffprobe_duration, ffprobe_streams, make_srt, make_video
from PIL import Image, ImageDraw

from uniad.cli import main
from uniad.config import load_config
from uniad.errors import UniADError
from uniad.narrate.describe.encoder import encoder_from_name, random_clip_encoder, random_clip_name

# A CLIP vision tower small enough for a 2-core CPU; its width is the model's feature_dim.
TINY_CLIP = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                 num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("narrate")
    photos = []
    for name, color in (("anna.png", (200, 40, 40)), ("ben.png", (40, 40, 200))):
        image = Image.new("RGB", (48, 48), color)
        ImageDraw.Draw(image).ellipse((12, 8, 36, 40), fill=(230, 200, 170))
        image.save(root / name)
        photos.append(name)
    cast = [{"name": "Ann Actor", "role": "Anna Smith", "short_name": "Anna", "gender": "female",
             "photos": [photos[0]]},
            {"name": "Ben Actor", "role": "Ben Jones", "gender": "male", "photos": [photos[1]]}]
    (root / "cast.json").write_text(json.dumps({"cast": cast}))

    from uniad.model.uniad import UniAD

    config = load_config("demo", overrides=[
        "model.llm=tiny", f"model.feature_dim={TINY_CLIP['projection_dim']}",
        "model.num_latents=2", "generation.max_new_tokens=12",
        "data.previous_clips=1"])  # as a release checkpoint: each AD reads the previous clip
    config.model.visual_encoder = random_clip_name(**TINY_CLIP)
    torch.manual_seed(0)
    corpus = ["Anna walks in.", "Ben sits down at the table.", "She looks at him."] * 4
    UniAD.build(config, corpus=corpus).save_pretrained(root / "ckpt")
    return {"root": root, "video": make_video(root / "clip.mp4"),
            "srt": make_srt(root / "dialogue.srt"), "cast": root / "cast.json",
            "ckpt": root / "ckpt"}


def _narrate(media, out, *extra):
    return main(["narrate", str(media["video"]), "--cast", str(media["cast"]),
                 "--checkpoint", str(media["ckpt"]), "--out", str(out),
                 "--cache-dir", str(media["root"] / "cache"), *extra])


def test_narrate_writes_tracks_between_dialogue_speech_and_mix(media, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        assert _narrate(media, tmp_path / "a", "--subtitles", str(media["srt"]),
                        "--speak", "--mix") == 0
    out = tmp_path / "a"
    report = json.loads((out / "ad.json").read_text())
    # One slot inside each dialogue gap of at least --min-gap (1.5 s), none elsewhere.
    bounds = [0.0] + [t for a, b, _ in DIALOGUE for t in (a, b)] + [DURATION]
    gaps = [(a, b) for a, b in zip(bounds[::2], bounds[1::2]) if b - a >= 1.5]
    slots = report["info"]["slots"]
    assert len(slots) == len(gaps) == 2
    assert all(a <= s <= e <= b for (s, e), (a, b) in zip(slots, gaps))
    assert report["ads"], "the tiny model produced no AD at all"
    cues = list(srt.parse((out / "ad.srt").read_text()))
    vtt = webvtt.read(str(out / "ad.vtt"))
    assert len(cues) == len(vtt.captions) == len(report["ads"])
    for cue in cues:
        start, end = cue.start.total_seconds(), cue.end.total_seconds()
        assert all(end <= a or start >= b for a, b, _ in DIALOGUE), (start, end)
        assert 0 <= start < end <= DURATION
    for ad in report["ads"]:
        assert len(ad["text"].split()) <= ad["meta"]["word_budget"]
        assert set(ad["characters"]) <= {"Anna", "Ben"}
    mixed = out / "clip.ad.mp4"
    audio_in = [s for s in ffprobe_streams(media["video"]) if s["codec_type"] == "audio"]
    audio_out = [s for s in ffprobe_streams(mixed) if s["codec_type"] == "audio"]
    assert len(audio_out) == len(audio_in) + 1
    assert ffprobe_duration(mixed) == pytest.approx(ffprobe_duration(media["video"]), abs=0.1)

    # Second run (other output folder, same cache): features are not extracted again.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert _narrate(media, tmp_path / "b", "--subtitles", str(media["srt"])) == 0
    assert any("feature cache hit" in r.getMessage() for r in caplog.records)
    assert json.loads((tmp_path / "b" / "ad.json").read_text())["info"]["feature_cache_hit"]
    assert not (tmp_path / "b" / "ad.wav").exists()


def test_slots_from_the_soundtrack_without_subtitles(media, tmp_path):
    assert _narrate(media, tmp_path / "c") == 0
    report = json.loads((tmp_path / "c" / "ad.json").read_text())
    slots = report["info"]["slots"]
    assert len(slots) == len(SILENT)
    assert all(a - 0.5 <= s < e <= b + 0.5 for (s, e), (a, b) in zip(slots, SILENT))
    for ad in report["ads"]:
        assert any(a - 0.5 <= ad["start"] < ad["end"] <= b + 0.5 for a, b in SILENT)


def test_encoder_of_another_width_is_refused_before_generation(media, tmp_path, capsys):
    other = random_clip_encoder(**{**TINY_CLIP, "projection_dim": 8})
    folder = tmp_path / "clip-other"
    other.model.save_pretrained(folder)
    assert _narrate(media, tmp_path / "d", "--visual-encoder", str(folder)) == 2
    err = capsys.readouterr().err
    assert "width 8" in err and "width 16" in err and "--visual-encoder" not in err
    assert not (tmp_path / "d" / "ad.srt").exists()


def test_checkpoint_without_a_rebuildable_encoder_asks_for_clip(media, tmp_path, capsys):
    from uniad.model.uniad import UniAD

    model = UniAD.from_pretrained(media["ckpt"])
    model.config.model.visual_encoder = "clip:clip-vit-large-patch14:768"
    model.save_pretrained(tmp_path / "ckpt")
    code = main(["narrate", str(media["video"]), "--cast", str(media["cast"]),
                 "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "e")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--visual-encoder" in err and "ViT-L/14" in err


@pytest.fixture(scope="module")
def carrying(media, tmp_path_factory):
    """A checkpoint trained (as its config records) on features of a local CLIP folder,
    ``tiny-clip``, which it carries as ``visual_encoder/``: a rendered world's run."""
    from uniad.model.uniad import UniAD

    root = tmp_path_factory.mktemp("carrying")
    random_clip_encoder(**TINY_CLIP).model.save_pretrained(root / "tiny-clip")
    model = UniAD.from_pretrained(media["ckpt"])
    model.config.model.visual_encoder = "clip:tiny-clip:16"  # what CLIPVisionEncoder names it
    model.bundle_visual_encoder(root / "tiny-clip")
    model.save_pretrained(root / "ckpt")
    return root / "ckpt"


def test_a_checkpoint_carrying_its_encoder_narrates_without_the_flag(media, carrying, tmp_path,
                                                                     caplog):
    from uniad.narrate.describe.encoder import CLIPVisionEncoder
    from uniad.train.material import choose_encoder

    assert CLIPVisionEncoder(carrying / "visual_encoder").name == "clip:tiny-clip:16"
    with caplog.at_level(logging.INFO):
        assert main(["narrate", str(media["video"]), "--cast", str(media["cast"]),
                     "--checkpoint", str(carrying), "--out", str(tmp_path / "k")]) == 0
    assert json.loads((tmp_path / "k" / "ad.json").read_text())["info"]["encoder"] == \
        "clip:tiny-clip:16"
    assert any("checkpoint's own copy" in r.getMessage() and "visual_encoder" in r.getMessage()
               for r in caplog.records)
    assert choose_encoder(carrying, None)[0].name == "clip:tiny-clip:16"  # `uniad data build`


def test_an_explicit_encoder_wins_over_the_carried_copy(media, carrying, tmp_path, capsys):
    other = random_clip_encoder(**{**TINY_CLIP, "projection_dim": 8})
    other.model.save_pretrained(tmp_path / "clip-other")
    assert main(["narrate", str(media["video"]), "--cast", str(media["cast"]),
                 "--checkpoint", str(carrying), "--out", str(tmp_path / "m"),
                 "--visual-encoder", str(tmp_path / "clip-other")]) == 2
    err = capsys.readouterr().err
    assert "width 8" in err and "clip-other" in err  # the flag's encoder, refused on its width


def test_missing_video_and_missing_photo_fail_clearly(media, tmp_path, capsys):
    missing = tmp_path / "nope.mp4"
    assert main(["narrate", str(missing), "--cast", str(media["cast"]), "--checkpoint",
                 str(media["ckpt"]), "--out", str(tmp_path / "f")]) == 2
    assert f"{missing}" in capsys.readouterr().err
    cast = json.loads(media["cast"].read_text())
    cast["cast"][1]["photos"] = ["gone.png"]
    (media["root"] / "bad_cast.json").write_text(json.dumps(cast))
    assert main(["narrate", str(media["video"]), "--cast", str(media["root"] / "bad_cast.json"),
                 "--checkpoint", str(media["ckpt"]), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "gone.png" in err and "record 1" in err and "photos" in err


def test_top_k_characters_are_those_nearest_the_clip():
    from types import SimpleNamespace

    from uniad.data.charbank import CharacterBank
    from uniad.data.schema import Character
    from uniad.narrate.describe.uniad import UniADDescriber

    cast = [Character(id=c, name="", role=c) for c in ("anna", "ben", "cleo")]
    axes = torch.eye(3, 4)
    bank = CharacterBank.from_tensors({c.id: axes[i : i + 1] for i, c in enumerate(cast)},
                                      cast={"v": cast})
    model = SimpleNamespace(config=load_config("demo"))
    clip = torch.stack([axes[2] + 0.1 * axes[0], axes[2]])  # mostly cleo, a little anna
    picked = UniADDescriber(model, None, "v", bank, max_characters=2).characters_for(clip)
    assert [e.character.id for e in picked] == ["anna", "cleo"]  # cast order kept
    everyone = UniADDescriber(model, None, "v", bank).characters_for(clip)
    assert [e.character.id for e in everyone] == ["anna", "ben", "cleo"]


def _synthetic_model(media):
    """The fixture's model as the demo has it: trained on synthetic-world features."""
    from uniad.model.uniad import UniAD

    model = UniAD.from_pretrained(media["ckpt"])
    model.config.model.visual_encoder = "synthetic"
    return model


def test_encoder_name_mismatch_is_refused_unless_allowed_and_then_recorded(media, tmp_path,
                                                                           caplog):
    from uniad.narrate.run import narrate

    model = _synthetic_model(media)
    clip = encoder_from_name(random_clip_name(**TINY_CLIP))
    common = dict(subtitles=media["srt"], cache_dir=media["root"] / "cache")
    with pytest.raises(UniADError, match="synthetic"):
        narrate(media["video"], media["cast"], model, tmp_path / "a", encoder=clip, **common)
    assert not (tmp_path / "a" / "ad.json").exists()

    with caplog.at_level(logging.WARNING):
        narrate(media["video"], media["cast"], model, tmp_path / "b", encoder=clip,
                allow_encoder_mismatch=True, **common)
    info = json.loads((tmp_path / "b" / "ad.json").read_text())["info"]
    assert info["encoder_mismatch"] == {"trained_on": "synthetic", "used": clip.name}
    assert any(r.levelno == logging.WARNING and "synthetic" in r.getMessage()
               for r in caplog.records)

    narrow = random_clip_encoder(**{**TINY_CLIP, "projection_dim": 8})
    with pytest.raises(UniADError, match="width 8"):  # the flag never excuses a width
        narrate(media["video"], media["cast"], model, tmp_path / "c", encoder=narrow,
                allow_encoder_mismatch=True, **common)


def test_demo_encoder_is_the_recorded_random_clip_else_one_of_the_model_width():
    from uniad.narrate.describe.encoder import demo_encoder

    recorded = random_clip_name(**TINY_CLIP)
    assert demo_encoder(recorded, TINY_CLIP["projection_dim"]).name == recorded
    made = demo_encoder("synthetic", 24)
    assert made.feature_dim == 24 and made.name != "synthetic"
    assert encoder_from_name(made.name).feature_dim == 24  # its name rebuilds it


def test_narrate_sample_puts_ads_between_the_generated_dialogue(media, tmp_path):
    from uniad.world.narration import narrate_sample

    seconds = 10.0
    result = narrate_sample(_synthetic_model(media), tmp_path, seconds=seconds)
    for kind in ("srt", "vtt", "json", "wav", "video"):
        assert result.paths[kind].is_file(), kind
    dialogue = [(c.start.total_seconds(), c.end.total_seconds())
                for c in srt.parse((tmp_path / "media" / "sample.srt").read_text())]
    assert dialogue, "the sample film has no dialogue"
    cues = list(srt.parse((tmp_path / "ad.srt").read_text()))
    assert cues and len(cues) == len(result.ads)
    for cue in cues:
        start, end = cue.start.total_seconds(), cue.end.total_seconds()
        assert all(end <= a or start >= b for a, b in dialogue), (start, end)
        assert 0 <= start < end <= seconds
    report = json.loads(result.paths["json"].read_text())
    assert report["info"]["encoder_mismatch"]["trained_on"] == "synthetic"
    audio = [s for s in ffprobe_streams(result.paths["video"]) if s["codec_type"] == "audio"]
    assert len(audio) == 2  # the film's tone and the AD
    assert ffprobe_duration(result.paths["video"]) == pytest.approx(seconds, abs=0.1)


def test_a_demo_checkpoint_is_narratable_from_the_cli(media, tmp_path):
    _synthetic_model(media).save_pretrained(tmp_path / "demo-ckpt")
    assert main(["narrate", str(media["video"]), "--cast", str(media["cast"]),
                 "--checkpoint", str(tmp_path / "demo-ckpt"), "--out", str(tmp_path / "o"),
                 "--subtitles", str(media["srt"]), "--no-cut-split"]) == 0
    info = json.loads((tmp_path / "o" / "ad.json").read_text())["info"]
    assert info["encoder_mismatch"]["trained_on"] == "synthetic"
    assert info["encoder"].startswith("random-clip:")


def test_the_uniad_describer_bans_a_repeat_when_asked():
    import numpy as np
    from types import SimpleNamespace

    from uniad.data.charbank import CharacterBank
    from uniad.data.schema import Character
    from uniad.model.uniad import UniAD
    from uniad.narrate.describe.uniad import UniADDescriber
    from uniad.narrate.core import Slot

    torch.manual_seed(0)
    config = load_config("demo", overrides=[
        "model.llm=tiny", "model.feature_dim=16", "model.num_latents=2",
        "generation.max_new_tokens=8"])
    model = UniAD.build(config, corpus=["Anna walks in.", "Ben sits down.", "She looks."] * 4)
    cast = [Character(id="anna", name="A", role="Anna", short_name="Anna")]
    bank = CharacterBank.from_tensors({"anna": torch.ones(1, 16)}, cast={"v": cast})
    frames = np.random.default_rng(0).standard_normal((20, 16)).astype(np.float32)
    store = SimpleNamespace(window=lambda video, start, end: frames)
    describe = UniADDescriber(model, store, "v", bank)
    outputs: list[list[int]] = []
    generate_ids = model.generate_ids

    def spy(samples, **kwargs):
        outputs.append(generate_ids(samples, **kwargs)[0])
        return [outputs[-1]]

    model.generate_ids = spy
    first = describe(Slot(0.0, 3.0), 6, [])
    describe(Slot(0.0, 3.0), 6, [])
    assert outputs[1] == outputs[0]  # deterministic: the same clip says the same thing
    describe(Slot(0.0, 3.0), 6, [], avoid=(first.text,))
    # the exact token sequence is banned (the random tiny model's text is byte soup whose
    # decoding can hide the difference, so compare what it generated)
    assert outputs[2] != outputs[0]


def test_only_the_frames_the_model_reads_are_encoded_and_the_narration_is_unchanged(media,
                                                                                     tmp_path):
    """The lazy store encodes exactly the rows the slots' samples read (the slot's
    video_length frames and the previous clip's), and narrates as a store holding every
    frame of the film at 5 fps did."""
    import numpy as np

    from uniad.config import NarrationConfig
    from uniad.data.features import FeatureStore, write_feature_store
    from uniad.data.sampling import linspace_indices
    from uniad.data.features import exact_frame_span
    from uniad.model.uniad import UniAD
    from uniad.narrate.deliver.plan import plan_cues
    from uniad.narrate.describe.cast import build_bank
    from uniad.narrate.describe.encoder import encoder_from_name
    from uniad.narrate.describe.extract import FrameFeatures, video_id_for
    from uniad.narrate.describe.uniad import UniADDescriber
    from uniad.narrate.media.video import iter_frame_batches, probe
    from uniad.narrate.timeline.slots import slots_between
    from uniad.narrate.timeline.subtitles import read_subtitle_intervals

    model = UniAD.from_pretrained(media["ckpt"])
    encoder = encoder_from_name(model.config.model.visual_encoder)
    duration, data = probe(media["video"]).duration, model.config.data
    video_id = video_id_for(media["video"])
    bank = build_bank(media["cast"], encoder, video_id)
    slots = slots_between(read_subtitle_intervals(media["srt"]), duration, min_gap=1.0)
    settings = NarrationConfig(min_gap_s=1.0)

    # Every frame at 5 fps, as narration encoded them before.
    every = np.concatenate([encoder.encode(images)
                            for _, images in iter_frame_batches(media["video"], data.fps)])
    write_feature_store(tmp_path / "all.h5", {video_id: every}, fps=data.fps, layout="timeline",
                        dtype="float32", encoder=encoder.name)
    with FeatureStore(tmp_path / "all.h5", fps=data.fps) as full:
        before = plan_cues(slots, UniADDescriber(model, full, video_id, bank), settings)

    lazy = FrameFeatures(media["video"], encoder, data.fps, duration, tmp_path / "cache")
    after = plan_cues(slots, UniADDescriber(model, lazy, video_id, bank), settings)
    lazy.close()
    assert [(c.start, c.end, c.text) for c in after.cues] == [
        (c.start, c.end, c.text) for c in before.cues]
    assert after.cues  # the comparison is not of two empty narrations

    def read(start, end):
        first, last = exact_frame_span(start, end, data.fps)
        last = min(last, len(every) - 1)
        return {first + int(i) for i in linspace_indices(last - first + 1, data.video_length)}

    spans = [(s.start, s.end) for s in slots]  # each slot asked (maybe twice: same frames)
    spans += [(c.start, c.end) for c in after.cues[:-1]]  # each AD is the next one's previous clip
    expected = set().union(*(read(a, b) for a, b in spans))
    assert lazy.encoded_now == len(expected) < len(every) / 2
    again = FrameFeatures(media["video"], encoder, data.fps, duration, tmp_path / "cache")
    plan_cues(slots, UniADDescriber(model, again, video_id, bank), settings)
    assert again.encoded_now == 0 and again.cached == len(expected)  # the cache serves a rerun
    again.close()


def test_narration_decodes_the_film_once_for_audio_cuts_and_on_screen_text(media, tmp_path,
                                                                            monkeypatch):
    from uniad.narrate.media import scan

    passes = []
    real = scan.decode_once
    monkeypatch.setattr(scan, "decode_once", lambda *a, **k: passes.append(a[1]) or real(*a, **k))

    def again(*args, **kwargs):
        raise AssertionError("the film was decoded a second time")

    for where in ("uniad.narrate.timeline.gaps.decode_audio", "uniad.narrate.media.shots.iter_frames",
                  "uniad.narrate.media.ocr.iter_frames"):
        monkeypatch.setattr(where, again)
    assert _narrate(media, tmp_path / "once", "--read-text", "cues") == 0
    assert len(passes) == 1 and [s.fps for s in passes[0]] == [10.0, 1.0]  # cuts, OCR
