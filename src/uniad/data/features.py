"""Video features in HDF5: a window reader that loads only the frames a sample needs.

Two on-disk layouts exist in the benchmarks (REFERENCE.md section 1):

- ``"timeline"`` (MAD): one dataset per movie, ``(N_frames, D)`` sampled at ``fps``; a
  sample's features are the frames inside its time span.
- ``"clip"`` (CMD-AD, TV-AD): one dataset per AD clip, keyed ``f"{key_name}_{start}_{end}"``,
  holding that clip's ``(T, 32, 768)`` Q-Former tokens; a sample's features are the whole
  dataset.

The release read ``h5[movie][:][s:e+1]``, i.e. the *whole movie* for every sample, and
opened the file before the DataLoader forked its workers. :class:`FeatureStore` slices the
dataset itself (HDF5 reads only the requested rows) and opens its handle lazily, once per
process, so one store object can be handed to worker processes.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm import tqdm

from uniad.errors import DataError, Problem
from uniad.io import atomic_path

LAYOUTS = ("timeline", "clip")
TIME_ROUNDINGS = ("exact", "release")
_EPS = 1e-6  # tolerance on time * fps so that 2.2 s at 5 fps is frame 11, not 10.999...
_SCAN_ROWS = 4096  # rows per chunk when scanning a dataset for NaN/Inf
_OPEN_DATASETS = 4096  # dataset objects kept per process (a lookup costs ~50 us)


def exact_frame_span(start: float, end: float, fps: float) -> tuple[int, int]:
    """Frames ``i`` with ``start <= i / fps <= end`` as an inclusive ``(first, last)``.

    A span shorter than one frame period may hold no frame; it then gets the single frame
    nearest its midpoint, so every valid span yields at least one frame.
    """
    first = math.ceil(start * fps - _EPS)
    last = math.floor(end * fps + _EPS)
    if first > last:
        first = last = round((start + end) / 2 * fps)
    return first, last


def release_frame_span(start: float, end: float, fps: float) -> tuple[int, int]:
    """The release's frame span (REFERENCE.md section 2): times rounded to whole seconds.

    ``s = round(start) * fps``, ``e = round(end) * fps``; when they coincide, the span widens
    to ``floor(start) * fps .. ceil(end) * fps``. Python's ``round`` (half to even) is used
    on purpose: it is what the release calls, so ``round(2.5) == 2`` here as there.
    """
    first, last = int(round(start) * fps), int(round(end) * fps)
    if first == last:
        first, last = int(math.floor(start) * fps), int(math.ceil(end) * fps)
    return first, last


_SPAN_FUNCTIONS = {"exact": exact_frame_span, "release": release_frame_span}


def clip_key(video_id: str, start: float, end: float) -> str:
    """The CMD-AD/TV-AD dataset name of a clip: ``f"{key_name}_{start}_{end}"``.

    The annotations hold integer seconds, but our records store floats; ``2.0`` must
    still find ``..._2_5``, so integral values are written without a decimal point.
    """

    def fmt(t: float) -> str:
        return str(int(t)) if float(t).is_integer() else str(t)

    return f"{video_id}_{fmt(start)}_{fmt(end)}"


def _attr_text(value: Any) -> Any:
    """HDF5 string attributes come back as ``bytes`` or numpy scalars; make them plain."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _open_h5(path: Path, mode: str = "r") -> h5py.File:
    """Open an HDF5 file, turning "missing" and "not HDF5" into a :class:`DataError`."""
    if mode == "r" and not path.is_file():
        raise DataError(path, "feature file not found")
    try:
        return h5py.File(path, mode)
    except OSError as err:
        raise DataError(path, f"cannot open as HDF5 ({err})") from err


def _check_layout(path: Path, layout: str) -> str:
    if layout not in LAYOUTS:
        raise DataError(path, f"layout must be one of {LAYOUTS}, got {layout!r}", field="layout")
    return layout


