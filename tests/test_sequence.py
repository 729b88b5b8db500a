"""The interleaved sequence: layout, tokenisation styles, ablations, and encode_batch."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from model_samples import FEATURE_DIM, make_sample, tiny_config
from tokenizers import processors

from uniad.errors import UniADError
from uniad.model.batch import gather_blocks
from uniad.model.sequence import (
    IGNORE_INDEX,
    EmbedSegment,
    SequenceBuilder,
    TextSegment,
    describe,
    encode_batch,
    sequence_length,
    within_target_limit,
)
from uniad.model.tiny import build_tiny_tokenizer

TWO_CHARACTERS = (("Anna Berg", "Emma Stone"), ("Tom Hale", "Ryan Gosling"))


@pytest.fixture(scope="module")
def tokenizer():
    """The tiny tokenizer, made to add BOS like Llama's, so "no BOS anywhere" is testable."""
    tok = build_tiny_tokenizer()
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)]
    )
    assert tok("Describe")["input_ids"][0] == tok.bos_token_id
    return tok


def builder(tokenizer, **model) -> SequenceBuilder:
    return SequenceBuilder(tokenizer, tiny_config(**model).model)


def texts(segments) -> list[str]:
    return [s.text if isinstance(s, TextSegment) else f"<{s.kind}{s.index}>" for s in segments]


def test_release_layout_matches_the_reference(tokenizer):
    segments = builder(tokenizer).build(make_sample(characters=TWO_CHARACTERS))
    assert texts(segments) == [
        "Possible characters:",
        "Anna Berg played by Emma Stone",
        "<character0>",
        ";",
        "Tom Hale played by Ryan Gosling",
        "<character1>",
        ".",
        'Previous AD: "Anna opens the door."',
        "Describe ",
        "<video0>",
        ":",
        "She sits down at the table.",
        "</s>",
    ]
    video = [s for s in segments if isinstance(s, EmbedSegment) and s.kind == "video"]
    assert [(v.clips, v.num_tokens, v.role) for v in video] == [((0, 1), 3, "current_video")]
    assert all(s.num_tokens == 2 for s in segments if isinstance(s, EmbedSegment) and s.kind == "character")


def test_short_lines_drop_the_actor_and_the_label_and_nothing_else(tokenizer):
    """model.character_line="role" / context_line="quoted": fewer positions, same layout."""
    sample = make_sample(characters=TWO_CHARACTERS)
    full = builder(tokenizer).build(sample)
    short = builder(tokenizer, character_line="role", context_line="quoted").build(sample)
    replaced = {"Anna Berg played by Emma Stone": "Anna Berg", "Tom Hale played by Ryan Gosling": "Tom Hale",
                'Previous AD: "Anna opens the door."': '"Anna opens the door."'}
    assert texts(short) == [replaced.get(t, t) for t in texts(full)]
    assert [s.role for s in short] == [s.role for s in full]
    assert sequence_length(short) < sequence_length(full)
    cmdtv = builder(tokenizer, prompt="cmdtv", character_line="role").build(sample)
    assert [t for t in texts(cmdtv) if t in ("Anna", "Tom") or "played by" in t] == ["Anna", "Tom"]


def test_fragments_are_tokenised_alone_without_bos(tokenizer):
    segments = builder(tokenizer).build(make_sample())
    for seg in segments:
        if isinstance(seg, TextSegment) and seg.text != tokenizer.eos_token:
            assert seg.ids == tuple(tokenizer(seg.text)["input_ids"][1:])  # release: encode(x)[1:]
    all_ids = [i for s in segments if isinstance(s, TextSegment) for i in s.ids]
    assert tokenizer.bos_token_id not in all_ids
    assert segments[-1].ids == (tokenizer.eos_token_id,)


def test_plain_style_tokenises_whole_strings(tokenizer):
    sample = make_sample(characters=TWO_CHARACTERS)
    release = builder(tokenizer).build(sample)
    plain = builder(tokenizer, prompt_style="plain").build(sample)
    assert texts(release) == texts(plain)  # same content and roles, different ids
    run = plain[:2]  # "Possible characters:" + the first name, one text run
    whole = tokenizer("Possible characters: Anna Berg played by Emma Stone", add_special_tokens=False)
    assert run[0].ids + run[1].ids == tuple(whole["input_ids"])
    # Byte-level BPE: alone the name starts without its space, in the whole string with it.
    assert release[1].ids != plain[1].ids
    assert tokenizer.decode(plain[1].ids) == " Anna Berg played by Emma Stone"
    assert tokenizer.decode(release[1].ids) == "Anna Berg played by Emma Stone"
    assert release[-2:] == plain[-2:]  # the target is tokenised alone in both styles


