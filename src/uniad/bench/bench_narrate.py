"""Narration: the deliverables on a generated 10-minute film, and feature throughput.

Deliverables (``--part deliverables``): a film of ``--film-minutes`` (10) with espeak-ng
dialogue at random known times and shot cuts, narrated with a stub describer (AD
sentences of 4 to 24 words, cycled; no model, so the figures are the pipeline's) and the
default voice (Piper): the REFRAMED realistic-rule pass rate (must be 100 %), mean and
max words per minute, overflow and extended counts, fit statuses, and seconds per stage
(film generation, voice activity, shot cuts, describe + speech fitting, deliverables).
The written track is then scored with REFRAMED's timed metrics (``timed``: gap CIDEr /
METEOR, SODA-M / SODA-T, raw and realistic, x100; needs Java) against the film's known
events: one per true dialogue gap of at least ``min_gap`` seconds, saying the sentence the
stub describer is scripted to say at that turn, so the scores measure how well the
pipeline (voice activity, gap finding, planning, fitting) places what it was told.

Decoding: a generated H.264 video (FFmpeg ``testsrc2``, default 1280x720 at 25 fps) is
decoded with :func:`uniad.narrate.media.video.iter_frames` at the feature rate (5 fps), at full
size and downscaled during colour conversion (``size=224``, what the encoder needs).

Extraction: a randomly initialised CLIP vision tower shaped like ViT-L/14 (the MAD
encoder; weights do not change speed) encodes a handful of frames after one warm-up
batch. The figure that matters is the real-time factor: seconds of compute per second of
film at 5 fps (``5 / frames_per_second``).

Features (``--part features``) measure the slow step of a real narration:

Describers (``--part describers``): Tesseract (:mod:`uniad.narrate.media.ocr`) reads a
generated film with a title card, a sign and burnt-in subtitles (``--ocr-size``) at 1 frame
per second (figure: frames read per second, decoding included); then ``uniad narrate``
runs end to end on the 30 s sample film once per describer kind, ``uniad`` (a tiny random
UniAD checkpoint on random-CLIP features), ``vlm`` (a tiny random LLaVA,
:mod:`uniad.testing.tiny_vlm`) and ``openai`` (a scripted server on 127.0.0.1,
:mod:`uniad.testing.openai_stub`), and reports the describe stage's seconds per slot. Tiny
models make this the pipeline's own cost per slot (frame seeking, prompt, image encoding,
HTTP); a real VLM adds its generation time on top.

Run as ``uniad bench narrate [--part P] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from uniad.io import write_json
from uniad.narrate.describe.encoder import VIT_L14, random_clip_encoder
from uniad.narrate.media.video import iter_frames
from uniad.world.sample_media import SampleMedia, make_video

log = logging.getLogger("bench_narrate")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_narrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=("all", "deliverables", "features", "describers"),
                   default="all")
    p.add_argument("--film-minutes", type=float, default=10.0,
                   help="length of the narrated film (deliverables)")
    p.add_argument("--voice", choices=("piper", "espeak"), default="piper")
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


def bench_features(args: argparse.Namespace, results: dict[str, object]) -> None:
    """Decoding at the feature rate and a ViT-L/14-shaped CLIP tower's encoding speed."""
    import torch

    results.update(torch_threads=torch.get_num_threads(), device=args.device)
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


# AD sentences of 4 to 24 words: some fit any gap, some must be cut to their budget.
SENTENCES = (
    "Anna opens the door.",
    "Tom looks out of the rain-streaked window at the empty street below.",
    "She picks up the letter, reads it twice, and slowly folds it back into its envelope.",
    "A car passes.",
    "In the dim kitchen, Tom pours two cups of coffee and sets one down in front of Anna, "
    "who does not look up from the photographs spread across the table.",
    "Anna smiles.",
    "The lights of the city flicker on one by one as evening falls.",
)
DIALOGUE = ("Where were you?", "Out.", "Sit down, we need to talk about what happened.",
            "Who called?", "Nobody.", "Look at me.", "I told you already, I was at the station.")


