"""The video's features as the model reads them: encoded where read, and cached.

UniAD reads ``data.video_length`` frames of each slot and of the clip before it (linspace
sampling of the slot's frames at ``fps``), a few percent of a film's frames; encoding
every frame (a ViT-L/14 forward each, 25.6 s of CPU per second of film at 5 fps) was the
slowest step of narration. :class:`FrameFeatures` is a feature store whose windows are
lazy: only the rows a sample reads are decoded (by seeking, :func:`frames_at`) and
encoded, and each encoded row is kept in a cache file keyed by the video's identity, the
encoder and the frame rate, so narrating the same film again (another cast file, another
checkpoint of the same encoder, other settings) encodes only frames not read before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from uniad.data.features import exact_frame_span
from uniad.errors import DataError, UniADError
from uniad.narrate.describe.encoder import VisualEncoder
from uniad.narrate.media.frames import frames_at

log = logging.getLogger(__name__)

_MB = 1 << 20


def video_fingerprint(path: str | Path) -> str:
    """A cheap identity for a (possibly huge) video: hash of its first and last MB, size
    and modification time. Hashing the whole file would cost as much I/O as decoding it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    stat = path.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    with path.open("rb") as f:
        digest.update(f.read(_MB))
        if stat.st_size > _MB:
            f.seek(max(_MB, stat.st_size - _MB))
            digest.update(f.read(_MB))
    return digest.hexdigest()


def video_id_for(path: str | Path) -> str:
    """The store key of a video: its file name without extension, '/'-free."""
    return re.sub(r"[/\\]", "_", Path(path).stem) or "video"


def cache_path(video: str | Path, encoder_name: str, fps: float, cache_dir: str | Path) -> Path:
    key = hashlib.sha256(f"{video_fingerprint(video)}|{encoder_name}|{fps:g}".encode())
    return Path(cache_dir) / f"{video_id_for(video)}-{key.hexdigest()[:16]}.h5"


class FrameRows:
    """Rows ``first .. first + length - 1`` of a :class:`FrameFeatures`, read when indexed
    (what frame sampling does); ``np.asarray`` reads them all."""

    def __init__(self, features: FrameFeatures, first: int, length: int) -> None:
        self.features, self.first, self.length = features, first, length
        self.dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.length, self.features.dim)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> np.ndarray:
        rows = np.arange(self.first, self.first + self.length)[index]
        return self.features.rows(np.atleast_1d(rows)).reshape(*np.shape(rows), -1)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self[:].astype(dtype or np.float32, copy=False)


class FrameFeatures:
    """A feature store for one video at ``fps`` (MAD timeline: row k is time ``k / fps``,
    the frame :func:`~uniad.narrate.media.video.iter_frames` gives there), whose rows are
    decoded and encoded the first time a window sample reads them and kept in the cache
    file (:func:`cache_path`). ``encoded_now`` counts the frames this run had to encode."""

    def __init__(self, video: str | Path, encoder: VisualEncoder, fps: float, duration: float,
                 cache_dir: str | Path) -> None:
        self.video, self.encoder, self.fps = Path(video), encoder, float(fps)
        self.video_id = video_id_for(video)
        self.dim = encoder.feature_dim
        self.frames = max(1, math.ceil(duration * self.fps - 1e-6))
        self.path = cache_path(video, encoder.name, fps, cache_dir)
        self.encoded_now = 0
        self._file = self._open()

    def _open(self) -> h5py.File:
        """The cache file, created when absent; one a crash left unreadable is a cache and
        is started again."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            f = h5py.File(self.path, "a")
            if "features" not in f:
                f.create_dataset("features", (self.frames, self.dim), dtype="float32")
                f.create_dataset("encoded", (self.frames,), dtype=bool)
                f.attrs.update(encoder=self.encoder.name, fps=self.fps, layout="timeline-lazy")
            if f["features"].shape != (self.frames, self.dim):
                raise OSError(f"shape {f['features'].shape}, expected {(self.frames, self.dim)}")
            return f
        except OSError as exc:
            log.warning("feature cache %s unreadable (%s): starting it again", self.path, exc)
            with contextlib.suppress(NameError, OSError):
                f.close()
            self.path.unlink(missing_ok=True)
            return self._open()

    @property
    def cached(self) -> int:
        """Frames encoded so far (by any run)."""
        return int(np.count_nonzero(self._file["encoded"][:]))

    def window(self, video_id: str, start: float, end: float) -> FrameRows:
        """The frames of ``start .. end`` (:func:`exact_frame_span`), read lazily."""
        if video_id != self.video_id:
            raise DataError(self.video, f"no features for {video_id!r} (this store holds "
                                        f"{self.video_id!r})", field="video_id")
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
            raise DataError(self.video, f"bad span {start}-{end} s", video_id, "start")
        first, last = exact_frame_span(start, end, self.fps)
        last = min(last, self.frames - 1)
        first = min(first, last)
        return FrameRows(self, first, last - first + 1)

    def rows(self, indices: np.ndarray) -> np.ndarray:
        """Rows ``indices`` as float32, encoding those not cached yet (one decode, in time
        order, one encoder batch)."""
        encoded = self._file["encoded"]
        wanted = sorted({int(i) for i in indices})
        missing = [i for i in wanted if not encoded[i]]
        if missing:
            images = frames_at(self.video, [i / self.fps for i in missing])
            features = np.asarray(self.encoder.encode(images), dtype=np.float32)
            for i, row in zip(missing, features):
                self._file["features"][i] = row
            self._file.flush()  # rows before their marks: a crash leaves them re-encoded
            for i in missing:
                encoded[i] = True
            self._file.flush()
            self.encoded_now += len(missing)
        table = self._file["features"]
        return np.stack([table[int(i)] for i in indices]).astype(np.float32, copy=False)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()


def check_encoder(
    found_name: str, found_dim: int, expected_name: str | None, expected_dim: int, source: str
) -> None:
    """Refuse features that a checkpoint was not trained on.

    The width must match; the name is compared when both sides record one (benchmark
    stores record none). ``source`` names what the features come from in the message.
    """
    if found_dim != expected_dim or (expected_name and found_name and found_name != expected_name):
        raise UniADError(
            f"{source}: features are from encoder {found_name or '(unrecorded)'!r} with width "
            f"{found_dim}, but the checkpoint was trained on {expected_name or '(unrecorded)'!r} "
            f"with width {expected_dim}; pass the encoder the checkpoint was trained with"
        )