def test_no_character_line_without_characters(tokenizer):
    segments = builder(tokenizer).build(make_sample(characters=()))
    assert texts(segments)[0] == 'Previous AD: "Anna opens the door."'
    assert not any(s.role.startswith("character") for s in segments)


def character_block(segments):
    end = next(i for i, s in enumerate(segments) if s.role == "context_ad")
    return segments[:end]


@pytest.mark.parametrize(
    ("switch", "removed"),
    [
        ("use_characters", lambda segs: character_block(segs)),
        ("use_context_ads", lambda segs: [s for s in segs if s.role == "context_ad"]),
    ],
)
def test_text_ablations_remove_exactly_their_segments(tokenizer, switch, removed):
    sample = make_sample(characters=TWO_CHARACTERS)
    full = builder(tokenizer).build(sample)
    ablated = builder(tokenizer, **{switch: False}).build(sample)
    gone = removed(full)
    assert gone, "the sample must contain the segments the switch removes"
    assert ablated == [s for s in full if not any(s is g for g in gone)]


def test_previous_video_ablation_keeps_only_the_current_clip(tokenizer):
    sample = make_sample(previous_frames=(3, 5))
    full = builder(tokenizer).build(sample)
    ablated = builder(tokenizer, use_previous_video=False).build(sample)
    swap = {s: dataclasses.replace(s, clips=(2,)) for s in full if s.role == "current_video"}
    assert ablated == [swap.get(s, s) for s in full]

    split = builder(tokenizer, split_previous_video=True).build(sample)
    videos = [s for s in split if isinstance(s, EmbedSegment) and s.kind == "video"]
    assert [(v.index, v.role, v.clips) for v in videos] == [
        (0, "previous_video", (0,)),
        (1, "previous_video", (1,)),
        (2, "current_video", (2,)),
    ]
    split_ablated = builder(tokenizer, split_previous_video=True, use_previous_video=False).build(sample)
    assert [s for s in split if s.role != "previous_video"] == [
        dataclasses.replace(s, index=2) if s.role == "current_video" else s for s in split_ablated
    ]


def test_target_and_token_count(tokenizer):
    b = builder(tokenizer)
    sample = make_sample(target="Tom walks across the street.")
    segments = b.build(sample)
    assert segments[-2].role == segments[-1].role == "target"
    assert b.count_tokens("Tom walks across the street.") == len(segments[-2].ids) > 0
    assert sequence_length(b.build(sample, with_target=False)) == sequence_length(segments) - len(
        segments[-2].ids
    ) - 1
    with pytest.raises(UniADError, match="target"):
        b.build(make_sample(target=None))


def test_describe_shows_the_layout(tokenizer):
    text = describe(builder(tokenizer).build(make_sample()))
    assert text.startswith("[prompt] Possible characters: Anna Berg played by Emma Stone <char x2> .")
    assert 'Previous AD: "Anna opens the door." Describe <video x3 (previous+current)> : [target]' in text
    assert text.endswith("She sits down at the table. </s>")


def ragged_batch():
    return [
        make_sample("a", frames=4, previous_frames=(3,), characters=TWO_CHARACTERS, seed=1),
        make_sample("b", frames=7, previous_frames=(), characters=(), context=(), seed=2,
                    target="He runs."),
        make_sample("c", frames=2, previous_frames=(5,), characters=TWO_CHARACTERS[:1],
                    context=("Tom walks.", "He stops."), seed=3),
    ]


def fake_visuals(segment_lists, width):
    """Distinct random blocks per slot, so the test can find each one in the output."""
    g = torch.Generator().manual_seed(0)
    return [
        {(s.kind, s.index): torch.randn(s.num_tokens, width, generator=g)
         for s in segs if isinstance(s, EmbedSegment)}
        for segs in segment_lists
    ]


