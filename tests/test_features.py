"""FeatureStore: windows equal the stored frames, errors name the problem, reads stay small."""

from __future__ import annotations

import json
import multiprocessing
import pickle

import h5py
import numpy as np
import pytest

from uniad.data import features as features_mod
from uniad.data.features import (
    FeatureStore,
    FeatureStoreWriter,
    release_frame_span,
    validate_feature_store,
    write_feature_store,
)
from uniad.errors import DataError

FPS = 5.0
N_FRAMES = 50  # a 10 s movie at 5 fps


@pytest.fixture()
def movie() -> np.ndarray:
    # Distinct rows (row i starts with i) so a window shifted by one frame cannot match.
    return (np.arange(N_FRAMES * 4, dtype=np.float32).reshape(N_FRAMES, 4)) / 4


@pytest.fixture()
def store_path(tmp_path, movie):
    path = tmp_path / "mad.h5"
    write_feature_store(path, {"m1": movie, "m2": movie[:10] + 1000}, fps=FPS,
                        layout="timeline", dtype="float32", encoder="clip-vit-l14")
    return path


@pytest.mark.parametrize(
    ("start", "end", "first", "last"),
    [
        (2.0, 4.0, 10, 20),    # interior, on frame times
        (1.1, 2.3, 6, 11),     # interior, between frame times: ceil(5.5)..floor(11.5)
        (0.0, 0.0, 0, 0),      # first frame, zero-length span
        (9.8, 9.8, 49, 49),    # last frame
        (9.0, 20.0, 45, 49),   # runs past the end: clipped
        (1.01, 1.1, 5, 5),     # shorter than a frame period: nearest frame to the midpoint
        (9.9, 9.95, 49, 49),   # inside the last frame period: the last frame
    ],
)
def test_exact_window_is_the_stored_slice(store_path, movie, start, end, first, last):
    with FeatureStore(store_path, fps=FPS) as store:
        got = store.window("m1", start, end)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, movie[first:last + 1])


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (10.0, 12.0, "start", "after the video ends"),
        (-0.5, 2.0, "start", "negative"),
        (3.0, 2.0, "end", "before start"),
        (1.0, float("nan"), "end", "finite"),
    ],
)
def test_bad_spans_raise_data_error(store_path, start, end, field, words):
    store = FeatureStore(store_path, fps=FPS)
    with pytest.raises(DataError) as info:
        store.window("m1", start, end)
    assert info.value.problem.record == "m1"
    assert info.value.problem.field == field
    assert words in str(info.value) and str(store_path) in str(info.value)


def test_unknown_video_raises_data_error(store_path):
    store = FeatureStore(store_path, fps=FPS)
    with pytest.raises(DataError, match="no features for 'nope'") as info:
        store.window("nope", 0.0, 1.0)
    assert info.value.problem.record == "nope"
    assert store.window_problem("nope", 0.0, 1.0) == info.value.problem
    with pytest.raises(DataError, match="no features for 'nope'"):
        store.num_frames("nope")


def test_window_problem_reads_no_frames(store_path, monkeypatch):
    store = FeatureStore(store_path, fps=FPS)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda *a: pytest.fail("read frames"))
    assert store.window_problem("m1", 9.0, 20.0) is None
    assert "after the video ends" in store.window_problem("m2", 2.0, 3.0).message


def test_store_metadata(store_path):
    store = FeatureStore(store_path, fps=FPS)
    assert store.layout == "timeline"
    assert sorted(store.video_ids()) == ["m1", "m2"]
    assert store.has("m2") and not store.has("m3")
    assert store.num_frames("m2") == 10
    assert store.feature_shape == (4,)
    assert store.attrs["encoder"] == "clip-vit-l14"


def test_fps_disagreeing_with_the_file_is_refused(store_path):
    with pytest.raises(DataError, match="set data.fps=5.0"):
        FeatureStore(store_path, fps=2.0)


