"""Every class of bad input is one named error: exit != 0, no traceback, the file / record /
field named, and whatever was already written left intact.

One class per block: settings (types, ranges, cross-field rules), checkpoint files,
feature windows, annotation shape and values, output folders (read-only, full disk,
a file in the way, a training run folder, a second process), exit codes.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import h5py
import numpy as np
import pytest
import torch

from test_narrate_run import media  # noqa: F401 - the narration fixture (video, cast, checkpoint)
from uniad.cli import EXIT_CRASH, EXIT_ERROR, EXIT_PROBLEMS, main
from uniad.config import AtLeast1, load_config
from uniad.data.formats import read_annotations
from uniad.eval.evaluate import LINES_FILE, output_lock
from uniad.model.uniad import UniAD
from uniad.world.synthetic import make_world

DIM = 16
SIZES = ["model.llm=tiny", f"model.feature_dim={DIM}", "model.perceiver_head_dim=16",
         "generation.max_new_tokens=4", "generation.num_beams=1"]
TVAD = Path("/work/shared/data/tvad_sample/tvad_char_refine_eval.sample.json")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A synthetic world and a tiny checkpoint inside a training run folder."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("bad")
    world = root / "world"
    make_world(world, movies=3, dim=DIM, eval_movies=2, events_min=3, events_max=3)
    config = load_config("demo", overrides=SIZES)
    corpus = [e.text for e in read_annotations(world / "train.json").events]
    model = UniAD.build(config, corpus=corpus)
    run = root / "run"
    model.save_pretrained(run / "final")
    config.save(run / "config.yaml")
    (run / "run.json").write_text('{"git_commit": "abc"}\n')
    return root, world, run


def _cli(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _evaluate(world: Path, checkpoint: Path, out: Path, *extra: str,
              features: Path | None = None, data: Path | None = None) -> list[str]:
    return ["evaluate", "--checkpoint", str(checkpoint), "--data", str(data or world / "eval.json"),
            "--features", str(features or world / "features.h5"),
            "--bank", str(world / "charbank.safetensors"), "--out", str(out),
            "--metrics", "cider", "--tokenizer", "python", *extra]


@dataclass
class NewSection:
    """A section as another engineer might add it, with no validation code of its own."""

    rules: Literal["hf432", "standard"] = "hf432"
    steps: AtLeast1[int] | None = None


# -- settings ------------------------------------------------------------------------------

@pytest.mark.parametrize("setting, named", [
    ("train.batch_size=abc", "'batch_size' expects an integer, got 'abc'"),
    ("train.batch_size=2.5", "'batch_size' expects an integer, got 2.5"),
    ("generation.num_beams=0", "'num_beams' must be >= 1, got 0"),
    ("model.use_characters=maybe", "'use_characters' expects true or false, got 'maybe'"),
    ("train.lr=nan", "'lr' expects a finite number"),
    ("train.precision=fp8", "'precision' must be one of auto, fp32, bf16, fp16"),
    ("data.video_length=60", "data.video_length x (data.previous_clips + 1) = 60 frames"),
    ("generation.rules=beam", "'rules' must be one of hf432, hf446, standard"),
    ("generation.repetition_penalty=0", "'repetition_penalty' must be > 0"),
    ("train", "must look like section.key=value"),
])
def test_settings_of_the_wrong_type_or_range_are_named(capsys, tmp_path, setting, named):
    code, err = _cli(capsys, ["train", "--preset", "demo", "--set", setting,
                              "--train-data", "x.json", "--features", "x.h5", "--out", str(tmp_path / "r")])
    assert code == EXIT_ERROR and named in err
    assert not (tmp_path / "r").exists()  # refused before anything was created


def test_a_field_added_later_is_validated_by_its_annotation():
    """The converter follows annotations, not a list of known fields."""
    from uniad.config import _merge
    from uniad.errors import ConfigError

    section = NewSection()
    _merge(section, {"rules": "standard", "steps": "3"}, "test")
    assert (section.rules, section.steps) == ("standard", 3)
    with pytest.raises(ConfigError, match="'rules' must be one of hf432, standard"):
        _merge(section, {"rules": "beam"}, "test", "generation")
    with pytest.raises(ConfigError, match="'steps' must be >= 1, got 0"):
        _merge(section, {"steps": 0}, "test", "generation")


@pytest.mark.parametrize("flags, named", [
    (["--fps", "0"], "--fps must be > 0"),
    (["--min-gap", "-1", "--max-len", "0"], "--min-gap must be >= 0.3, got -1.0"),
    (["--wpm", "0"], "--wpm must be >= 60, got 0.0"),
    (["--min-gap", "9", "--max-len", "8"], "--min-gap 9 must not exceed --max-len 8"),
    (["--max-characters", "two"], "--max-characters expects an integer >= 1 or none"),
    (["--ocr-fps", "0"], "--ocr-fps must be > 0, got 0.0"),
    (["--ocr-min-confidence", "150"], "--ocr-min-confidence must be <= 100"),
    (["--vad-aggressiveness", "7"], "--vad-aggressiveness must be <= 3, got 7"),
    (["--frames-per-slot", "0"], "--frames-per-slot must be >= 1, got 0"),
    (["--describer", "gpt"], "--describer 'gpt': expected uniad, vlm:MODEL_FOLDER or openai:URL"),
    (["--ocr-languages", "eng++fra"], "--ocr-languages 'eng++fra'"),
])
def test_narrate_settings_are_checked_before_any_work(setup, capsys, tmp_path, flags, named,
                                                      monkeypatch):
    _, _, run = setup
    monkeypatch.setattr(UniAD, "from_pretrained", _must_not_load)
    code, err = _cli(capsys, ["narrate", str(tmp_path / "film.mp4"), "--cast", "cast.csv",
                              "--checkpoint", str(run), "--out", str(tmp_path / "o"), *flags])
    assert code == EXIT_ERROR and named in err, err
    assert "_s " not in err and "narration." not in err  # the flag, not the field behind it


def _must_not_load(*args, **kwargs):
    raise AssertionError("the model was loaded before the inputs were checked")


def test_narrate_takes_a_run_folder_and_refuses_an_output_file_first(setup, capsys, tmp_path,
                                                                     monkeypatch):
    _, _, run = setup
    monkeypatch.setattr(UniAD, "from_pretrained", _must_not_load)
    # RUN is accepted as evaluate accepts it: the next problem is the missing video.
    code, err = _cli(capsys, ["narrate", str(tmp_path / "film.mp4"), "--cast", "c.csv",
                              "--checkpoint", str(run), "--out", str(tmp_path / "o")])
    assert code == EXIT_ERROR and "film.mp4: video file not found" in err
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    code, err = _cli(capsys, ["narrate", str(tmp_path / "film.mp4"), "--cast", "c.csv",
                              "--checkpoint", str(run), "--out", str(taken)])
    assert code == EXIT_ERROR and f"--out {taken}: is an existing file" in err
    assert taken.read_text() == "keep me"


# -- checkpoint files ----------------------------------------------------------------------

def _truncate(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])


def _swap_tokenizer(folder: Path) -> None:
    from uniad.model.tiny import build_tiny_tokenizer

    other = build_tiny_tokenizer(["a completely different corpus of words"] * 3)
    other.save_pretrained(folder / "llm")


def _swap_two_tokens(folder: Path) -> None:
    """The same tokenizer with two ordinary tokens' ids exchanged: same size, same special
    tokens, every count the same; only the vocabulary's fingerprint tells."""
    path = folder / "llm" / "tokenizer.json"
    doc = json.loads(path.read_text())
    vocab = doc["model"]["vocab"]
    special = {t["content"] for t in doc.get("added_tokens", [])}
    a, b = [tok for tok in sorted(vocab, key=vocab.get) if tok not in special][-2:]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("damage, named", [
    (_truncate, "model.safetensors: truncated"),
    (_swap_two_tokens, "the checkpoint's tokenizer had vocab_sha256="),
    (lambda f: (f / "llm.json").write_text("{not json"), "llm.json: not JSON"),
    (lambda f: (f / "llm.json").write_text('{"llm": "tiny", "vocab_size": 9}'),
     "llm.json: field 'hidden_size' must be a positive integer"),
    (lambda f: (f / "config.yaml").write_text("data: [unclosed\n"), "config.yaml is not valid YAML"),
    (lambda f: (f / "config.yaml").write_text("data:\n  fps: fast\n"), "'fps' expects a number"),
    (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
    (_swap_tokenizer, "a tokenizer of another LLM"),
])
def test_unreadable_checkpoint_files_are_named(setup, capsys, tmp_path, damage, named):
    _, world, run = setup
    folder = tmp_path / "ckpt"
    shutil.copytree(run / "final", folder)
    damage(folder)
    out = tmp_path / "eval"
    out.mkdir()
    (out / LINES_FILE).write_text('{"uid": "x#0", "prediction": "earlier"}\n')
    code, err = _cli(capsys, _evaluate(world, folder, out))
    assert code == EXIT_ERROR and named in err and str(folder) in err
    assert (out / LINES_FILE).read_text() == '{"uid": "x#0", "prediction": "earlier"}\n'


# -- feature windows -----------------------------------------------------------------------

def _store_with(tmp_path: Path, world: Path, change) -> Path:
    store = tmp_path / "features.h5"
    shutil.copy(world / "features.h5", store)
    with h5py.File(store, "a") as f:
        name = json.loads((world / "eval.json").read_text()).__iter__().__next__()
        data = f[name][()]
        del f[name]
        change(f, name, data)
    return store


@pytest.mark.parametrize("change, named", [
    (lambda f, n, d: None, "no features for"),  # the clip is missing
    (lambda f, n, d: f.create_dataset(n, data=np.zeros((0, DIM), np.float16)), "zero-length clip"),
    (lambda f, n, d: f.create_dataset(n, data=d.astype(np.int32)), "holds int32 values"),
    (lambda f, n, d: f.create_dataset(n, data=np.zeros((len(d), DIM + 1), np.float16)),
     "per-frame shape (17,)"),
    (lambda f, n, d: f.create_dataset(n, data=np.where(np.arange(len(d))[:, None] % 2 == 0, np.nan,
                                                        d.astype(np.float32))), "hold NaN or Inf"),
])
def test_bad_feature_windows_are_refused_with_clip_and_frames(setup, capsys, tmp_path, change, named):
    _, world, run = setup
    store = _store_with(tmp_path, world, change)
    movie = next(iter(json.loads((world / "eval.json").read_text())))
    code, err = _cli(capsys, _evaluate(world, run, tmp_path / "eval", features=store))
    assert code == EXIT_ERROR and named in err and movie in err
    if "NaN" in named:
        assert "frames[" in err  # the frame range is named
        # nothing generated from a bad window: the lines before it are kept, none after
        lines = (tmp_path / "eval" / LINES_FILE).read_text().splitlines()
        assert all(movie not in json.loads(line)["uid"] for line in lines)


def test_training_refuses_nan_features(setup, capsys, tmp_path):
    _, world, _ = setup
    store = tmp_path / "features.h5"
    shutil.copy(world / "features.h5", store)
    with h5py.File(store, "a") as f:
        for name in list(f):
            data = f[name][()].astype(np.float32)
            data[:] = np.nan
            del f[name]
            f.create_dataset(name, data=data)
    code, err = _cli(capsys, ["train", "--preset", "demo", *sum((["--set", s] for s in SIZES), []),
                              "--set", "train.max_steps=1", "--train-data", str(world / "train.json"),
                              "--features", str(store), "--out", str(tmp_path / "run")])
    assert code == EXIT_ERROR and "hold NaN or Inf values" in err and "frames[" in err


def test_a_bank_without_the_selected_characters_is_refused(setup, capsys, tmp_path):
    from uniad.data.charbank import CharacterBank

    _, world, run = setup
    bank = tmp_path / "other.safetensors"
    CharacterBank.from_tensors({"elsewhere/nm1": torch.zeros(1, DIM)}).save(bank)
    argv = _evaluate(world, run, tmp_path / "eval")
    argv[argv.index("--bank") + 1] = str(bank)
    code, err = _cli(capsys, argv)
    assert code == EXIT_ERROR and f"{bank}" in err and "holds none of the" in err


# -- annotations ---------------------------------------------------------------------------

def _tvad(records: list[dict] | None = None) -> dict:
    return {"tvad": records if records is not None else json.loads(TVAD.read_text())["tvad"][:3]}


def _set_first(field: str, value):
    def edit(data):
        data["tvad"][0][field] = value
        return data
    return edit


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.skipif(not TVAD.is_file(), reason="needs the TV-AD sample in /work/shared/data")
@pytest.mark.parametrize("make, named", [
    (_set_first("end", 1e308), "record 0: field 'end': is 1e+308 seconds"),
    (_set_first("start", 10 ** 400), "record 0: field 'start': is too large (an integer of about"),
    (lambda d: {"tvadd": d["tvad"]}, "top-level key 'tvadd' holds CMD-AD/TV-AD records"),
    (lambda d: {"tvad": d["tvad"], "cmdad": d["tvad"]}, "holds both 'tvad' and 'cmdad'"),
    (lambda d: _nested(100_000), "nested too deeply"),
    (_set_first("char_pred", "Rachel"), "record 0: field 'char_pred': expected a list"),
])
def test_bad_annotations_are_named(capsys, tmp_path, make, named):
    path = tmp_path / "bad.json"
    data = make(_tvad())
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    code, err = _cli(capsys, ["data", "validate", str(path)])
    out = capsys.readouterr().out if code == 0 else ""
    assert code == EXIT_PROBLEMS, out
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps({"x#0": "a prediction"}))
    code, err = _cli(capsys, ["score", "--pred", str(preds), "--ref", str(path)])
    assert code == EXIT_ERROR and named in err and str(path) in err


