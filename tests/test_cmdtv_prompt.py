"""The CMD-AD/TV-AD prompt, from a TV-AD record on disk to token ids, against the rules of
LAYOUT-cmdad-tvad.md ("Characters", "Prompt") written out here by hand."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from uniad.config import load_config
from uniad.data.charbank import CharacterBank
from uniad.data.dataset import ADDataset
from uniad.data.features import FeatureStore, clip_key, write_feature_store
from uniad.data.formats import read_clip_eval
from uniad.model.sequence import EmbedSegment, SequenceBuilder, TextSegment, describe
from uniad.model.tiny import build_tiny_tokenizer

FEAT, K = 8, 32  # feature width; Q-Former tokens per exemplar (the release's 32)
CAST = {  # id -> (char_in_ad, actor)
    "nm1": ("Ross", "David Schwimmer"), "nm2": ("He", "Matt LeBlanc"),
    "nm3": ("Joey", "Matt LeBlanc"), "nm4": ("Monica", "Courteney Cox"),
    "nm5": ("Rachel", "Jennifer Aniston"),
}
IN_BANK = ("nm1", "nm2", "nm4", "nm5")  # nm3 (Joey) has no exemplar
CASES = {  # prob lists: 0 characters; 1; 3 with "He" filtered and Joey not in the bank; 2
    "none": [], "one": ["nm4"], "three": ["nm1", "nm2", "nm3"], "two": ["nm5", "nm1"],
}


def record(n: int, prob: list[str]) -> dict:
    chars = [{"name": CAST[i][1], "role": CAST[i][0] + " Full", "char_in_ad": CAST[i][0], "id": i}
             for i in prob]
    return {"start": 10 * n + 2, "end": 10 * n + 6, "ad": "Ross waves.", "char": [], "char_in_ad": [],
            "content": {"start": 10 * n, "end": 10 * n + 2, "ad": "Earlier."},
            "char_pred": chars, "key_name": "friends_s01e01_clip", "prob": chars,
            "prob_data": [0.9] * len(chars)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmdtv_prompt")
    records = [record(n, prob) for n, prob in enumerate(CASES.values())]
    (root / "tvad.json").write_text(json.dumps({"tvad": records}))
    g = np.random.default_rng(0)
    features = {clip_key(r["key_name"], t["start"], t["end"]): g.standard_normal((5, K, FEAT))
                for r in records for t in (r, r["content"])}
    write_feature_store(root / "f.h5", features, fps=5.0, layout="clip", dtype="float32")
    # the release's bank: {"nm....jpg": (1, 32, F)}, read without unpickling code
    torch.save({f"{i}.jpg": torch.randn(1, K, FEAT) for i in IN_BANK}, root / "chars.pth.tar")
    config = load_config("tvad")
    config.model.feature_dim = FEAT
    _, events = read_clip_eval(root / "tvad.json")
    dataset = ADDataset(events, FeatureStore(root / "f.h5"), CharacterBank.load(root / "chars.pth.tar"),
                        config.data, training=False)
    tokenizer = build_tiny_tokenizer()
    return dataset, tokenizer, SequenceBuilder(tokenizer, config.model), config


def layout_ids(tokenizer, prob: list[str], vocab: int) -> list[int]:
    """The layout's prompt: fragments tokenised alone without BOS; <video> V, <v> V+1,
    <context> V+2; ". " only after the file's last entry; skipped: pronouns, no exemplar."""
    enc = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    kept = [i for i in prob if CAST[i][0] not in {"He", "She", "The", "They", "Them", "It", "Its",
                                                   "As", "And", "But", "Or", "How", "This", "That",
                                                   "In"} and i in IN_BANK]
    ids = enc("Possible characters :") if kept else []
    for i in kept:
        ids += enc(f"{CAST[i][0]} played by {CAST[i][1]}") + [vocab + 1] * K
        ids += enc(". " if i == prob[-1] else "; ")
    return ids + enc("Describe ") + [vocab] * 32 + enc(":") + [vocab + 2]


def our_ids(segments, vocab: int) -> list[int]:
    ids: list[int] = []
    for seg in segments:
        if isinstance(seg, EmbedSegment):
            ids += [vocab + (seg.kind == "character")] * seg.num_tokens
        elif seg.role == "context_ad":
            assert seg.ids == (0,)  # the slot reads the <unk> row, as in the release
            ids.append(vocab + 2)
        else:
            ids += seg.ids
    return ids


@pytest.mark.parametrize("case", list(CASES))
def test_prompt_equals_the_layout_token_for_token(built, case):
    dataset, tokenizer, builder, _ = built
    index = list(CASES).index(case)
    sample = dataset[index]
    segments = builder.build(sample, with_target=False)
    vocab = len(tokenizer)
    assert our_ids(segments, vocab) == layout_ids(tokenizer, CASES[case], vocab)
    assert sample.video.shape == (8, K, FEAT) and sample.previous_videos[0].shape == (8, K, FEAT)
    # 5 frames -> the 5 frames then 3 zero frames (linspace_pad), previous clip first
    assert torch.count_nonzero(sample.video[5:]) == 0 and torch.count_nonzero(sample.video[4]) > 0
    video = [s for s in segments if isinstance(s, EmbedSegment) and s.kind == "video"]
    assert len(video) == 1 and video[0].clips == (0, 1)


def test_filter_and_bank_are_counted_and_text_mode_feeds_the_previous_ad(built):
    dataset, tokenizer, _, config = built
    assert dataset.filtered_characters == 1  # "He"
    assert dict(dataset.missing_exemplars) == {"friends_s01e01_clip/nm3": 1}
    model_config = dataclasses.replace(config.model, context_mode="text")
    sample = dataset[2]
    sample.context_texts = ["Earlier."]  # what data.context_ads=1 gives
    segments = SequenceBuilder(tokenizer, model_config).build(sample, with_target=False)
    assert describe(segments).endswith('Previous AD: "Earlier." Describe <video x32 (previous+current)> :')
    texts = [s.text for s in segments if isinstance(s, TextSegment)]
    assert texts[-3:] == ['Previous AD: "Earlier."', "Describe ", ":"]
    assert all(s.ids != (0,) for s in segments if isinstance(s, TextSegment))