def test_release_rounding_hand_checked():
    # round() is half-to-even as in the release: round(2.5) == 2, round(3.5) == 4.
    assert release_frame_span(2.5, 4.4, 5) == (10, 20)
    assert release_frame_span(3.5, 5.6, 5) == (20, 30)
    assert release_frame_span(0.4, 0.6, 5) == (0, 5)
    # round(1.2) == round(1.4) == 1: widened to floor(1.2)*5 .. ceil(1.4)*5.
    assert release_frame_span(1.2, 1.4, 5) == (5, 10)
    assert release_frame_span(3.0, 3.0, 5) == (15, 15)


def test_release_mode_window(store_path, movie):
    store = FeatureStore(store_path, fps=FPS, time_rounding="release")
    np.testing.assert_array_equal(store.window("m1", 1.2, 1.4), movie[5:11])
    np.testing.assert_array_equal(store.window("m1", 2.5, 4.4), movie[10:21])
    # exact mode differs on the same span: frames 13..22 (2.6 s .. 4.4 s)
    exact = FeatureStore(store_path, fps=FPS).window("m1", 2.5, 4.4)
    np.testing.assert_array_equal(exact, movie[13:23])


def test_clip_layout_returns_the_keyed_dataset(tmp_path):
    rng = np.random.default_rng(0)
    clip = rng.standard_normal((3, 32, 8)).astype(np.float16)
    other = rng.standard_normal((5, 32, 8)).astype(np.float16)
    path = tmp_path / "tv.h5"
    # Raw h5py without a layout attribute, like the release's files: layout is guessed.
    with h5py.File(path, "w") as f:
        f["friends_s01e01_seg02_clip_04_2_5"] = clip
        f["friends_s01e01_seg02_clip_04_5_9"] = other
    store = FeatureStore(path)
    assert store.layout == "clip" and store.feature_shape == (32, 8)
    got = store.window("friends_s01e01_seg02_clip_04", 2.0, 5.0)  # floats find "_2_5"
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, clip.astype(np.float32))
    with pytest.raises(DataError, match="friends_s01e01_seg02_clip_04_1_5"):
        store.window("friends_s01e01_seg02_clip_04", 1, 5)


def test_float16_store_returns_float32(tmp_path, movie):
    path = tmp_path / "half.h5"
    write_feature_store(path, {"m": movie}, fps=FPS, layout="timeline", dtype="float16")
    with h5py.File(path) as f:
        assert f["m"].dtype == np.float16
    got = FeatureStore(path).window("m", 1.0, 2.0)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, movie[5:11].astype(np.float16).astype(np.float32))


def test_layout_contradicting_the_file_is_refused(store_path):
    with pytest.raises(DataError, match="declares layout 'timeline'"):
        FeatureStore(store_path, layout="clip")


def test_only_the_window_is_read(store_path, monkeypatch):
    """The release read dataset[:] per sample; every read here must be a bounded slice."""
    calls = []
    original = h5py.Dataset.__getitem__

    def spy(self, args, *rest, **kw):
        calls.append(args)
        return original(self, args, *rest, **kw)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    FeatureStore(store_path, fps=FPS).window("m1", 2.0, 4.0)
    assert calls == [slice(10, 21)]


def test_pickled_store_reads_in_a_new_process_state(store_path, movie):
    store = FeatureStore(store_path, fps=FPS)
    store.window("m1", 0.0, 1.0)  # the parent now holds an open handle
    clone = pickle.loads(pickle.dumps(store))  # unsafe-ok: our own object, as DataLoader hands it to workers
    assert clone._file is None  # the handle did not travel
    np.testing.assert_array_equal(clone.window("m1", 1.0, 2.0), movie[5:11])
    store.close()
    clone.close()


def _read_in_child(store: FeatureStore, out_path: str) -> None:
    np.save(out_path, store.window("m1", 3.0, 4.0))


