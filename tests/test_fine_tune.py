"""Fine-tuning a published checkpoint (MAD or CMD/TV layout) on a user's own described episodes.

End to end on generated media: films made with ffmpeg, AD tracks as SRT, a cast file with
photos; a tiny random CLIP as the visual encoder; release-layout MAD.pt and CMDAD_TVAD.pt
files at the tiny LLM's sizes imported into run folders. `uniad data build` writes the split, `uniad train --init`
fine-tunes the imported run, and the loss on a held-out episode goes down.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import cmdtv_release as cmdtv
from test_release import SETTINGS, release_state, save_release
from uniad.cli import main
from uniad.data.schema import Character
from uniad.data.splits import open_split
from uniad.model.llm import save_llm
from uniad.model.tiny import build_tiny_llm
from uniad.model.uniad import UniAD
from uniad.narrate.describe.encoder import random_clip_name
from uniad.train.material import named_in
from uniad.world.sample_media import make_srt, make_video, write_cast

ENCODER = random_clip_name(image_size=32, patch_size=16, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2, projection_dim=16)
CAST = [Character("nm1", "Emma Stone", "Anna Berg", "Anna"), Character("nm2", "Ryan Gosling", "Tom Hale", "Tom")]
ACTIONS = ["opens the door", "sits down at the table", "picks up the phone", "looks out of the window",
           "walks to the car", "smiles"]


def ad_track(path: Path, episode: int) -> Path:
    """Six ADs of two seconds, naming Anna or Tom, in an order that differs per episode."""
    cues = []
    for i in range(6):
        who = CAST[(i + episode) % 2].short_name
        cues.append((i * 2.0, i * 2.0 + 1.5, f"{who} {ACTIONS[(i * (episode + 1)) % len(ACTIONS)]}."))
    return make_srt(path, cues)


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    root = tmp_path_factory.mktemp("own_show")
    episodes = []
    for k in range(3):
        video = make_video(root / f"ep{k + 1}.mp4", 12.0, audio=False, pattern=("testsrc", "testsrc2", "rgbtestsrc")[k])
        episodes.append((video, ad_track(root / f"ep{k + 1}.srt", k)))
    cast = write_cast(root / "cast.json", CAST, photos_per_character=2)
    llm, tokenizer = build_tiny_llm()
    folder = save_llm(llm, tokenizer, root / "llm")
    ckpt = save_release(release_state(), root / "MAD.pt")
    run = root / "imported"
    args = ["import-release", "--checkpoint", str(ckpt), "--llm", str(folder), "--out", str(run),
            "--llm-vocab", str(len(tokenizer)), *[x for s in SETTINGS for x in ("--set", s)]]
    assert main(args) == 0
    cmdtv_run = root / "imported_cmdtv"
    cmdtv_ckpt = cmdtv.save_release(cmdtv.release_state(), root / "CMDAD_TVAD.pt")
    assert main(cmdtv.import_args(cmdtv_ckpt, folder, cmdtv_run, len(tokenizer))) == 0
    return {"root": root, "episodes": episodes, "cast": cast, "llm": folder,
            "run": run, "mad": (run, "mad", SETTINGS),
            "tvad": (cmdtv_run, "tvad", [*cmdtv.SETTINGS, "data.character_source=auto",
                                         "data.character_filter=none"])}


def build(material, out: Path, *extra: str) -> int:
    args = ["data", "build", "--cast", str(material["cast"]), "--out", str(out), *extra]
    for video, track in material["episodes"]:
        args += ["--episode", str(video), str(track)]
    return main(args)


def test_characters_are_the_cast_names_the_ad_contains():
    assert named_in("Anna opens the door.", CAST) == [CAST[0]]
    assert named_in("Tom Hale and Anna Berg smile.", CAST) == CAST
    assert named_in("Annabel smiles.", CAST) == []  # whole words only


def test_build_writes_the_split_in_the_real_formats(material, tmp_path):
    out = tmp_path / "split"
    assert build(material, out, "--checkpoint", str(material["run"]), "--visual-encoder", ENCODER,
                 "--held-out", "1") == 0
    records = json.loads((out / "train.json").read_text())
    assert len(records) == 12 and {r["movie_id"] for r in records} == {"ep1", "ep2"}
    first, second = records[0], records[1]
    assert first["context"] == [] and second["context"][0]["ad"] == first["ad"]
    assert second["ad_chars_in_chars"] == [{"id": "nm2", "name": "Ryan Gosling", "role": "Tom Hale"}]
    held = json.loads((out / "heldout.json").read_text())
    assert {r["movie_id"] for r in held} == {"ep3"}
    config = UniAD.from_pretrained(material["run"]).config
    dataset = open_split(out / "train.json", out / "features.h5", out / "bank.safetensors",
                         config.data, training=True, seed=0)
    sample = dataset[1]
    assert len(dataset) == 12 and sample.video.shape[-1] == 16
    assert [c.character.id for c in sample.characters] == ["nm2"]


def test_a_checkpoint_without_a_recorded_encoder_needs_one(material, tmp_path, capsys):
    assert build(material, tmp_path / "split", "--checkpoint", str(material["run"])) == 2
    assert "--visual-encoder" in capsys.readouterr().err


def heldout_loss(model: UniAD, dataset) -> float:
    model.eval()
    with torch.no_grad():
        return float(model([dataset[i] for i in range(len(dataset))])["ce"])


@pytest.mark.parametrize("layout", ["mad", "tvad"])
def test_fine_tuning_an_imported_run_improves_held_out_loss(material, tmp_path, layout):
    """From MAD.pt's layout (Perceiver mappers) and CMDAD_TVAD.pt's (video Q-Former, each
    frame one token); the character list from the ADs' names (``data.character_source=auto``,
    as the release trains)."""
    run, preset, layout_settings = material[layout]
    split = tmp_path / "split"
    assert build(material, split, "--checkpoint", str(run), "--visual-encoder", ENCODER,
                 "--held-out", "1") == 0
    out = tmp_path / "fine_tuned"
    # The tiny LLM is random: LoRA on its frozen base stays near chance (model.train_llm), so
    # the whole LLM trains here, from the imported run's mappers, norms and LoRA.
    settings = [*layout_settings, f"model.llm={material['llm']}", "model.train_llm=true",
                "model.release_lora_train=active", "train.batch_size=2", "train.grad_accum=1",
                "train.max_steps=30", "train.warmup_steps=1", "train.lr=2e-3", "train.log_every=5"]
    args = ["train", "--preset", preset, "--init", str(run), "--out", str(out),
            "--train-data", str(split / "train.json"), "--features", str(split / "features.h5"),
            "--bank", str(split / "bank.safetensors")]
    assert main(args + [x for s in settings for x in ("--set", s)]) == 0
    init = json.loads((out / "run.json").read_text())["init"]
    assert init["kind"] == "run" and init["parts_left_fresh"] == []
    before = UniAD.from_pretrained(run)
    after = UniAD.from_pretrained(out)
    assert after.config.model.visual_encoder == ENCODER  # recorded for narration
    heldout = open_split(split / "heldout.json", split / "features.h5", split / "bank.safetensors",
                         after.config.data, training=True, seed=0)
    assert any(heldout[i].characters for i in range(len(heldout)))
    assert heldout_loss(after, heldout) < heldout_loss(before, heldout) - 0.5
