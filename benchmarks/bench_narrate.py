"""Narration throughput: video decoding and CLIP ViT-L/14 feature extraction.

Decoding: a generated H.264 video (FFmpeg ``testsrc2``, default 1280x720 at 25 fps) is
decoded with :func:`uniad.narrate.video.iter_frames` at the feature rate (5 fps), at full
size and downscaled during colour conversion (``size=224``, what the encoder needs).

Extraction: a randomly initialised CLIP vision tower shaped like ViT-L/14 (the MAD
encoder; weights do not change speed) encodes a handful of frames after one warm-up
batch. The figure that matters is the real-time factor: seconds of compute per second of
film at 5 fps (``5 / frames_per_second``).

On-screen text: Tesseract (:mod:`uniad.narrate.ocr`) reads a generated film with a title
card, a sign and burnt-in subtitles (``--ocr-size``) at 1 frame per second; the figure is
frames read per second (decoding included).

Describers: ``uniad narrate`` runs end to end on the 30 s sample film once per describer
kind, ``uniad`` (a tiny random UniAD checkpoint on random-CLIP features), ``vlm`` (a tiny
random LLaVA, :mod:`uniad.narrate.tiny_vlm`) and ``openai`` (a scripted server on
127.0.0.1, :mod:`uniad.narrate.openai_stub`), and reports the describe stage's seconds
per slot. Tiny models make this the pipeline's own cost per slot (frame seeking, prompt,
image encoding, HTTP); a real VLM adds its generation time on top.

Run from the repository root: ``python -m benchmarks.bench_narrate [--json OUT]``.
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
from uniad.narrate.sample_media import make_video
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
    p.add_argument("--ocr-size", default="1280x720", help="resolution of the OCR test film")
    p.add_argument("--describers", default="uniad,vlm,openai",
                   help="comma-separated describer kinds to time (uniad, vlm, openai)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p.parse_args(argv)


def time_decode(video: Path, fps: float, size: int | None) -> tuple[int, float]:
    start = time.perf_counter()
    count = sum(1 for _ in iter_frames(video, fps=fps, size=size, progress=False))
    return count, time.perf_counter() - start


def time_ocr(tmp: Path, size: str, seconds: float = 12.0) -> dict[str, float]:
    """Frames per second Tesseract reads on a film with a title, a sign and subtitles."""
    from uniad.narrate.ocr import TesseractOCR, scan_video
    from uniad.narrate.sample_media import Caption, make_text_video

    captions = [Caption(0, 4, "THE LAST TRAIN", "title"), Caption(5, 11, "EXIT", "sign"),
                Caption(6, 8, "Where were you?", "subtitle")]
    video = make_text_video(tmp / "ocr.mp4", seconds, captions, size=size)
    ocr = TesseractOCR("eng")
    start = time.perf_counter()
    frames = list(scan_video(video, ocr, fps=1.0, same_below=0.0))  # read every frame
    secs = time.perf_counter() - start
    log.info("OCR at %s: %d frames in %.2f s = %.2f frames/s", size, len(frames), secs,
             len(frames) / secs)
    return {"ocr_frames_per_s": round(len(frames) / secs, 2), "ocr_size": size}


def _tiny_uniad(tmp: Path):
    """A random tiny UniAD whose recorded encoder is a random CLIP narrate can rebuild."""
    import torch

    from uniad.config import load_config
    from uniad.model.uniad import UniAD
    from uniad.narrate.encoder import random_clip_name

    clip = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16)
    config = load_config("demo", overrides=["model.llm=tiny", "model.feature_dim=16",
                                            "model.num_latents=2",
                                            "generation.max_new_tokens=12"])
    config.model.visual_encoder = random_clip_name(**clip)
    torch.manual_seed(0)
    return UniAD.build(config)


def time_describer(tmp: Path, kind: str) -> float:
    """Seconds of the describe stage per described slot, narrating the 30 s sample film."""
    from uniad.narrate.openai_stub import StubChatServer
    from uniad.narrate.run import narrate
    from uniad.narrate.sample_media import make_sample_media
    from uniad.narrate.tiny_vlm import build_tiny_vlm

    media = make_sample_media(tmp / "film", duration=30.0)
    common = dict(subtitles=media.subtitles, cache_dir=tmp / "cache")
    out = tmp / f"out-{kind}"
    if kind == "uniad":
        result = narrate(media.video, media.cast, _tiny_uniad(tmp), out, **common)
    elif kind == "vlm":
        folder = build_tiny_vlm(tmp / "vlm")
        result = narrate(media.video, media.cast, None, out, describer=f"vlm:{folder}", **common)
    elif kind == "openai":
        with StubChatServer(["Anna opens the door."] * 100) as server:
            result = narrate(media.video, media.cast, None, out, describer=f"openai:{server.url}",
                             describer_model="stub", **common)
    else:
        raise SystemExit(f"unknown describer kind {kind!r} (uniad, vlm, openai)")
    per_slot = result.timings["describe"] / max(1, len(result.slots))
    log.info("describer %s: %d slots, %.3f s per slot", kind, len(result.slots), per_slot)
    return round(per_slot, 3)


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
    with tempfile.TemporaryDirectory() as tmp:
        results.update(time_ocr(Path(tmp), args.ocr_size))
        for kind in [k for k in args.describers.split(",") if k]:
            results[f"describe_{kind}_s_per_slot"] = time_describer(Path(tmp), kind)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
