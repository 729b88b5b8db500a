"""The training-free describers through the whole `uniad narrate` path: an
OpenAI-compatible stub server on 127.0.0.1, and a tiny random LLaVA built in-process."""

from __future__ import annotations

import base64
import io
import json

import pytest
from media import DIALOGUE, DURATION, SILENT, make_srt, make_video
from PIL import Image

from uniad.cli import main
from uniad.narrate.describe.prompt import CastPortrait, SlotContext, build_prompt, parse_answer
from uniad.testing.openai_stub import StubChatServer
from uniad.world.sample_media import Caption, make_image, make_text_video

LONG = ("Anna walks slowly across the wide platform towards the last train while the "
        "lights above her flicker and the doors begin to close behind her.")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("describers")
    cast = [{"name": "Ann Actor", "role": "Anna Smith", "short_name": "Anna",
             "photos": [make_image(root / "anna.png", "red").name]},
            {"name": "Ben Actor", "role": "Ben Jones", "photos": [make_image(root / "ben.png", "blue").name]}]
    (root / "cast.json").write_text(json.dumps({"cast": cast}))
    captions = [Caption(0.0, 2.5, "THE LAST TRAIN", "title"), Caption(6.0, 10.0, "EXIT", "sign"),
                *(Caption(a, b, t, "subtitle") for a, b, t in DIALOGUE)]
    return {"root": root, "cast": root / "cast.json", "srt": make_srt(root / "dialogue.srt"),
            "video": make_video(root / "clip.mp4"),
            "text_video": make_text_video(root / "text.mp4", DURATION, captions, silent=SILENT)}


def _narrate(media, out, describer, *extra, video="video"):
    return main(["narrate", str(media[video]), "--cast", str(media["cast"]), "--out", str(out),
                 "--subtitles", str(media["srt"]), "--describer", describer, *extra])


def _texts(content):
    return " ".join(p["text"] for p in content if p["type"] == "text")


