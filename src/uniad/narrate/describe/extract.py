"""Video frames to a feature store in the benchmark (MAD "timeline") layout, cached.

Extraction is the slow step of narration (a ViT-L/14 forward per frame), so its result is
cached under a key of the video's identity, the encoder and the frame rate: narrating the
same film again (another cast file, another checkpoint of the same encoder) reuses it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import h5py
import numpy as np

from uniad.data.features import write_feature_store
from uniad.errors import DataError, UniADError
from uniad.narrate.describe.encoder import VisualEncoder
from uniad.narrate.media.video import iter_frame_batches

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


def extract_features(
    video: str | Path,
    encoder: VisualEncoder,
    fps: float = 5.0,
    cache_dir: str | Path = ".uniad-cache",
    batch_size: int = 32,
) -> Path:
    """Encode ``video`` at ``fps`` into an HDF5 store (one dataset ``(N_frames, D)`` named
    :func:`video_id_for`, root attrs ``fps``, ``layout="timeline"``, ``encoder``); return
    its path. A store already in ``cache_dir`` for this video, encoder and fps is reused.
    """
    target = cache_path(video, encoder.name, fps, cache_dir)
    if target.is_file():
        log.info("feature cache hit: %s", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Frames stream through the encoder; only the (N, D) features are held (~110 MB for a
    # two-hour film at 5 fps and D = 768), then written in one go.
    chunks = [encoder.encode(images) for _, images in iter_frame_batches(video, fps, batch_size)]
    if not chunks:
        raise DataError(video, "no frames could be decoded")
    features = np.concatenate(chunks)
    log.info("encoded %d frames of %s with %s", len(features), video, encoder.name)
    # Written under a temporary name and renamed: an interrupted run never leaves a file
    # that a later run would take for a cache hit.
    partial = target.with_suffix(".partial.h5")
    write_feature_store(partial, {video_id_for(video): features}, fps=fps, layout="timeline",
                        dtype="float32", encoder=encoder.name)
    os.replace(partial, target)
    return target


def store_encoder(path: str | Path) -> tuple[str, int]:
    """The encoder name a store records and its feature width."""
    try:
        with h5py.File(path, "r") as f:
            name = f.attrs.get("encoder", "")
            name = name.decode() if isinstance(name, bytes) else str(name)
            widths = {f[k].shape[-1] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    except OSError as exc:
        raise DataError(path, f"not a readable HDF5 feature store ({exc})") from exc
    if len(widths) != 1:
        raise DataError(path, f"expected one feature width across videos, found {sorted(widths)}")
    return name, widths.pop()


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