def film_layout(seconds: float, seed: int = 0) -> tuple[list[tuple[float, str]], list[float]]:
    """Dialogue lines at random times (gaps of 0.5 to 9 s) and shot cuts every 6 to 20 s."""
    rng = random.Random(seed)
    lines, t = [], rng.uniform(0.5, 3.0)
    while t < seconds - 4.0:
        text = rng.choice(DIALOGUE)
        lines.append((round(t, 2), text))
        t += 0.4 * len(text.split()) + 0.6 + rng.uniform(0.5, 9.0)
    cuts, t = [], rng.uniform(6.0, 20.0)
    while t < seconds - 1.0:
        cuts.append(round(t, 2))
        t += rng.uniform(6.0, 20.0)
    return lines, cuts


def bench_deliverables(args: argparse.Namespace, results: dict[str, object], tmp: Path) -> None:
    """The issue's figures on a generated film: rule pass rate, WPM, overflow, stage times."""
    from uniad.narrate.deliver.deliverables import write_deliverables
    from uniad.narrate.timeline.gaps import find_gaps, speech_spans
    from uniad.narrate.core import Description
    from uniad.narrate.deliver.plan import plan_cues
    from uniad.world.sample_media import make_dialogue_film
    from uniad.config import NarrationConfig
    from uniad.narrate.media.shots import shot_cuts
    from uniad.narrate.deliver.speech import make_engine
    from uniad.narrate.core import StageClock
    from uniad.narrate.media.video import probe

    seconds = args.film_minutes * 60
    clock = StageClock()
    stages, lap = clock.timings, clock.lap
    lines, cuts = film_layout(seconds)
    film = make_dialogue_film(tmp / "film", lines, seconds, cuts=cuts)
    lap("make_film")
    settings = NarrationConfig(voice=args.voice)
    info = probe(film.video)
    dialogue = speech_spans(film.video, info, settings)
    lap("voice_activity")
    found_cuts = shot_cuts(film.video, threshold=settings.cut_threshold)
    lap("shot_cuts")
    gaps = find_gaps(dialogue, info.duration, settings, found_cuts)
    engine = make_engine(settings.voice)
    turn = iter(range(10**9))
    plan = plan_cues(gaps, lambda slot, n, prev: Description(SENTENCES[next(turn) % len(SENTENCES)]),
                     settings, engine)
    lap("describe_and_speak")
    paths = write_deliverables(plan, film.video, tmp / "out", info.duration, dialogue, settings,
                               {"video": str(film.video)}, has_audio=info.has_audio)
    lap("deliverables")
    report = json.loads(paths["json"].read_text())
    cues = [c for c in report["ads"] if c["meta"]["fit"] != "extended"]
    rates = [c["meta"]["wpm"] for c in cues]
    fits: dict[str, int] = {}
    for cue in report["ads"]:
        fits[cue["meta"]["fit"]] = fits.get(cue["meta"]["fit"], 0) + 1
    results.update({
        "film_seconds": seconds, "voice": engine.name, "dialogue_lines": len(lines),
        "shot_cuts": len(found_cuts), "shot_cuts_made": len(cuts), "gaps": len(gaps),
        "cues": len(cues),
        "realistic_pass_rate": report["info"]["realistic_pass_rate"],
        "wpm_mean": round(sum(rates) / len(rates), 1) if rates else None,
        "wpm_max": max(rates) if rates else None,
        "overflow_count": report["info"]["overflow_count"], "fit": fits,
        "seconds_per_stage": stages,
    })
    log.info("%d cues in %d gaps of a %.0f-minute film: realistic %.0f %%, WPM mean %s max %s, "
             "%d overflow(s); stages %s", len(cues), len(gaps), args.film_minutes,
             100 * report["info"]["realistic_pass_rate"], results["wpm_mean"],
             results["wpm_max"], report["info"]["overflow_count"], stages)
    results["timed"] = timed_scores(film, paths["srt"], settings.min_gap_s, tmp)


def known_events(speech: Sequence[tuple[float, float]], seconds: float,
                 min_gap_s: float) -> list[dict[str, object]]:
    """The bench film's reference track: the k-th true dialogue gap says SENTENCES[k]."""
    from uniad.eval.timed.gaps import dialogue_gaps, merge_overlapping

    gaps = dialogue_gaps(merge_overlapping(speech), 0.0, seconds, min_gap_s)
    return [{"start": a, "end": b, "text": SENTENCES[k % len(SENTENCES)]}
            for k, (a, b) in enumerate(gaps)]