def test_openai_server_gets_frames_cast_previous_and_budget_and_answers_land_in_tracks(
        media, tmp_path):
    with StubChatServer(["AD: Anna opens the door.", LONG, LONG]) as stub:
        assert _narrate(media, tmp_path, f"openai:{stub.url}", "--describer-model", "stub-vl",
                        "--api-key", "k123", "--frames-per-slot", "3") == 0
    first, second, retry = (r["body"] for r in stub.requests)
    assert all(r["path"] == "/v1/chat/completions" and r["auth"] == "Bearer k123"
               for r in stub.requests)
    assert first["model"] == "stub-vl" and first["messages"][0]["role"] == "system"
    content = first["messages"][1]["content"]
    images = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    assert len(images) == 3 + 2  # the slot's frames and one portrait per character
    assert all(u.startswith("data:image/jpeg;base64,") for u in images)
    portrait = Image.open(io.BytesIO(base64.b64decode(images[0].split(",", 1)[1])))
    r, g, b = portrait.convert("RGB").getpixel((portrait.width // 2, portrait.height // 2))
    assert r > 200 and g < 60 and b < 60  # Anna's red photo
    text = _texts(content)
    assert "Anna (Anna Smith, played by Ann Actor)" in text and "Ben Jones" in text
    report = json.loads((tmp_path / "ad.json").read_text())
    budgets = [ad["meta"]["word_budget"] for ad in report["ads"]]
    assert f"at most {budgets[0]} words" in text and "SKIP" in text
    assert "Previous descriptions" not in text and '"Where were you?"' in text  # dialogue before
    # The second slot is told the first AD; its over-long answer is asked again, then cut.
    assert '"Anna opens the door."' in _texts(second["messages"][1]["content"])
    assert f"at most {budgets[1]} words" in _texts(second["messages"][1]["content"])
    assert "at most" in _texts(retry["messages"][1]["content"])
    ads = report["ads"]
    assert ads[0]["text"] == "Anna opens the door." and ads[0]["characters"] == ["Anna"]
    assert ads[1]["meta"]["words"] <= ads[1]["meta"]["word_budget"] < len(LONG.split())  # cut
    assert len(ads[1]["text"].split()) <= budgets[1] and ads[1]["text"].startswith("Anna walks")
    for ad in ads:
        assert all(ad["end"] <= a or ad["start"] >= b for a, b, _ in DIALOGUE)
    assert report["info"]["describer"].startswith("openai:")


def test_screen_text_is_read_out_and_told_and_skip_leaves_the_slot_silent(media, tmp_path):
    # Fast planning and short gaps leave time after each read-out for the describer.
    with StubChatServer(["SKIP."] * 4) as stub:
        assert _narrate(media, tmp_path, f"openai:{stub.url}", "--describer-model", "m",
                        "--read-text", "both", "--no-portraits", "--wpm", "290",
                        "--min-gap", "0.5", video="text_video") == 0
    report = json.loads((tmp_path / "ad.json").read_text())
    assert [ad["meta"]["source"] for ad in report["ads"]] == ["screen_text"] * 2
    assert report["ads"][0]["text"] == "Title: THE LAST TRAIN."
    assert report["ads"][1]["text"] == "A sign reads: EXIT."
    assert [t["text"] for t in report["info"]["screen_text"]] == ["THE LAST TRAIN", "EXIT"]
    # The time after the sign's cue went to the describer, told what the sign says; it
    # answered SKIP, so no AD is there.
    told = [r["body"]["messages"][1]["content"] for r in stub.requests]
    after_sign = [c for c in told if 'Text written on screen: "EXIT"' in _texts(c)]
    assert len(after_sign) == 1 and "- Anna" in _texts(after_sign[0])
    assert sum(p["type"] == "image_url" for p in after_sign[0]) == 4  # frames only: --no-portraits
    srt_text = (tmp_path / "ad.srt").read_text()
    assert "EXIT" in srt_text and "SKIP" not in srt_text and "Where were you" not in srt_text


def test_openai_errors_name_the_server_and_the_missing_model(media, tmp_path, capsys,
                                                             monkeypatch):
    monkeypatch.delenv("UNIAD_OPENAI_MODEL", raising=False)
    assert _narrate(media, tmp_path / "a", "openai:http://127.0.0.1:9/v1") == 2
    assert "--describer-model" in capsys.readouterr().err
    assert _narrate(media, tmp_path / "b", "openai:http://127.0.0.1:9/v1",
                    "--describer-model", "m") == 2
    err = capsys.readouterr().err
    assert "127.0.0.1:9" in err and "unreachable" in err
    assert _narrate(media, tmp_path / "e", "openai:http://127.0.0.1:9/v1", "--describer-model",
                    "m", "--read-text", "cues", "--ocr-languages", "eng+klingon") == 2
    assert "klingon" in capsys.readouterr().err  # before any request or decoding
    assert _narrate(media, tmp_path / "f", f"vlm:{tmp_path}") == 2
    assert "no config.json" in capsys.readouterr().err
    assert _narrate(media, tmp_path / "c", "nonsense") == 2
    assert "vlm:" in capsys.readouterr().err
    assert main(["narrate", str(media["video"]), "--cast", str(media["cast"]), "--out",
                 str(tmp_path / "d")]) == 2  # uniad without a checkpoint
    assert "--checkpoint" in capsys.readouterr().err


def test_tiny_random_vlm_narrates_end_to_end(media, tmp_path):
    from uniad.testing.tiny_vlm import build_tiny_vlm

    folder = build_tiny_vlm(tmp_path / "vlm")
    assert _narrate(media, tmp_path / "out", f"vlm:{folder}", "--frames-per-slot", "2",
                    "--speak") == 0
    report = json.loads((tmp_path / "out" / "ad.json").read_text())
    assert len(report["info"]["slots"]) == 2 and report["ads"]
    assert report["info"]["checkpoint"] is None and report["info"]["encoder"] is None
    for ad in report["ads"]:  # random weights write random words, but within the rules
        assert ad["meta"]["describer"] == "vlm"
        assert 0 < len(ad["text"].split()) <= ad["meta"]["word_budget"]
        assert all(ad["end"] <= a or ad["start"] >= b for a, b, _ in DIALOGUE)
    assert (tmp_path / "out" / "ad.wav").is_file() and (tmp_path / "out" / "ad.vtt").is_file()


def test_prompt_builder_and_answer_parsing():
    frame, face = Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8), "red")
    ctx = SlotContext([frame, frame], 7, [CastPortrait("Anna", "Anna (played by X)", face)],
                      previous=["She waits."], dialogue_before=["Out."], screen_text=["EXIT"])
    system, parts = build_prompt(ctx)
    text = "".join(p.text or "" for p in parts)
    assert "present tense" in system and "SKIP" in system
    assert [p.image for p in parts if p.image is not None] == [face, frame, frame]
    for said in ("Anna (played by X)", '"She waits."', '"Out."', '"EXIT"', "at most 7 words"):
        assert said in text
    _, no_portraits = build_prompt(ctx, portraits=False)
    assert sum(p.image is not None for p in no_portraits) == 2
    assert parse_answer(' AD: "Tom runs."\n') == "Tom runs."
    assert parse_answer("skip.") == parse_answer("**SKIP**") == ""
    assert parse_answer("Skipper jumps.") == "Skipper jumps."


