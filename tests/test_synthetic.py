"""The synthetic world: deterministic, in the real formats, and built so that naming needs
the bank (names change per movie, frames carry the face) and pronouns need the context."""

from __future__ import annotations

import json
import time
from collections import defaultdict

import h5py
import numpy as np
import pytest
import torch

from uniad.data.charbank import CharacterBank
from uniad.data.features import FeatureStore
from uniad.data.formats import read_annotations
from uniad.world.synthetic import (
    BANK_FILE, EVAL_FILE, FEATURES_FILE, TRAIN_FILE, WORLD_FILE, WorldParams, load_world,
    load_world_truth, make_world,
)
from uniad.errors import DataError

SMALL = {"movies": 6, "events_min": 15, "events_max": 25, "dim": 32}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    summary = make_world(out, seed=3, **SMALL)
    return summary, load_world(out), load_world_truth(out)


@pytest.fixture(scope="module")
def events(world):
    summary = world[0]
    train = read_annotations(summary.out_dir / TRAIN_FILE)
    evaluation = read_annotations(summary.out_dir / EVAL_FILE)
    return train, evaluation


def _arrays(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


def _bank_content(path):
    bank = CharacterBank.load(path)
    return {k: bank.exemplar(*k.split("/")) for k in bank.keys()}, {
        vid: bank.cast(vid) for vid in bank.cast_ids}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    a, b, c = (make_world(tmp_path / name, seed=seed, **SMALL)
               for name, seed in (("a", 1), ("b", 1), ("c", 2)))
    for name in (TRAIN_FILE, EVAL_FILE, WORLD_FILE):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
        assert (a.out_dir / name).read_bytes() != (c.out_dir / name).read_bytes(), name
    arrays_a, arrays_b = _arrays(a.out_dir / FEATURES_FILE), _arrays(b.out_dir / FEATURES_FILE)
    assert arrays_a.keys() == arrays_b.keys()
    assert all(np.array_equal(arrays_a[k], arrays_b[k]) for k in arrays_a)
    assert not np.array_equal(arrays_a["movie000"][:50],
                              _arrays(c.out_dir / FEATURES_FILE)["movie000"][:50])
    # The bank's safetensors metadata order is not byte-stable; its content must be.
    (ex_a, cast_a), (ex_b, cast_b) = _bank_content(a.out_dir / BANK_FILE), _bank_content(
        b.out_dir / BANK_FILE)
    assert cast_a == cast_b and ex_a.keys() == ex_b.keys()
    assert all(torch.equal(ex_a[k], ex_b[k]) for k in ex_a)


def test_an_identity_is_renamed_in_every_movie(world):
    _, record, _ = world
    names = defaultdict(list)  # identity -> short names, one per movie it appears in
    for movie in record["movies"].values():
        short = [m["short_name"] for m in movie["cast"]]
        assert len(set(short)) == len(short), "names within a movie must be distinct"
        for member in movie["cast"]:
            names[member["identity"]].append(member["short_name"])
    recurring = {i: n for i, n in names.items() if len(n) >= 2}
    assert len(recurring) >= 3
    pairs = [(x, y) for n in recurring.values() for i, x in enumerate(n) for y in n[i + 1:]]
    same = sum(x == y for x, y in pairs)
    assert same / len(pairs) < 0.25, f"{same} of {len(pairs)} re-castings kept the name"


def test_pronoun_follows_an_ad_about_the_same_character(world, events):
    _, record, truth = world
    all_events = [e for ann in events for e in ann.events]
    by_uid = {e.uid: e for e in all_events}
    pronouns = 0
    for event in all_events:
        t = truth[event.uid]
        first_word = event.text.split()[0]
        index = int(event.uid.rsplit("#", 1)[1])
        if index == 0:
            assert not t.uses_pronoun and not event.context
        # The context is the movie's earlier ADs, nearest first, as many as the world lists.
        earlier = [by_uid[f"{event.video_id}#{k}"].text for k in range(index - 1, -1, -1)]
        assert [c.text for c in event.context] == earlier[:record["parameters"]["context_events"]]
        if t.uses_pronoun:
            pronouns += 1
            assert first_word == {"female": "She", "male": "He"}[t.gender]
            previous = by_uid[f"{event.video_id}#{index - 1}"]
            assert truth[previous.uid].subject_id == t.subject_id
            assert event.context[0].text == previous.text  # the context is that AD
            assert not event.named
        else:
            assert first_word == t.subject_name
            if index > 0:
                assert truth[f"{event.video_id}#{index - 1}"].subject_id != t.subject_id
    assert 0.3 < pronouns / len(all_events) < 0.7


def test_frames_carry_the_subject_identity(world, events):
    summary, _, truth = world
    store = FeatureStore(summary.out_dir / FEATURES_FILE)
    bank = CharacterBank.load(summary.out_dir / BANK_FILE)
    hits = total = 0
    for event in (e for ann in events for e in ann.events):
        mean = torch.from_numpy(store.window(event.video_id, event.start, event.end).mean(0))
        cast = bank.cast(event.video_id)
        sims = [torch.cosine_similarity(mean, bank.exemplar(event.video_id, c.id)[0], dim=0)
                for c in cast]
        hits += cast[int(np.argmax(sims))].id == truth[event.uid].subject_id
        total += 1
    assert hits / total > 0.9
    # Gaps between ADs are noise: a gap frame is far from every exemplar.
    first = min((e for e in events[0].events if e.video_id == "movie000"), key=lambda e: e.start)
    gap = torch.from_numpy(store.window("movie000", 0.0, first.start - 0.4)).mean(0)
    assert max(torch.cosine_similarity(gap, bank.exemplar("movie000", c.id)[0], dim=0)
               for c in bank.cast("movie000")) < 0.5


def test_held_out_movies_are_disjoint_and_last(world, events):
    summary, record, _ = world
    train, evaluation = events
    train_ids = {e.video_id for e in train.events}
    eval_ids = {e.video_id for e in evaluation.events}
    assert not train_ids & eval_ids
    assert train_ids | eval_ids == set(record["movies"])
    assert sorted(eval_ids) == sorted(record["movies"])[-len(eval_ids):]
    assert len(eval_ids) == max(1, round(0.2 * SMALL["movies"])) == len(summary.eval_movies)
    assert all(record["movies"][m]["split"] == "eval" for m in eval_ids)


def test_files_load_through_the_real_readers(world, events):
    summary, record, truth = world
    train, evaluation = events
    assert (train.format, evaluation.format) == ("mad_train", "mad_eval")
    uids = [e.uid for ann in events for e in ann.events]
    assert sorted(uids) == sorted(truth)  # world.json truth is keyed like the readers' uids
    assert len(train.events) == summary.train_events
    for event in train.events:  # training records: the cast as candidates, the oracle list
        assert {c.id for c in event.candidates} == {
            m["id"] for m in record["movies"][event.video_id]["cast"]}
        assert event.named_candidates == event.named
    store = FeatureStore(summary.out_dir / FEATURES_FILE)
    bank = CharacterBank.load(summary.out_dir / BANK_FILE)
    # Eval records list the recognised characters: recompute recognition from the files
    # (cosine of the span's mean frame and each exemplar; float16 storage blurs the edge).
    threshold = record["parameters"]["refine_threshold"]
    kept_subject = 0
    for event in evaluation.events:
        frames = store.window(event.video_id, event.start, event.end)
        mean = torch.as_tensor(frames, dtype=torch.float32).mean(0)
        refined = {c.id for c in event.refined}
        for member in record["movies"][event.video_id]["cast"]:
            exemplar = bank.exemplar(event.video_id, member["id"])[0].float()
            score = float(torch.nn.functional.cosine_similarity(mean, exemplar, dim=0))
            assert score >= threshold - 0.02 if member["id"] in refined else score < threshold + 0.02
        kept_subject += truth[event.uid].subject_id in refined
    assert kept_subject >= 0.8 * len(evaluation.events)

    assert store.feature_shape == (SMALL["dim"],)
    for movie_id, movie in record["movies"].items():
        assert store.num_frames(movie_id) == movie["num_frames"]
        assert [c.short_name for c in bank.cast(movie_id)] == [
            m["short_name"] for m in movie["cast"]]
        for member in movie["cast"]:
            assert bank.exemplar(movie_id, member["id"]).shape == (1, SMALL["dim"])


def test_twenty_movie_world_builds_quickly(tmp_path):
    t0 = time.perf_counter()
    summary = make_world(tmp_path, movies=20, seed=0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 30  # generous bound for a shared CPU; it takes about a second
    assert 40 * 20 <= summary.events <= 80 * 20


def test_world_json_records_the_parameters(world):
    _, record, _ = world
    params = WorldParams(seed=3, **SMALL)
    assert record["seed"] == 3
    assert record["parameters"] == json.loads(json.dumps(
        {k: getattr(params, k) for k in record["parameters"]}))


def test_bad_parameters_and_foreign_folders_are_refused(tmp_path):
    with pytest.raises(DataError, match="eval_movies"):
        make_world(tmp_path / "w", movies=3, eval_movies=3)
    with pytest.raises(DataError, match="cast_max"):
        make_world(tmp_path / "w", movies=3, cast_max=40)
    with pytest.raises(DataError, match="world.json"):
        load_world_truth(tmp_path)


def _run_cli(*argv: str) -> int:
    """Run one of this module's subcommands through argparse, as `uniad` would."""
    import argparse

    from uniad.commands import synth

    parser = argparse.ArgumentParser(prog="uniad")
    subparsers = parser.add_subparsers(dest="command")
    synth.register(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


def test_synth_command(tmp_path, capsys):
    assert _run_cli("synth", "--out", str(tmp_path / "s"), "--movies", "3", "--dim", "8") == 0
    assert "2 training movies" in capsys.readouterr().out
    assert (tmp_path / "s" / WORLD_FILE).is_file()


def test_bank_and_previous_clip_suffice_to_name_and_to_choose_pronouns(world, events):
    """A hand-written reader that matches frames to exemplars names the subject, and by
    comparing with the previous clip's match decides name vs pronoun: the information
    the model needs is in the bank and the context, as the world promises."""
    from uniad.config import DataConfig
    from uniad.data.dataset import ADDataset

    summary, _, truth = world
    store = FeatureStore(summary.out_dir / FEATURES_FILE)
    bank = CharacterBank.load(summary.out_dir / BANK_FILE)
    everything = [e for ann in events for e in ann.events]
    dataset = ADDataset(everything, store, bank, DataConfig(character_source="recognised"),
                        training=False)

    def best_match(clip, sample):
        """The movie's cast member (from the bank) whose exemplar best matches the clip."""
        cast = bank.cast(sample.event.video_id)
        exemplars = torch.cat([bank.exemplar(sample.event.video_id, c.id) for c in cast])
        sims = torch.cosine_similarity(clip.float().mean(0, keepdim=True), exemplars.float())
        return cast[int(sims.argmax())]

    names = pronouns = 0
    for sample in dataset:
        t = truth[sample.sample_id]
        who = best_match(sample.video, sample)
        names += who.short_name == t.subject_name
        same = bool(sample.previous_videos) and best_match(sample.previous_videos[0], sample) == who
        pronouns += same == t.uses_pronoun
    assert names / len(dataset) > 0.9
    assert pronouns / len(dataset) > 0.85
