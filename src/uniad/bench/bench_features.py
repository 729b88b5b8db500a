"""Feature loading: ``FeatureStore.window`` against the release's whole-movie read.

The release fetched a sample's frames with ``h5[movie][:][s:e+1]``: the ``[:]`` reads the
whole movie (tens of MB for a feature-length film) to keep ~50 rows. This benchmark
writes a temporary store shaped like MAD (CLIP ViT-L/14, 768-d, 5 fps, float16), draws
random windows, and times both ways on the same windows in one run; both use the
release's frame rounding so they return identical arrays (checked). Peak memory is the
``tracemalloc`` peak while reading (numpy buffers are traced), measured on separate passes
so tracing does not slow the timed ones.

Run as ``uniad bench features`` or ``python -m uniad.bench.bench_features [--json OUT]``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from uniad.data.features import FeatureStore, FeatureStoreWriter, release_frame_span
from uniad.io import write_json

log = logging.getLogger("bench_features")

Window = tuple[str, float, float]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_features", description=__doc__.split("\n\n")[0])
    p.add_argument("--movies", type=int, default=60, help="movies in the store (default 60)")
    p.add_argument("--min-minutes", type=float, default=30.0)
    p.add_argument("--max-minutes", type=float, default=90.0)
    p.add_argument("--fps", type=float, default=5.0)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--window-seconds", type=float, default=10.0)
    p.add_argument("--windows", type=int, default=5000, help="windows read by FeatureStore")
    p.add_argument("--release-windows", type=int, default=100,
                   help="windows read the release's way (each reads a whole movie)")
    p.add_argument("--memory-windows", type=int, default=20,
                   help="windows per method in the traced (memory) pass")
    p.add_argument("--rounds", type=int, default=5,
                   help="interleaved timing rounds; the median rate is reported, so that load "
                        "from other processes hits both methods alike")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", type=Path, default=None,
                   help="where to write the store (default: a temporary folder, removed after)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p.parse_args(argv)


def build_store(path: Path, args: argparse.Namespace, rng: np.random.Generator) -> dict[str, int]:
    """Write the MAD-shaped store; returns frames per movie.

    Frames are a random block tiled to length: feature values do not affect read speed
    (no compression), and generating 1 GB of fresh noise would dominate the setup time.
    """
    block = rng.standard_normal((4096, args.dim)).astype(np.float16)
    frames: dict[str, int] = {}
    with FeatureStoreWriter(path, fps=args.fps, layout="timeline", dtype="float16",
                            encoder="benchmark-noise") as writer:
        for i in tqdm(range(args.movies), desc="write store", unit="movie"):
            minutes = rng.uniform(args.min_minutes, args.max_minutes)
            n = int(minutes * 60 * args.fps)
            movie_id = f"movie_{i:04d}"
            writer.add(movie_id, np.resize(block, (n, args.dim)))
            frames[movie_id] = n
    return frames


def random_windows(frames: dict[str, int], count: int, args: argparse.Namespace,
                   rng: np.random.Generator) -> list[Window]:
    ids = list(frames)
    out = []
    for _ in range(count):
        movie = ids[rng.integers(len(ids))]
        duration = frames[movie] / args.fps
        start = float(rng.uniform(0, duration - args.window_seconds - 1))
        out.append((movie, start, start + args.window_seconds))
    return out


def release_reader(path: Path, fps: float) -> tuple[Callable[[Window], np.ndarray], h5py.File]:
    """The release's access pattern: ``h5[movie][:][s:e+1]`` (whole movie, then slice)."""
    f = h5py.File(path, "r")

    def read(w: Window) -> np.ndarray:
        first, last = release_frame_span(w[1], w[2], fps)
        return np.asarray(f[w[0]][:][first:last + 1], dtype=np.float32)

    return read, f


def rates(readers: dict[str, tuple[Callable[[Window], np.ndarray], list[Window]]],
          rounds: int) -> dict[str, list[float]]:
    """Windows per second of each reader in each round, the readers taking turns."""
    out: dict[str, list[float]] = {name: [] for name in readers}
    for r in range(rounds):
        for name, (read, windows) in readers.items():
            part = windows[r::rounds]
            t0 = time.perf_counter()
            for w in part:
                read(w)
            out[name].append(len(part) / (time.perf_counter() - t0))
    return out