@pytest.mark.skipif(not TVAD.is_file(), reason="needs the TV-AD sample in /work/shared/data")
def test_release_records_with_short_prob_data_load_with_a_warning(capsys, tmp_path):
    """The release's full TV-AD file has records with 5 scores for 6 candidates and an
    empty 'prob'; the release reads only 'prob', so these load, score and evaluate."""
    data = _tvad()
    record = data["tvad"][1]
    record["prob_data"] = record["prob_data"][: len(record["char_pred"]) - 1]
    record["prob"] = []
    path = tmp_path / "tvad.json"
    path.write_text(json.dumps(data))
    code = main(["data", "validate", str(path)])
    captured = capsys.readouterr()
    assert code == 0
    assert f"warning: {path}: record 1: field 'prob_data'" in captured.out
    preds = tmp_path / "p.json"
    events = read_annotations(path).events
    preds.write_text(json.dumps({e.uid: e.text for e in events}))
    code, _ = _cli(capsys, ["score", "--pred", str(preds), "--ref", str(path), "--metrics",
                            "bleu", "--tokenizer", "python", "--json"])
    assert code == 0


@pytest.mark.skipif(not TVAD.is_file(), reason="needs the TV-AD sample in /work/shared/data")
def test_empty_references_are_refused(capsys, tmp_path):
    data = _set_first("ad", "  ")(_tvad())
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(data))
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps({f"{r['key_name']}#0": "text" for r in data["tvad"]}))
    code, err = _cli(capsys, ["score", "--pred", str(preds), "--ref", str(path)])
    assert code == EXIT_ERROR and "empty reference AD" in err and "field 'ad'" in err
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"a": [""], "b": ["fine"]}))
    code, err = _cli(capsys, ["score", "--pred", str(preds), "--ref", str(plain)])
    assert code == EXIT_ERROR and "record a" in err