class FeatureStore:
    """Read feature windows from one HDF5 file, loading only the frames asked for.

    ``fps`` is the timeline's frame rate (MAD: 5). When the file records its own ``fps``
    attribute (files we write do) it must agree, because a wrong rate silently shifts
    every window. ``time_rounding`` is ``"exact"`` (frames whose time lies in the span) or
    ``"release"`` (the release's whole-second rounding, for reproducing its numbers).
    """

    def __init__(
        self,
        path: str | Path,
        fps: float = 5.0,
        layout: str = "auto",
        time_rounding: str = "exact",
    ) -> None:
        self.path = Path(path)
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise DataError(self.path, f"fps must be a positive number, got {fps!r}", field="fps")
        if time_rounding not in TIME_ROUNDINGS:
            raise DataError(
                self.path,
                f"time_rounding must be one of {TIME_ROUNDINGS}, got {time_rounding!r}",
                field="time_rounding",
            )
        self.fps = float(fps)
        self.time_rounding = time_rounding
        self._span = _SPAN_FUNCTIONS[time_rounding]
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._datasets: dict[str, h5py.Dataset | None] = {}  # by name; None = absent
        # Metadata is read with a short-lived handle so that no handle exists at fork time.
        with _open_h5(self.path) as f:
            self.attrs: dict[str, Any] = {k: _attr_text(v) for k, v in f.attrs.items()}
            first = next((f[k] for k in f if isinstance(f[k], h5py.Dataset)), None)
            self.feature_shape: tuple[int, ...] = () if first is None else tuple(first.shape[1:])
            guessed = "clip" if first is not None and first.ndim == 3 else "timeline"
        self.layout = self._resolve_layout(layout, guessed)
        file_fps = self.attrs.get("fps")
        if file_fps is not None and not math.isclose(float(file_fps), self.fps, rel_tol=1e-6):
            raise DataError(
                self.path,
                f"file was written at {file_fps} fps but the store was asked for {self.fps} fps;"
                f" set data.fps={file_fps}",
                field="fps",
            )

    def _resolve_layout(self, layout: str, guessed: str) -> str:
        """The file's own ``layout`` attribute wins over a guess; a contradiction is an error."""
        stored = self.attrs.get("layout")
        if stored is not None:
            _check_layout(self.path, stored)
            if layout not in ("auto", stored):
                raise DataError(
                    self.path,
                    f"file declares layout {stored!r} but {layout!r} was requested",
                    field="layout",
                )
            return stored
        return guessed if layout == "auto" else _check_layout(self.path, layout)

    # -- handle management: one handle per process ---------------------------------------

    def _h5(self) -> h5py.File:
        """The open file for *this* process; a forked worker opens its own."""
        pid = os.getpid()
        if self._file is None or self._pid != pid:
            # An inherited handle belongs to the parent; drop it rather than share it.
            self._file = _open_h5(self.path)
            self._pid = pid
            self._datasets = {}
        return self._file

    def close(self) -> None:
        """Close this process's handle (a later read re-opens it)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._pid = None
        self._datasets = {}

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # h5py handles cannot be pickled; the receiving process opens its own.
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        state["_datasets"] = {}
        return state

    # -- lookup ----------------------------------------------------------------------------

    def _get(self, name: str) -> h5py.Dataset | None:
        """The dataset called ``name`` (None if absent), kept open: looking a dataset up
        costs several times more than reading a 10 s window from it."""
        f = self._h5()  # first, so that a forked worker starts with an empty cache
        if name not in self._datasets:
            if len(self._datasets) >= _OPEN_DATASETS:
                self._datasets.clear()
            obj = f.get(name)
            self._datasets[name] = obj if isinstance(obj, h5py.Dataset) else None
        return self._datasets[name]

    def video_ids(self) -> list[str]:
        """Dataset names at the file's root (movie ids, or clip keys for the clip layout)."""
        f = self._h5()
        return [k for k in f if f.get(k, getclass=True) is h5py.Dataset]

    def has(self, video_id: str) -> bool:
        return self._get(video_id) is not None

    def num_frames(self, video_id: str) -> int:
        ds = self._get(video_id)
        if ds is None:
            raise DataError(self.path, f"no features for {video_id!r} in this file",
                            record=video_id, field="video_id")
        return int(ds.shape[0])

    # -- windows ---------------------------------------------------------------------------

    def window_problem(self, video_id: str, start: float, end: float,
                       frames: int | None = None) -> Problem | None:
        """Why :meth:`window` would fail for this span, or None; reads metadata only.

        The one window check (datasets, narration and ``data validate`` all use it): bad
        times, a missing clip or video, a zero-length dataset, non-float or wrongly shaped
        features, a span after the video's end. Datasets check hundreds of thousands of
        events up front with this, without reading a single frame; ``frames`` is the
        video's known length (timeline layout), to skip the lookup. NaN/Inf values need
        the frames themselves and are checked by :meth:`window` when it reads them.
        """
        file = str(self.path)
        for name, t in (("start", start), ("end", end)):
            if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t):
                return Problem(file, f"{name} time must be a finite number, got {t!r}",
                               video_id, name)
            if t < 0:
                return Problem(file, f"{name} time is negative ({t} s)", video_id, name)
        if end < start:
            return Problem(file, f"end ({end} s) is before start ({start} s)", video_id, "end")
        name = clip_key(video_id, start, end) if self.layout == "clip" else video_id
        if frames is None:
            ds = self._get(name)
            if ds is None:
                what = (f"no clip features under key {name!r}" if self.layout == "clip"
                        else f"no features for {video_id!r} in this file (not in the feature "
                             "store)")
                return Problem(file, what, video_id, "video_id")
            problem = self._dataset_problem(name, ds)
            if problem is not None:
                return problem
            frames = int(ds.shape[0])
        if self.layout == "timeline" and start * self.fps >= frames - _EPS:
            return Problem(file, f"span {start}-{end} s starts after the video ends ({frames} "
                           f"frames = {frames / self.fps:.3f} s at {self.fps:g} fps)", video_id,
                           "start")
        return None

    def check_width(self, expected: int, setting: str = "model.feature_dim") -> None:
        """The model's input width must be the store's feature width; said before a run."""
        width = self.feature_shape[-1] if self.feature_shape else None
        if width is not None and width != expected:
            raise DataError(self.path, f"the model expects features of width {expected} "
                            f"({setting}) but these have width {width}; use matching features, "
                            f"or a model built for them (--set {setting}={width} when "
                            "training)", field="shape")

    def _dataset_problem(self, name: str, ds: h5py.Dataset) -> Problem | None:
        """A dataset that can never give a window: no frames, not floats, another shape."""
        file = str(self.path)
        if ds.ndim < 2 or ds.shape[0] == 0:
            return Problem(file, f"dataset {name!r} holds no frames (shape {ds.shape}): a "
                           "zero-length clip", name, "frames[0:0]")
        if not np.issubdtype(ds.dtype, np.floating):
            return Problem(file, f"dataset {name!r} holds {ds.dtype} values, expected float "
                           "features (float16/float32)", name, "dtype")
        if tuple(ds.shape[1:]) != self.feature_shape:
            return Problem(file, f"dataset {name!r} has per-frame shape {tuple(ds.shape[1:])}, "
                           f"the store's first dataset {self.feature_shape}", name, "shape")
        return None

    def window(self, video_id: str, start: float, end: float) -> np.ndarray:
        """The features of ``video_id`` between ``start`` and ``end`` seconds, as float32.

        Timeline layout: the frames in the span, ``(T, *feature_shape)``, clipped to the
        video's end. Clip layout: the whole dataset of clip ``f"{video_id}_{start}_{end}"``.
        Raises :class:`DataError` for any :meth:`window_problem`, and for frames holding
        NaN or Inf (named by frame range): such a window is never given to a model.
        """
        problem = self.window_problem(video_id, start, end)
        if problem is not None:
            raise DataError(problem.file, problem.message, problem.record, problem.field)
        if self.layout == "clip":
            name = clip_key(video_id, start, end)
            ds = self._get(name)
            first, last = 0, ds.shape[0] - 1
        else:
            name, ds = video_id, self._get(video_id)
            first, last = self._span(start, end, self.fps)
            last = min(last, ds.shape[0] - 1)
            first = min(first, last)  # a span starting inside the last frame period keeps it
        # Slicing the dataset (not dataset[:]) makes HDF5 read only these rows.
        frames = np.asarray(ds[first:last + 1], dtype=np.float32)
        finite = np.isfinite(frames.reshape(frames.shape[0], -1)).all(axis=1)
        if not finite.all():
            bad = first + np.flatnonzero(~finite)
            raise DataError(self.path, f"{len(bad)} frame(s) of {name!r} in {start}-{end} s hold "
                            f"NaN or Inf values (frames {bad[0]}..{bad[-1]}); refused rather "
                            "than given to the model", video_id, f"frames[{bad[0]}:{bad[-1] + 1}]")
        return frames


