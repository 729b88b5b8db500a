"""ADDataset: frame sampling as the release does it, context ordering, character
selection switches, reported drops, and identical samples across DataLoader workers."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from uniad.config import DataConfig
from uniad.data.charbank import CharacterBank
from uniad.data.dataset import ADDataset, collate_samples, select_characters
from uniad.data.features import FeatureStore, write_feature_store
from uniad.data.sampling import linspace_indices, sample_frames, tsn_indices
from uniad.data.schema import ADEvent, Character
from uniad.errors import DataError, UniADError

FPS = 5.0
FRAMES = 200  # 40 s
DIM = 4



@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Frame i holds the value i in every dimension, so samples show which frames they hold."""
    path = tmp_path_factory.mktemp("features") / "features.h5"
    frames = np.repeat(np.arange(FRAMES, dtype=np.float32)[:, None], DIM, axis=1)
    write_feature_store(path, {"vid": frames}, fps=FPS, layout="timeline", dtype="float32")
    return FeatureStore(path, fps=FPS)


def _char(cid: str, score: float | None = None, short: str = "") -> Character:
    return Character(id=cid, name=f"Actor {cid}", role=f"Role{cid} Smith", short_name=short,
                     score=score)


@pytest.fixture(scope="module")
def bank():
    tensors = {f"vid/{cid}": torch.full((1, DIM), float(k)) for k, cid in enumerate("abcd")}
    return CharacterBank.from_tensors(tensors)


def _event(n: int, start: float, end: float, context: tuple = (), video: str = "vid",
           **chars) -> ADEvent:
    return ADEvent(video_id=video, start=start, end=end, text=f"AD {n}.", context=context,
                   uid=f"{video}#{n}", **chars)


def _story(count: int = 6) -> list[ADEvent]:
    """Events 4 s long every 5 s, each with all earlier ones as context, nearest first."""
    events: list[ADEvent] = []
    for n in range(count):
        context = tuple(reversed([ADEvent(e.video_id, e.start, e.end, e.text) for e in events]))
        events.append(_event(n, 5.0 * n + 1, 5.0 * n + 5, context=context,
                             candidates=(_char("a", 0.9), _char("b", 0.2), _char("c", 0.6))))
    return events


def _frames(video: torch.Tensor) -> list[int]:
    return [int(v) for v in video[:, 0]]


# -- sampling -----------------------------------------------------------------------------


def test_tsn_draws_one_frame_per_segment_first_segments_longer():
    # 21 frames into 8 segments: 21 = 8*2 + 5, so the first 5 segments hold 3 frames.
    bounds = [0, 3, 6, 9, 12, 15, 17, 19, 21]
    seen = [set() for _ in range(8)]
    rng = np.random.default_rng(0)
    for _ in range(200):
        idx = tsn_indices(21, 8, rng)
        for k in range(8):
            assert bounds[k] <= idx[k] < bounds[k + 1]
            seen[k].add(int(idx[k]))
    assert [len(s) for s in seen] == [3, 3, 3, 3, 3, 2, 2, 2]  # every frame can be drawn


def test_tsn_zero_pads_short_clips():
    frames = np.arange(1, 4, dtype=np.float32)[:, None]  # 3 frames, values 1..3
    out = sample_frames(frames, 8, "tsn", np.random.default_rng(0))
    assert out[:, 0].tolist() == [1, 2, 3, 0, 0, 0, 0, 0]


def test_linspace_matches_the_release_indices():
    assert linspace_indices(20, 8).tolist() == [0, 2, 5, 8, 10, 13, 16, 19]
    assert linspace_indices(3, 8).tolist() == [0, 0, 0, 0, 1, 1, 1, 2]  # repeats, no pad
    frames = np.arange(3, dtype=np.float32)[:, None]
    assert sample_frames(frames, 8, "all").shape == (3, 1)
    # CMD-AD/TV-AD evaluation pads short clips instead of repeating frames.
    assert sample_frames(frames + 1, 8, "linspace_pad")[:, 0].tolist() == [1, 2, 3, 0, 0, 0, 0, 0]
    long = np.arange(20, dtype=np.float32)[:, None]
    assert sample_frames(long, 8, "linspace_pad")[:, 0].tolist() == [0, 2, 5, 8, 10, 13, 16, 19]
    with pytest.raises(ValueError, match="unknown frame sampling"):
        sample_frames(frames, 8, "uniform")


# -- clips and context --------------------------------------------------------------------


def test_eval_clip_is_linspace_over_the_window(store, bank):
    ds = ADDataset(_story(), store, bank, DataConfig(), training=False)
    sample = ds[2]  # 11-15 s = frames 55..75 (exact rounding, both ends inclusive)
    expected = 55 + np.linspace(0, 20, 8).astype(int)
    assert _frames(sample.video) == expected.tolist()
    assert sample.video.dtype == torch.float32
    assert sample.target == "AD 2." and sample.sample_id == "vid#2"


def test_previous_clips_and_context_texts_are_oldest_first(store, bank):
    config = DataConfig(previous_clips=2, context_ads=3)
    sample = ADDataset(_story(), store, bank, config, training=False)[4]
    # Context of event 4, nearest first, is events 3, 2, 1, 0; we want 2 clips and 3 texts.
    starts = [_frames(v)[0] for v in sample.previous_videos]
    assert starts == [int((5.0 * 2 + 1) * FPS), int((5.0 * 3 + 1) * FPS)]
    assert sample.context_texts == ["AD 1.", "AD 2.", "AD 3."]