# -- output folders ------------------------------------------------------------------------

def _fail_writes_under(monkeypatch, folder: Path, code: int, calls: str = "write") -> None:
    """Make the OS refuse writes (``code``: ENOSPC, EROFS) to files under ``folder``."""
    real = getattr(os, calls)

    def refusing(first, *args, **kwargs):
        target = first if calls == "open" else os.readlink(f"/proc/self/fd/{first}")
        if str(target).startswith(str(folder)):
            raise OSError(code, os.strerror(code))
        return real(first, *args, **kwargs)

    monkeypatch.setattr(os, calls, refusing)


def test_a_full_disk_keeps_earlier_predictions_and_says_how_to_resume(setup, capsys, tmp_path,
                                                                     monkeypatch):
    _, world, run = setup
    out = tmp_path / "eval"
    assert _cli(capsys, _evaluate(world, run, out, "--limit", "2", "--batch-size", "1"))[0] == 0
    before = (out / LINES_FILE).read_text()
    scores = (out / "scores.json").read_text()
    _fail_writes_under(monkeypatch, out, errno.ENOSPC)
    code, err = _cli(capsys, _evaluate(world, run, out, "--batch-size", "1"))
    assert code == EXIT_ERROR
    assert f"cannot write {out / LINES_FILE}: the disk is full" in err
    assert "2 prediction(s) are kept there" in err and "rerun the same command" in err
    assert (out / LINES_FILE).read_text() == before
    assert (out / "scores.json").read_text() == scores
    monkeypatch.undo()
    assert _cli(capsys, _evaluate(world, run, out, "--batch-size", "1"))[0] == 0
    lines = (out / LINES_FILE).read_text().splitlines()
    assert lines[:2] == before.splitlines() and len({json.loads(x)["uid"] for x in lines}) == len(lines)