class FeatureStoreWriter:
    """Write a feature store one video at a time (feature extraction appends as it goes).

    Root attributes ``fps``, ``layout`` and ``encoder`` record how the features were made,
    so a reader can refuse a store whose frame rate differs from its configuration.
    ``append=True`` re-opens an existing store (resuming an extraction) and checks that
    its attributes match.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        layout: str = "timeline",
        dtype: str = "float16",
        encoder: str | None = None,
        append: bool = False,
    ) -> None:
        self.path = Path(path)
        _check_layout(self.path, layout)
        if dtype not in ("float16", "float32"):
            raise DataError(self.path, f"dtype must be float16 or float32, got {dtype!r}",
                            field="dtype")
        self.dtype = np.dtype(dtype)
        self._file = _open_h5(self.path, "a" if append else "w")
        attrs = {"fps": float(fps), "layout": layout, "encoder": encoder or ""}
        if append and "layout" in self._file.attrs:
            for name, value in attrs.items():
                old = _attr_text(self._file.attrs.get(name))
                if old != value:
                    self._file.close()
                    raise DataError(self.path, f"existing store has {name}={old!r}, "
                                    f"cannot append with {name}={value!r}", field=name)
        self._file.attrs.update(attrs)

    def add(self, video_id: str, features: np.ndarray) -> None:
        """Store ``features`` (``(T, ...)``, finite floats) under ``video_id``."""
        arr = np.asarray(features)
        if not video_id or "/" in video_id:
            raise DataError(self.path, "video ids must be non-empty and contain no '/'",
                            record=video_id, field="video_id")
        if video_id in self._file:
            raise DataError(self.path, "video id already stored", record=video_id,
                            field="video_id")
        if arr.ndim < 2 or arr.shape[0] == 0:
            raise DataError(self.path, f"expected (T, ...) features with T > 0, got "
                            f"shape {arr.shape}", record=video_id)
        if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
            raise DataError(self.path, "features must be finite floats", record=video_id)
        self._file.create_dataset(video_id, data=arr.astype(self.dtype, copy=False))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FeatureStoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_feature_store(
    path: str | Path,
    features: Mapping[str, np.ndarray],
    fps: float,
    layout: str,
    dtype: str = "float16",
    encoder: str | None = None,
) -> Path:
    """Write a whole store at once (synthetic data, tests, conversions), atomically."""
    with atomic_path(path) as tmp, FeatureStoreWriter(tmp, fps, layout, dtype, encoder) as writer:
        for video_id, arr in features.items():
            writer.add(video_id, arr)
    return Path(path)


def _dataset_problems(file: str, name: str, ds: h5py.Dataset) -> list[Problem]:
    """Shape, dtype and NaN/Inf problems of one dataset, scanned a chunk of rows at a time."""
    if ds.ndim < 2:
        return [Problem(file, f"expected (frames, ...) features, got shape {ds.shape}", name)]
    if ds.shape[0] == 0:
        return [Problem(file, "dataset holds no frames", name)]
    if not np.issubdtype(ds.dtype, np.floating):
        return [Problem(file, f"expected float features, got {ds.dtype}", name)]
    bad_rows: list[int] = []
    for lo in range(0, ds.shape[0], _SCAN_ROWS):
        chunk = ds[lo:lo + _SCAN_ROWS]
        finite = np.isfinite(chunk.reshape(chunk.shape[0], -1)).all(axis=1)
        bad_rows.extend(lo + np.flatnonzero(~finite))
    if not bad_rows:
        return []
    return [Problem(file, f"{len(bad_rows)} frame(s) hold NaN or Inf values "
                    f"(first: frame {bad_rows[0]})", name, f"frames[{bad_rows[0]}]")]


def validate_feature_store(path: str | Path) -> list[Problem]:
    """Every problem found in a feature store, without raising (``uniad data validate``)."""
    file = str(path)
    try:
        f = _open_h5(Path(path))
    except DataError as err:
        return [err.problem]
    problems: list[Problem] = []
    with f:
        layout = _attr_text(f.attrs.get("layout", "timeline"))
        if layout not in LAYOUTS:
            problems.append(Problem(file, f"unknown layout attribute {layout!r}", field="layout"))
        frame_shapes: dict[tuple[int, ...], str] = {}
        for name in tqdm(list(f), desc="validate features", unit="video", disable=None):
            obj = f[name]
            if not isinstance(obj, h5py.Dataset):
                problems.append(Problem(file, "expected a dataset, found a group", name))
                continue
            found = _dataset_problems(file, name, obj)
            problems.extend(found)
            if not found:
                frame_shapes.setdefault(tuple(obj.shape[1:]), name)
        if len(frame_shapes) > 1:
            shapes = ", ".join(f"{s} (e.g. {n!r})" for s, n in frame_shapes.items())
            problems.append(Problem(file, f"datasets disagree on the per-frame shape: {shapes}"))
    return problems