def test_encode_batch_left_pads_and_masks(tokenizer):
    width = 6
    embed = torch.nn.Embedding(len(tokenizer), width)
    segment_lists = [builder(tokenizer).build(s) for s in ragged_batch()]
    visuals = fake_visuals(segment_lists, width)
    batch = encode_batch(segment_lists, tokenizer, embed, visuals)
    lengths = [sequence_length(segs) for segs in segment_lists]
    assert len(set(lengths)) == 3
    assert batch.inputs_embeds.shape == (3, max(lengths), width)
    for b, (segs, n) in enumerate(zip(segment_lists, lengths)):
        pad = max(lengths) - n
        assert batch.attention_mask[b].tolist() == [0] * pad + [1] * n
        assert batch.position_ids[b, pad:].tolist() == list(range(n))
        # Walk the segments and check every position holds what its segment says.
        pos = pad
        for seg in segs:
            if isinstance(seg, TextSegment):
                ids = torch.tensor(seg.ids)
                span = slice(pos, pos + len(ids))
                assert torch.equal(batch.inputs_embeds[b, span], embed(ids))
                expected = ids if seg.role == "target" else torch.full_like(ids, IGNORE_INDEX)
                assert torch.equal(batch.labels[b, span], expected)
                pos += len(ids)
            else:
                span = slice(pos, pos + seg.num_tokens)
                assert torch.equal(batch.inputs_embeds[b, span], visuals[b][(seg.kind, seg.index)])
                assert (batch.labels[b, span] == IGNORE_INDEX).all()
                pos += seg.num_tokens
        assert (batch.labels[b, :pad] == IGNORE_INDEX).all()
        target_ids = list(segs[-2].ids) + [tokenizer.eos_token_id]
        assert batch.labels[b][batch.labels[b] != IGNORE_INDEX].tolist() == target_ids


def test_encode_batch_names_a_missing_visual_block(tokenizer):
    segs = [builder(tokenizer).build(make_sample())]
    with pytest.raises(UniADError, match="character block 0 needs 2 embeddings"):
        encode_batch(segs, tokenizer, torch.nn.Embedding(len(tokenizer), 4), [{}])


def test_gather_blocks_pads_clips_and_exemplars(tokenizer):
    samples = ragged_batch()
    samples[2].characters[0].exemplar = torch.randn(3, FEATURE_DIM)  # K differs across characters
    segment_lists = [builder(tokenizer).build(s) for s in samples]
    video = gather_blocks(samples, segment_lists, "video")
    assert video.values.shape == (3, 7, FEATURE_DIM)
    assert video.mask.sum(1).tolist() == [3 + 4, 7, 5 + 2]
    assert [(b, seg.index) for b, seg in video.owners] == [(0, 0), (1, 0), (2, 0)]
    first = samples[0]
    assert torch.equal(video.values[0, :7], torch.cat([first.previous_videos[0], first.video]))
    assert (video.values[2, 7:] == 0).all() and not video.mask[2, 7:].any()
    chars = gather_blocks(samples, segment_lists, "character")
    assert [(b, seg.index) for b, seg in chars.owners] == [(0, 0), (0, 1), (2, 0)]
    assert chars.values.shape == (3, 3, FEATURE_DIM)
    assert chars.mask.sum(1).tolist() == [1, 1, 3]
    assert torch.equal(chars.values[2], samples[2].characters[0].exemplar)
    assert gather_blocks(samples[1:2], segment_lists[1:2], "character") is None


def test_long_targets_are_dropped_and_counted(tokenizer, caplog):
    b = builder(tokenizer)
    short = make_sample("short", target="He runs.").event
    long = make_sample("long", target="Anna opens the door and looks into the dark room.").event
    limit = b.count_tokens("He runs.")
    assert b.count_tokens(long.text) > limit
    with caplog.at_level("WARNING"):
        kept = within_target_limit([short, long], b, limit)
    assert kept == [short]
    assert "dropped 1 of 2" in caplog.text
    # The release also drops a sample whose previous AD (the contrastive target) is too long.
    assert within_target_limit([short], b, limit, check_previous=True) == []


def test_inspect_prints_a_samples_layout(tmp_path, capsys):
    from uniad.cli import main
    from uniad.world.synthetic import make_world

    make_world(tmp_path, movies=2, dim=FEATURE_DIM, events_min=4, events_max=5)
    code = main([
        "inspect", "--data", str(tmp_path / "eval.json"), "--features", str(tmp_path / "features.h5"),
        "--bank", str(tmp_path / "charbank.safetensors"), "--index", "2", "--preset", "demo",
        "--llm", "tiny", "--set", "data.previous_clips=1",
    ])
    out = capsys.readouterr().out
    assert code == 0
    # The demo preset's short lines: roles alone, previous ADs quoted without a label.
    assert "[prompt] Possible characters:" in out and "played by" not in out
    assert re.search(r' \. ("[^"]+" )+Describe <video x4 \(previous\+current\)> : \[target\]', out)
    assert main(["inspect", "--data", str(tmp_path / "eval.json"), "--features",
                 str(tmp_path / "features.h5"), "--index", "99", "--llm", "tiny"]) == 2