def test_a_read_only_folder_is_named(setup, capsys, tmp_path, monkeypatch):
    _, world, run = setup
    out = tmp_path / "ro"
    out.mkdir()
    _fail_writes_under(monkeypatch, out, errno.EROFS, calls="open")
    code, err = _cli(capsys, _evaluate(world, run, out))
    assert code == EXIT_ERROR and "the file system is read-only" in err and str(out) in err


def test_synth_and_train_on_a_full_disk_are_named(setup, capsys, tmp_path, monkeypatch):
    _, world, _ = setup
    _fail_writes_under(monkeypatch, tmp_path / "w", errno.ENOSPC)
    code, err = _cli(capsys, ["synth", "--out", str(tmp_path / "w"), "--movies", "2"])
    assert code == EXIT_ERROR and "the disk is full" in err
    run = tmp_path / "run"
    _fail_writes_under(monkeypatch, run / "checkpoints", errno.ENOSPC)
    code, err = _cli(capsys, ["train", "--preset", "demo", *sum((["--set", s] for s in SIZES), []),
                              "--set", "train.max_steps=2", "--set", "train.save_every=1",
                              "--train-data", str(world / "train.json"),
                              "--features", str(world / "features.h5"), "--out", str(run)])
    assert code == EXIT_ERROR and "the disk is full" in err and "checkpoints" in err
    assert (run / "run.json").is_file() and (run / "config.yaml").is_file()  # provenance kept