def test_store_opened_before_fork_works_in_the_child(store_path, movie, tmp_path):
    store = FeatureStore(store_path, fps=FPS)
    store.window("m1", 0.0, 1.0)  # handle opened before the fork, as a DataLoader would
    parent_handle = store._file
    out = tmp_path / "child.npy"
    child = multiprocessing.get_context("fork").Process(target=_read_in_child,
                                                        args=(store, str(out)))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    np.testing.assert_array_equal(np.load(out), movie[15:21])
    # the parent's handle is untouched and still reads
    assert store._file is parent_handle
    np.testing.assert_array_equal(store.window("m1", 0.0, 0.2), movie[0:2])


def test_writer_records_attributes_and_appends(tmp_path, movie):
    path = tmp_path / "out.h5"
    with FeatureStoreWriter(path, fps=2.0, layout="timeline", encoder="enc") as w:
        w.add("a", movie[:4])
        with pytest.raises(DataError, match="already stored"):
            w.add("a", movie[:4])
        with pytest.raises(DataError, match="finite"):
            w.add("nan", np.full((2, 4), np.nan, dtype=np.float32))
        with pytest.raises(DataError, match="no '/'"):
            w.add("x/y", movie[:4])
    with FeatureStoreWriter(path, fps=2.0, layout="timeline", encoder="enc", append=True) as w:
        w.add("b", movie[4:8])
    with pytest.raises(DataError, match="fps"):
        FeatureStoreWriter(path, fps=5.0, layout="timeline", encoder="enc", append=True)
    store = FeatureStore(path, fps=2.0)
    assert store.attrs == {"fps": 2.0, "layout": "timeline", "encoder": "enc"}
    # frames 0..3 of "b" are times 0, 0.5, 1.0, 1.5 s at 2 fps
    np.testing.assert_allclose(store.window("b", 0.5, 1.0), movie[5:7], rtol=1e-3)


def test_validate_reports_each_problem(tmp_path, movie, monkeypatch):
    monkeypatch.setattr(features_mod, "_SCAN_ROWS", 3)  # NaN rows fall in later chunks
    bad = movie.copy()
    bad[7, 2] = np.nan
    bad[11, 0] = np.inf
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["good"] = movie
        f["bad"] = bad
        f["empty"] = np.zeros((0, 4), dtype=np.float32)
        f["flat"] = np.zeros(4, dtype=np.float32)
        f["wide"] = np.zeros((3, 5), dtype=np.float32)
    problems = {(p.record, p.field): p.message for p in validate_feature_store(path)}
    assert "2 frame(s)" in problems[("bad", "frames[7]")]
    assert "no frames" in problems[("empty", None)]
    assert "shape (4,)" in problems[("flat", None)]
    assert "per-frame shape" in problems[(None, None)]
    assert len(problems) == 4


def test_validate_clean_and_unreadable(store_path, tmp_path):
    assert validate_feature_store(store_path) == []
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    [problem] = validate_feature_store(junk)
    assert "cannot open as HDF5" in problem.message
    [missing] = validate_feature_store(tmp_path / "absent.h5")
    assert "not found" in missing.message


def test_benchmark_reads_whole_movies_the_release_way(tmp_path):
    """A tiny benchmark run: the release's way must allocate a whole movie, ours a window."""
    from uniad.bench import bench_features as bench
    out = tmp_path / "figures.json"
    assert bench.main(["--movies", "2", "--min-minutes", "4", "--max-minutes", "5",
                       "--dim", "64", "--windows", "40", "--release-windows", "4",
                       "--memory-windows", "2", "--rounds", "2", "--dir", str(tmp_path),
                       "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    smallest_movie = 4 * 60 * FPS * 64 * 2  # 4 minutes at 5 fps, 64-d float16
    assert figures["release_whole_movie"]["peak_bytes"] >= smallest_movie
    assert figures["feature_store"]["peak_bytes"] < smallest_movie / 4
    assert figures["feature_store"]["windows"] == 40
    assert figures["speedup"] > 0
