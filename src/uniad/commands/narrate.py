"""`uniad narrate`: a video + a cast file + a trained checkpoint -> a timed AD track."""

from __future__ import annotations

import argparse

from uniad.commands.options import add_section_flags, section_overrides
from uniad.config import NarrateConfig


def _handler(args: argparse.Namespace) -> int:
    from uniad.config import load_config
    from uniad.io import refuse_existing_file
    from uniad.model.folder import CONFIG_FILE, checkpoint_dir
    from uniad.narrate.run import narrate

    # Settings, checkpoint files and outputs are checked before anything is decoded.
    checkpoint = checkpoint_dir(args.checkpoint)  # RUN or RUN/final, as evaluate takes
    refuse_existing_file(args.out, "--out")
    refuse_existing_file(args.cache_dir, "--cache-dir")
    config = load_config(path=checkpoint / CONFIG_FILE,
                         overrides=section_overrides(args, NarrateConfig, "narrate"))
    settings = config.narrate
    result = narrate(
        args.video, args.cast, checkpoint, args.out,
        subtitles=args.subtitles, encoder=args.visual_encoder, speak=args.speak, mix=args.mix,
        min_gap=settings.min_gap, max_len=settings.max_len,
        words_per_second=settings.words_per_second, fps=settings.fps or config.data.fps,
        max_characters=settings.max_characters, cache_dir=args.cache_dir, device=args.device,
    )  # fmt: skip
    print(f"{len(result.ads)} ADs in {len(result.slots)} slots "
          f"(features {'from cache' if result.cache_hit else 'extracted'}: {result.features})")
    for kind, path in result.paths.items():
        print(f"  {kind}: {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "narrate",
        help="write an AD track (SRT, WebVTT, JSON; speech and mix optional) for a video",
        description=(
            "Find the gaps in the dialogue (from --subtitles, else the soundtrack), describe "
            "each with a trained UniAD checkpoint using the video's CLIP features and the "
            "cast's photos, and write ad.srt, ad.vtt and ad.json into --out; --speak adds "
            "ad.wav (espeak-ng), --mix the video with the AD as an extra audio stream."
        ),
    )
    parser.add_argument("video", help="the video file")
    parser.add_argument("--cast", required=True, help="cast file (JSON or CSV with photos)")
    parser.add_argument("--checkpoint", required=True,
                        help="a trained UniAD folder, or a run folder holding final/")
    parser.add_argument("--subtitles", default=None, help="dialogue subtitles (SRT or WebVTT)")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--visual-encoder", default=None, metavar="CLIP_FOLDER",
                        help="local CLIP vision weights the checkpoint was trained with "
                             "(MAD: CLIP ViT-L/14); needed unless the checkpoint records a "
                             "random test encoder")
    parser.add_argument("--speak", action="store_true", help="also write ad.wav (espeak-ng)")
    parser.add_argument("--mix", action="store_true",
                        help="also write the video with the AD as an extra audio stream")
    add_section_flags(parser, NarrateConfig)  # --min-gap, --max-len, --words-per-second, ...
    parser.add_argument("--cache-dir", default=None,
                        help="feature cache (default: OUT/cache); reused across runs")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.set_defaults(func=_handler)