def test_evaluate_never_writes_into_a_training_run(setup, capsys):
    _, world, run = setup
    before = (run / "run.json").read_text()
    code, err = _cli(capsys, _evaluate(world, run, run))
    assert code == EXIT_ERROR and "training run or checkpoint folder" in err and str(run / "eval") in err
    assert (run / "run.json").read_text() == before


def test_a_second_evaluate_on_one_folder_is_refused(setup, capsys, tmp_path):
    _, world, run = setup
    out = tmp_path / "eval"
    with output_lock(out):
        code, err = _cli(capsys, _evaluate(world, run, out))
    assert code == EXIT_ERROR and "another `uniad evaluate`" in err
    assert not (out / LINES_FILE).exists()


def test_score_out_onto_a_file_is_refused_before_scoring(capsys, tmp_path, monkeypatch):
    import uniad.eval.scoring as scoring

    monkeypatch.setattr(scoring, "score", _must_not_load)
    taken = tmp_path / "scores"
    taken.write_text("keep")
    refs = tmp_path / "r.json"
    refs.write_text(json.dumps({"a": ["x"]}))
    code, err = _cli(capsys, ["score", "--pred", str(refs), "--ref", str(refs), "--out", str(taken)])
    assert code == EXIT_ERROR and "is an existing file" in err and taken.read_text() == "keep"


