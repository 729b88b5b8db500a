"""`uniad evaluate` on the 300 real TV-AD records of shared/data/tvad_sample, in release mode
(the tvad preset), with random VideoLLaMA-shaped features (T, 32, 768) and a release-style
exemplar file for the sample's cast, both written here."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch

from uniad.cli import main
from uniad.config import load_config
from uniad.data.features import clip_key, write_feature_store
from uniad.model.sequence import FIXED_TEXTS
from uniad.model.uniad import UniAD

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / ".." / ".." / "shared" / "data" / "tvad_sample"
SAMPLE = SAMPLE.resolve() if SAMPLE.is_dir() else pathlib.Path("/work/shared/data/tvad_sample")
DATA = SAMPLE / "tvad_char_refine_eval.sample.json"
NO_FEATURES = 3  # records whose clip the store lacks: dropped, with the key named
pytestmark = pytest.mark.skipif(not DATA.is_file(), reason="the TV-AD sample (shared/data/tvad_sample) is not here")


def lacking(records: list[dict]) -> list[str]:
    """Clip keys the store leaves out: the first NO_FEATURES that are no record's content."""
    context = {clip_key(r["key_name"], r["content"]["start"], r["content"]["end"])
               for r in records if "content" in r}
    own = [clip_key(r["key_name"], r["start"], r["end"]) for r in records]
    return [k for k in own if k not in context][:NO_FEATURES]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("tvad")
    records = json.loads(DATA.read_text())["tvad"]
    rng = np.random.default_rng(0)
    keys = {clip_key(r["key_name"], r["start"], r["end"]) for r in records}
    keys |= {clip_key(r["key_name"], r["content"]["start"], r["content"]["end"])
             for r in records if "content" in r}
    keys -= set(lacking(records))
    features = {k: rng.standard_normal((int(rng.integers(2, 14)), 32, 768)) for k in sorted(keys)}
    write_feature_store(root / "TV_eval_videollama.h5", features, fps=5.0, layout="clip")
    cast = json.loads((SAMPLE / "tvad_charbank.sample.json").read_text())
    ids = sorted({c["id"] for chars in cast.values() for c in chars})
    torch.save({f"{i}.jpg": torch.randn(32, 768) for i in ids}, root / "chars_all_videollama.pth.tar")
    config = load_config("tvad", overrides=["model.llm=tiny", "model.qformer_intermediate=64"])
    corpus = [*FIXED_TEXTS, *(r["ad"] for r in records)]
    torch.manual_seed(0)
    UniAD.build(config, corpus=corpus).save_pretrained(root / "run")
    return root


def evaluate(files, out, *extra):
    return main(["evaluate", "--checkpoint", str(files / "run"), "--data", str(DATA),
                 "--features", str(files / "TV_eval_videollama.h5"),
                 "--bank", str(files / "chars_all_videollama.pth.tar"), "--out", str(out),
                 "--metrics", "cider", "--tokenizer", "python",
                 "--set", "generation.max_new_tokens=3", "--set", "generation.num_beams=2",
                 "--skip-unreadable", *extra])  # 3 clips are left out of the store on purpose


def test_all_300_records_run_and_the_report_lists_kept_and_dropped(files, tmp_path):
    records = json.loads(DATA.read_text())["tvad"]
    without_content = [i for i, r in enumerate(records) if "content" not in r]
    assert evaluate(files, tmp_path / "keep") == 0
    scores = json.loads((tmp_path / "keep" / "scores.json").read_text())
    predictions = json.loads((tmp_path / "keep" / "predictions.json").read_text())
    missing = lacking(records)
    assert len(predictions) == len(records) - NO_FEATURES
    assert sorted(d["reason"].split("key ")[-1].strip("'") for d in scores["dropped"]) == sorted(missing)
    kept_bare = set(scores["kept_without_previous_clip"])
    lost = {i for i, r in enumerate(records) if clip_key(r["key_name"], r["start"], r["end"]) in missing}
    assert len(kept_bare) == len(set(without_content) - lost)
    assert kept_bare <= set(predictions)
    assert scores["counts"]["kept without a previous clip"] == len(kept_bare)
    assert "Kept without a previous clip" in (tmp_path / "keep" / "report.md").read_text()
    assert scores["settings"]["data_settings"]["character_filter"] == "release"

    # the release's filter, on request: records without content are dropped and listed
    assert evaluate(files, tmp_path / "release", "--set", "data.drop_without_context=true",
                    "--limit", "4") == 0
    scores = json.loads((tmp_path / "release" / "scores.json").read_text())
    reasons = [d["reason"] for d in scores["dropped"]]
    assert sum("drop_without_context" in r for r in reasons) == len(kept_bare)
    assert scores["kept_without_previous_clip"] == []