def timed_scores(film, track: Path, min_gap_s: float, tmp: Path) -> dict[str, object]:
    """REFRAMED's timed scores of the written track against the film's known events."""
    from uniad.eval.timed.pipeline import METRICS
    from uniad.eval.timed.run import score_written_track, summary_line
    from uniad.text import JAVA_MISSING, java_available

    if not java_available():
        return {"skipped": f"METEOR needs Java: {JAVA_MISSING}"}
    events = known_events(film.speech, film.duration, min_gap_s)
    reference = write_json(tmp / "known_events.json",
                           {str(n + 1): event for n, event in enumerate(events)})
    report = score_written_track(track, [reference], film.subtitles, film.duration)
    log.info("%s against %d known events, %.1f s", summary_line(report), len(events),
             report["seconds"])
    return {v: {m: report[v][m] for m in (*METRICS, "cues")}
            for v in ("raw", "realistic")} | {"events": len(events), "seconds": report["seconds"]}


def time_ocr(tmp: Path, size: str, seconds: float = 12.0) -> dict[str, float]:
    """Frames per second Tesseract reads on a film with a title, a sign and subtitles."""
    from uniad.narrate.media.ocr import TesseractOCR, scan_video
    from uniad.world.sample_media import Caption, make_text_video

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


def _tiny_uniad():
    """A random tiny UniAD whose recorded encoder is a random CLIP narrate can rebuild."""
    import torch

    from uniad.config import load_config
    from uniad.model.uniad import UniAD
    from uniad.narrate.describe.encoder import random_clip_name

    clip = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16)
    config = load_config("demo", overrides=["model.llm=tiny", "model.feature_dim=16",
                                            "model.num_latents=2",
                                            "generation.max_new_tokens=12"])
    config.model.visual_encoder = random_clip_name(**clip)
    torch.manual_seed(0)
    return UniAD.build(config)


def time_describer(tmp: Path, kind: str, media: SampleMedia) -> float:
    """Seconds of the describe stage per described slot, narrating the 30 s sample film."""
    from uniad.config import DescriberConfig
    from uniad.narrate.run import narrate
    from uniad.testing.openai_stub import StubChatServer
    from uniad.testing.tiny_vlm import build_tiny_vlm

    common = dict(subtitles=media.subtitles, cache_dir=tmp / "cache")
    out = tmp / f"out-{kind}"
    if kind == "uniad":
        result = narrate(media.video, media.cast, _tiny_uniad(), out, **common)
    elif kind == "vlm":
        folder = build_tiny_vlm(tmp / "vlm")
        result = narrate(media.video, media.cast, None, out,
                         describer=DescriberConfig(f"vlm:{folder}"), **common)
    elif kind == "openai":
        with StubChatServer(["Anna opens the door."] * 100) as server:
            result = narrate(media.video, media.cast, None, out,
                             describer=DescriberConfig(f"openai:{server.url}", "stub"), **common)
    else:
        raise SystemExit(f"unknown describer kind {kind!r} (uniad, vlm, openai)")
    per_slot = result.timings["describe"] / max(1, len(result.slots))
    log.info("describer %s: %d slots, %.3f s per slot", kind, len(result.slots), per_slot)
    return round(per_slot, 3)


def bench_describers(args: argparse.Namespace, results: dict[str, object]) -> None:
    """OCR frames/s and each describer kind's seconds per slot."""
    from uniad.world.sample_media import make_sample_media

    with tempfile.TemporaryDirectory() as tmp:
        results.update(time_ocr(Path(tmp), args.ocr_size))
        media = make_sample_media(Path(tmp) / "film", duration=30.0)  # one film for every kind
        for kind in [k for k in args.describers.split(",") if k]:
            results[f"describe_{kind}_s_per_slot"] = time_describer(Path(tmp), kind, media)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results: dict[str, object] = {"machine": platform.processor() or platform.machine()}
    if args.part in ("all", "deliverables"):
        with tempfile.TemporaryDirectory() as tmp:
            bench_deliverables(args, results, Path(tmp))
    if args.part in ("all", "features"):
        bench_features(args, results)
    if args.part in ("all", "describers"):
        bench_describers(args, results)
    print(json.dumps(results, indent=2))
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
