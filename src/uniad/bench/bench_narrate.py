"""Narration throughput: video decoding and CLIP ViT-L/14 feature extraction.

Decoding: a generated H.264 video (FFmpeg ``testsrc2``, default 1280x720 at 25 fps) is
decoded with :func:`uniad.narrate.video.iter_frames` at the feature rate (5 fps), at full
size and downscaled during colour conversion (``size=224``, what the encoder needs).

Extraction: a randomly initialised CLIP vision tower shaped like ViT-L/14 (the MAD
encoder; weights do not change speed) encodes a handful of frames after one warm-up
batch. The figure that matters is the real-time factor: seconds of compute per second of
film at 5 fps (``5 / frames_per_second``).

Run as ``uniad bench narrate`` or ``python -m uniad.bench.bench_narrate [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from uniad.narrate.encoder import VIT_L14, random_clip_encoder
from uniad.world.sample_media import make_video
from uniad.narrate.video import iter_frames

log = logging.getLogger("bench_narrate")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_narrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the test video")
    p.add_argument("--size", default="1280x720", help="test video resolution")
    p.add_argument("--fps", type=float, default=5.0, help="feature frame rate")
    p.add_argument("--frames", type=int, default=8, help="frames encoded in the timed pass")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu", help="torch device for the encoder (cpu, cuda)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p.parse_args(argv)


def time_decode(video: Path, fps: float, size: int | None) -> tuple[int, float]:
    start = time.perf_counter()
    count = sum(1 for _ in iter_frames(video, fps=fps, size=size, progress=False))
    return count, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results: dict[str, object] = {
        "machine": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "device": args.device,
    }
    with tempfile.TemporaryDirectory() as tmp:
        video = make_video(Path(tmp) / "bench.mp4", args.seconds, audio=False, size=args.size,
                           pattern="testsrc2", preset="veryfast")
        for label, size in (("full", None), ("224", 224)):
            n, secs = time_decode(video, args.fps, size)
            results[f"decode_{label}_frames_per_s"] = round(n / secs, 1)
            results[f"decode_{label}_x_realtime"] = round(args.seconds / secs, 1)
            log.info("decode (%s px) at %g fps: %d frames in %.2f s = %.1f frames/s, "
                     "%.1fx real time", label, args.fps, n, secs, n / secs, args.seconds / secs)
        images = [img for _, img in iter_frames(video, fps=args.fps, size=224, progress=False)]
    images = (images * (args.frames // max(1, len(images)) + 1))[: args.frames]

    encoder = random_clip_encoder(name="clip:random-vit-l14:768", **VIT_L14)
    encoder.batch_size = args.batch_size
    encoder.model.to(args.device)
    encoder.device = args.device
    encoder.encode(images[: args.batch_size])  # warm-up: allocations, kernels
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    feats = encoder.encode(images)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    secs = time.perf_counter() - start
    rate = len(images) / secs
    results.update({
        "encode_frames": len(images),
        "encode_feature_dim": int(feats.shape[1]),
        "encode_frames_per_s": round(rate, 2),
        "encode_seconds_per_film_second": round(args.fps / rate, 2),
    })
    log.info("ViT-L/14 encode on %s: %d frames in %.2f s = %.2f frames/s; %.2f s of compute "
             "per second of film at %g fps", args.device, len(images), secs, rate,
             args.fps / rate, args.fps)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