# -- exit codes ----------------------------------------------------------------------------

def test_each_outcome_has_its_own_exit_code(capsys, tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"movie_id": "m", "start": 2, "end": 1, "ad": "x"}]))
    assert _cli(capsys, ["data", "validate", str(bad)])[0] == EXIT_PROBLEMS
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps({"x#0": "a prediction"}))
    code, err = _cli(capsys, ["score", "--pred", str(preds), "--ref", str(tmp_path / "none.json")])
    assert code == EXIT_ERROR and "none.json: file not found" in err

    import uniad.data.validate as validate

    def crash(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(validate, "validate_paths", crash)
    code, err = _cli(capsys, ["data", "validate", str(bad)])
    assert code == EXIT_CRASH and "internal error" in err and "RuntimeError: a bug" in err


def test_data_validate_does_not_import_torch(tmp_path):
    good = tmp_path / "ok.json"
    good.write_text(json.dumps([{"movie_id": "m", "start": 1, "end": 2, "ad": "x", "char": [],
                                 "ad_chars": [], "ad_chars_in_chars": [], "context": []}]))
    cast = tmp_path / "cast.json"  # a cast list is a bank without tensors: no torch either
    cast.write_text(json.dumps({"m": [{"id": "nm1", "role": "Anna", "name": "A. Actor"}]}))
    probe = ("import sys; from uniad.cli import main; code = main(['data', 'validate', *sys.argv[1:]]); "
             "print('torch' in sys.modules, code)")
    out = subprocess.run([sys.executable, "-c", probe, str(good), str(cast)], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().endswith("False 0")


def test_training_features_of_another_width_are_named_before_building(setup, capsys, tmp_path):
    _, world, _ = setup
    code, err = _cli(capsys, ["train", "--preset", "demo", "--set", "model.llm=tiny",
                              "--train-data", str(world / "train.json"),
                              "--features", str(world / "features.h5"), "--out", str(tmp_path / "r")])
    assert code == EXIT_ERROR and "expects features of width 64 (model.feature_dim)" in err
    assert "width 16" in err and str(world / "features.h5") in err


def test_a_bank_file_that_is_not_a_pytorch_file_is_named(capsys, tmp_path):
    src = tmp_path / "exemplars.safetensors"
    src.write_bytes(os.urandom(64))
    code, err = _cli(capsys, ["data", "convert-bank", str(src), "--out", str(tmp_path / "b.safetensors")])
    assert code == EXIT_ERROR and f"{src}: cannot read" in err


@pytest.mark.parametrize("argv", [
    ["data", "validate", "x.json", "--fps", "0"],
    ["evaluate", "--checkpoint", "c", "--data", "d", "--features", "f", "--out", "o", "--limit", "0"],
    ["train", "--train-data", "d", "--features", "f", "--out", "o", "--stop-at-step", "-1"],
    ["score", "--pred", "p", "--ref", "r", "--recall-k", "0"],
])
def test_bad_counts_and_rates_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == EXIT_ERROR and "must be" in err and "Traceback" not in err


def test_narrate_on_a_full_disk_is_named(capsys, tmp_path, monkeypatch, media):
    """``narrate --speak --mix`` onto a full disk: one line naming the file, no traceback."""
    files = media
    out = tmp_path / "narrated"
    _fail_writes_under(monkeypatch, out, errno.ENOSPC)
    code, err = _cli(capsys, ["narrate", str(files["video"]), "--cast", str(files["cast"]),
                              "--checkpoint", str(files["ckpt"]), "--out", str(out),
                              "--cache-dir", str(files["root"] / "cache"), "--speak", "--mix"])
    assert code == EXIT_ERROR and "the disk is full" in err and str(out) in err


# -- narration inputs ----------------------------------------------------------------------

def test_evaluate_settings_are_refused_before_anything_is_read(setup, capsys, tmp_path,
                                                                monkeypatch):
    """A bad --set is refused before the checkpoint, the data or the model is opened."""
    _, world, run = setup
    monkeypatch.setattr(UniAD, "from_pretrained", _must_not_load)
    opened = []
    monkeypatch.setattr("uniad.config.read_yaml", lambda path: opened.append(path) or {})
    code, err = _cli(capsys, _evaluate(world, run / "final", tmp_path / "o",
                                       "--set", "generation.max_new_tokens=0"))
    assert code == EXIT_ERROR and "generation setting 'max_new_tokens' must be >= 1, got 0" in err
    assert opened == [] and not (tmp_path / "o").exists()


SRT = "1\n00:00:01,000 --> 00:00:02,500\nÉlodie says: « Ça va ? »\n\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_subtitles_are_decoded_by_their_byte_order_mark(tmp_path, encoding):
    from uniad.narrate.timeline.subtitles import read_subtitle_cues

    path = tmp_path / "dialogue.srt"
    data = SRT.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data  # Python writes no mark for an explicit byte order
    path.write_bytes(data)
    assert read_subtitle_cues(path) == [(1.0, 2.5, "Élodie says: « Ça va ? »")]


def test_undecodable_subtitles_are_named(capsys, tmp_path, media):
    (tmp_path / "latin1.srt").write_bytes(SRT.encode("latin-1"))
    out = tmp_path / "o"
    code, err = _cli(capsys, ["narrate", str(media["video"]), "--cast", str(media["cast"]),
                              "--checkpoint", str(media["ckpt"]), "--out", str(out),
                              "--subtitles", str(tmp_path / "latin1.srt")])
    assert code == EXIT_ERROR
    assert f"{tmp_path / 'latin1.srt'}: not UTF-8 text (byte 32 cannot be decoded)" in err


@pytest.mark.parametrize("kind", ["json", "srt"])
def test_render_refuses_overlapping_cues_naming_both(capsys, tmp_path, kind):
    """Two cues over one stretch would be shown and spoken at once: refused, both named,
    and the earlier render in --out left as it was."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "ad.srt").write_text("earlier render\n")
    if kind == "json":
        track = tmp_path / "ad.json"
        track.write_text(json.dumps({"info": {"video": str(tmp_path / "v.mp4")}, "ads": [
            {"start": 1.0, "end": 3.0, "text": "Anna runs."},
            {"start": 5.0, "end": 6.0, "text": "Tom waits."},
            {"start": 2.5, "end": 4.0, "text": "She stops."}]}))
        named = "record 0 (1-3 s) and record 2 (2.5-4 s) overlap"
    else:
        track = tmp_path / "ad.srt"
        track.write_text("1\n00:00:01,000 --> 00:00:03,000\nAnna runs.\n\n"
                         "2\n00:00:02,000 --> 00:00:04,000\nShe stops.\n\n")
        named = "cue 1 (1-3 s) and cue 2 (2-4 s) overlap"
    code, err = _cli(capsys, ["render", str(track), "--out", str(out), "--video", "v.mp4"])
    assert code == EXIT_ERROR and f"{track}: {named}" in err
    assert (out / "ad.srt").read_text() == "earlier render\n"


@pytest.mark.parametrize("command", ["narrate", "render"])
def test_an_unwritable_output_folder_is_refused_before_any_work(capsys, tmp_path, command,
                                                                monkeypatch):
    """--out that cannot take a file is named first: no video decoded, no describer asked."""
    import uniad.narrate.media.video as video

    monkeypatch.setattr(video, "probe", _must_not_load)
    out = tmp_path / "ro"
    out.mkdir()
    real = tempfile.NamedTemporaryFile

    def refused(*args, dir=None, **kwargs):  # root ignores chmod: refuse the write itself
        if dir is not None and Path(dir) == out:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refused)
    track = tmp_path / "ad.srt"
    track.write_text("1\n00:00:01,000 --> 00:00:02,000\nAnna sits.\n")
    argv = (["narrate", str(tmp_path / "film.mp4"), "--cast", "c.json", "--describer",
             "openai:http://127.0.0.1:9/v1"] if command == "narrate"
            else ["render", str(track), "--video", "film.mp4"])
    code, err = _cli(capsys, [*argv, "--out", str(out)])
    assert code == EXIT_ERROR and f"--out {out}: cannot write there (Permission denied)" in err