def test_evaluate_a_describer_on_a_split_of_video_files(media, tmp_path, capsys):
    from uniad.data.formats import write_mad_train
    from uniad.data.schema import ADEvent, Character

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "m1.mp4").symlink_to(media["video"])
    anna = Character(id="anna", name="Ann Actor", role="Anna Smith", short_name="Anna")
    events = [ADEvent("m1", 2.2, 4.8, "Anna opens the door.", candidates=(anna,)),
              ADEvent("m1", 6.7, 9.8, "She sits down.", candidates=(anna,))]
    data = write_mad_train(tmp_path / "eval.json", events)
    common = ["evaluate", "--data", str(data), "--metrics", "cider,bleu", "--tokenizer", "python"]
    with StubChatServer(["Anna opens the door.", "SKIP"]) as stub:
        assert main([*common, "--describer", f"openai:{stub.url}", "--describer-model", "m",
                     "--videos", str(videos), "--out", str(tmp_path / "eval")]) == 0
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    predictions = json.loads((tmp_path / "eval" / "predictions.json").read_text())
    assert sorted(predictions.values()) == ["", "Anna opens the door."]  # SKIP scores as empty
    assert scores["counts"]["empty predictions (SKIP)"] == 1 and "CIDEr" in scores["scores"]
    assert (tmp_path / "eval" / "report.md").is_file()
    second = _texts(stub.requests[1]["body"]["messages"][1]["content"])
    assert '"Anna opens the door."' in second and "Anna (Anna Smith, played by Ann Actor)" not in second
    assert "- Anna" in second  # the event's candidates by name, no portraits
    (videos / "m1.mp4").unlink()
    assert main([*common, "--describer", "openai:http://127.0.0.1:9/v1", "--describer-model", "m",
                 "--videos", str(videos), "--out", str(tmp_path / "eval2")]) == 2
    err = capsys.readouterr().err
    assert "m1.<mp4" in err and "video_id" in err
    assert main([*common, "--describer", "openai:http://127.0.0.1:9/v1",
                 "--out", str(tmp_path / "eval3")]) == 2
    assert "--videos" in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "eval4")]) == 2  # uniad needs a checkpoint
    assert "--checkpoint" in capsys.readouterr().err


def test_evaluate_describer_builds_one_describer_and_moves_it_between_videos(tmp_path):
    from types import SimpleNamespace

    from uniad.data.formats import read_annotations, write_mad_train
    from uniad.data.schema import ADEvent
    from uniad.errors import OutputError
    from uniad.eval.describe_split import evaluate_describer
    from uniad.eval.inputs import load_references
    from uniad.eval.scoring import ScoreOptions

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("m1.mp4", "m2.mkv"):
        (videos / name).touch()  # found by name only: the stand-in describer reads no frames
    data = write_mad_train(tmp_path / "eval.json", [
        ADEvent("m2", 1.0, 4.0, "Ben runs."), ADEvent("m1", 1.0, 4.0, "Anna sits."),
        ADEvent("m1", 5.0, 8.0, "Anna stands.")])
    made, seen = [], []

    class Describer:
        cast: list = []

        def __call__(self, slot, budget, previous):
            seen.append((self.video.name, slot.start, len(previous)))
            return SimpleNamespace(text="Someone moves.")

    def make(video):
        made.append(video.name)
        return Describer()

    kwargs = dict(data=data, options=ScoreOptions(metrics=("bleu",), tokenizer="python"))
    result = evaluate_describer(make, read_annotations(data).events, videos, load_references(data),
                                tmp_path / "out", **kwargs)
    assert made == ["m1.mp4"] and len(result.records) == 3
    assert seen == [("m1.mp4", 1.0, 0), ("m1.mp4", 5.0, 1), ("m2.mkv", 1.0, 0)]
    evaluate_describer(make, read_annotations(data).events, videos, load_references(data),
                       tmp_path / "out", **kwargs)
    assert made == ["m1.mp4"]  # a resume with nothing left to describe builds no describer
    (tmp_path / "out" / "report.md").unlink()
    (tmp_path / "out" / "report.md").mkdir()  # the report cannot be written
    with pytest.raises(OutputError, match="the 3 predictions are kept in .*predictions.jsonl"):
        evaluate_describer(make, read_annotations(data).events, videos, load_references(data),
                           tmp_path / "out", **kwargs)