def traced_peak(read: Callable[[Window], np.ndarray], windows: list[Window]) -> int:
    """Peak bytes allocated while reading ``windows`` (tracemalloc traces numpy buffers)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    for w in windows:
        read(w)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def _mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


def run(args: argparse.Namespace, workdir: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    path = workdir / "bench_features.h5"
    t0 = time.perf_counter()
    frames = build_store(path, args, rng)
    write_s = time.perf_counter() - t0
    windows = random_windows(frames, args.windows, args, rng)
    release_windows = windows[: args.release_windows]
    memory_windows = windows[: args.memory_windows]

    store = FeatureStore(path, fps=args.fps, time_rounding="release")
    release_read, release_file = release_reader(path, args.fps)
    try:
        for w in release_windows[:10]:  # same frames both ways, so the ratio is fair
            np.testing.assert_array_equal(store.window(*w), release_read(w))
        measured = rates({"ours": (lambda w: store.window(*w), windows),
                          "release": (release_read, release_windows)}, args.rounds)
        ours_peak = traced_peak(lambda w: store.window(*w), memory_windows)
        release_peak = traced_peak(release_read, memory_windows)
    finally:
        store.close()
        release_file.close()

    ours_rate = float(np.median(measured["ours"]))
    release_rate = float(np.median(measured["release"]))
    total_frames = sum(frames.values())
    return {
        "store": {
            "movies": args.movies, "frames": total_frames, "dim": args.dim, "fps": args.fps,
            "hours": total_frames / args.fps / 3600, "dtype": "float16",
            "size_bytes": path.stat().st_size, "write_seconds": write_s,
            "mean_movie_bytes": total_frames * args.dim * 2 / args.movies,
        },
        "window_seconds": args.window_seconds,
        "rounds": args.rounds,
        "feature_store": {"windows": len(windows), "windows_per_second": ours_rate,
                          "round_rates": measured["ours"], "peak_bytes": ours_peak},
        "release_whole_movie": {"windows": len(release_windows),
                                "windows_per_second": release_rate,
                                "round_rates": measured["release"], "peak_bytes": release_peak},
        "speedup": ours_rate / release_rate,
        "peak_memory_ratio": release_peak / max(ours_peak, 1),
        "memory_windows": len(memory_windows),
        "platform": {"python": platform.python_version(), "h5py": h5py.__version__,
                     "hdf5": h5py.version.hdf5_version, "machine": platform.machine()},
        "note": "store freshly written, so both methods read from the OS page cache",
    }


def print_table(r: dict) -> None:
    s = r["store"]
    print(f"\nstore: {s['movies']} movies, {s['hours']:.1f} h, {s['frames']:,} frames x "
          f"{s['dim']} float16 = {_mb(s['size_bytes'])} on disk "
          f"(written in {s['write_seconds']:.1f} s); mean movie {_mb(s['mean_movie_bytes'])}")
    print(f"random {r['window_seconds']:g} s windows at {s['fps']:g} fps\n")
    print(f"| {'method':<32} | {'windows':>7} | {'windows/s':>10} | {'peak memory':>12} |")
    print(f"|{'-' * 34}|{'-' * 9}|{'-' * 12}|{'-' * 14}|")
    for name, key in (("FeatureStore.window (slice)", "feature_store"),
                      ("release: h5[movie][:][s:e+1]", "release_whole_movie")):
        m = r[key]
        print(f"| {name:<32} | {m['windows']:>7} | {m['windows_per_second']:>10,.1f} | "
              f"{_mb(m['peak_bytes']):>12} |")
    print(f"\nspeed ratio (same run, median of {r['rounds']} interleaved rounds): "
          f"{r['speedup']:,.0f}x faster; peak memory "
          f"{r['peak_memory_ratio']:,.0f}x smaller ({r['memory_windows']} windows traced)")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if args.max_minutes < args.min_minutes or args.min_minutes * 60 <= args.window_seconds + 1:
        raise SystemExit("need max-minutes >= min-minutes and movies longer than a window")
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        result = run(args, args.dir)
    else:
        with tempfile.TemporaryDirectory(prefix="uniad-bench-") as tmp:
            result = run(args, Path(tmp))
    print_table(result)
    if args.json is not None:
        write_json(args.json, result)
        log.info("figures written to %s", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