def test_training_draws_depend_on_seed_epoch_and_index_only(store, bank):
    ds = ADDataset(_story(), store, bank, DataConfig(), training=True, seed=7)
    first = [_frames(ds[i].video) for i in range(len(ds))]
    assert first == [_frames(ds[i].video) for i in range(len(ds))]  # reproducible
    for i, frames in enumerate(first):  # one frame from each of 8 segments of 21 frames
        base = int((5.0 * i + 1) * FPS)
        bounds = [base + b for b in (0, 3, 6, 9, 12, 15, 17, 19, 21)]
        assert all(bounds[k] <= f < bounds[k + 1] for k, f in enumerate(frames))
    ds.set_epoch(1)
    assert [_frames(ds[i].video) for i in range(len(ds))] != first


# -- characters ---------------------------------------------------------------------------


def _cast_event() -> ADEvent:
    return _event(
        0, 1.0, 5.0,
        candidates=(_char("a", 0.9), _char("b", 0.2), _char("c", 0.6), _char("d", 0.7)),
        refined=(_char("a"), _char("c")),
        named=(_char("c"),),
        named_candidates=(_char("c"),),
    )


@pytest.mark.parametrize(
    ("source", "training", "expected"),
    [
        ("auto", True, ["c"]),  # release training: the oracle list
        ("auto", False, ["a", "c"]),  # release eval: the refined list
        ("recognised", True, ["a", "c"]),  # no oracle: refined when present
        ("candidates", False, ["a", "b", "c", "d"]),
        ("named_candidates", False, ["c"]),
    ],
)
def test_character_source(source, training, expected):
    chosen = select_characters(_cast_event(), source, training)
    assert [c.id for c in chosen] == expected


def test_character_threshold_and_top_k_keep_cast_order():
    event = _cast_event()
    assert [c.id for c in select_characters(event, "candidates", False, threshold=0.5)] == [
        "a", "c", "d"]
    assert [c.id for c in select_characters(event, "candidates", False, max_characters=2)] == [
        "a", "d"]
    assert [c.id for c in select_characters(event, "candidates", False, 0.65, 5)] == ["a", "d"]
    # Short names come from the role when the file has none (MAD files carry none).
    assert [c.short_name for c in select_characters(event, "refined", False)] == [
        "Rolea", "Rolec"]


def test_samples_carry_exemplars_and_count_missing_ones(store):
    bank = CharacterBank.from_tensors({"vid/a": torch.ones(1, DIM, dtype=torch.float16)})
    config = DataConfig(character_source="candidates")
    ds = ADDataset([_cast_event()], store, bank, config, training=False)
    sample = ds[0]
    assert [e.character.id for e in sample.characters] == ["a"]
    assert sample.characters[0].exemplar.dtype == torch.float32
    assert dict(ds.missing_exemplars) == {"vid/b": 1, "vid/c": 1, "vid/d": 1}
    assert ADDataset([_cast_event()], store, None, config, training=False)[0].characters == []


# -- drops --------------------------------------------------------------------------------


def test_unusable_events_are_dropped_with_reasons_and_logged(store, bank, caplog):
    events = _story(3) + [_event(90, 1.0, 2.0, video="elsewhere"), _event(91, 60.0, 62.0)]
    with caplog.at_level(logging.WARNING, logger="uniad.data.dataset"):
        ds = ADDataset(events, store, bank, DataConfig(), training=False)
    assert len(ds) == 3
    reasons = dict(ds.dropped)
    assert set(reasons) == {"elsewhere#90", "vid#91"}
    assert "not in the feature store" in reasons["elsewhere#90"]
    assert "after the video ends" in reasons["vid#91"]
    assert "dropped 2 of 5 events" in caplog.text
    # The first event has no previous AD: kept without a previous clip, and said so.
    assert ds.without_context == ["vid#0"] and ds[0].previous_videos == []
    strict = ADDataset(events, store, bank, DataConfig(drop_without_context=True), training=False)
    assert len(strict) == 2 and "vid#0" in dict(strict.dropped)


def test_a_context_clip_outside_the_features_is_kept_out_and_warned(store, bank, caplog):
    outside = ADEvent("vid", 50.0, 52.0, "Far away.")  # after the 40 s of features
    event = _event(1, 10.0, 12.0, context=(outside,))
    with caplog.at_level(logging.WARNING, logger="uniad.data.dataset"):
        ds = ADDataset([event], store, bank, DataConfig(context_ads=1), training=False)
    sample = ds[0]
    assert sample.previous_videos == [] and sample.context_texts == ["Far away."]
    assert "1 of them because the clip lies outside" in caplog.text


def test_bad_settings_and_mismatched_bank_are_refused(store):
    with pytest.raises(UniADError, match="data.eval_sampling"):
        ADDataset(_story(), store, None, DataConfig(eval_sampling="middle"), training=False)
    with pytest.raises(UniADError, match="data.character_source"):
        ADDataset(_story(), store, None, DataConfig(character_source="oracle"), training=False)
    wide = CharacterBank.from_tensors({"vid/a": torch.zeros(1, DIM + 1)})
    with pytest.raises(DataError, match="width"):
        ADDataset(_story(), store, wide, DataConfig(), training=False)


# -- workers ------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [False, True])
def test_two_workers_give_the_samples_of_the_main_process(store, bank, training):
    ds = ADDataset(_story(), store, bank, DataConfig(context_ads=1), training=training, seed=3)
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_samples)
    from_workers = [s for batch in loader for s in batch]
    assert [s.sample_id for s in from_workers] == [ds[i].sample_id for i in range(len(ds))]
    for i, sample in enumerate(from_workers):
        local = ds[i]
        assert torch.equal(sample.video, local.video)
        assert all(torch.equal(a, b) for a, b in zip(sample.previous_videos, local.previous_videos))
        assert sample.context_texts == local.context_texts
        assert [c.character.id for c in sample.characters] == [
            c.character.id for c in local.characters]
