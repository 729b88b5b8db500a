"""`uniad narrate`: a video + a cast file + a trained checkpoint -> a timed AD track."""

from __future__ import annotations

import argparse

from uniad.commands.narration_options import add_narration_options, settings_from


def _handler(args: argparse.Namespace) -> int:
    from uniad.narrate.run import narrate

    result = narrate(
        args.video, args.cast, args.checkpoint, args.out,
        subtitles=args.subtitles, encoder=args.visual_encoder, speak=args.speak, mix=args.mix,
        settings=settings_from(args), fps=args.fps, max_characters=args.max_characters,
        cache_dir=args.cache_dir, device=args.device,
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
            "Find the gaps in the dialogue (voice activity of the soundtrack and --subtitles, "
            "split at shot cuts), describe each with a trained UniAD checkpoint using the "
            "video's CLIP features and the cast's photos, planned at --wpm words per minute, "
            "and write ad.srt, ad.vtt, ad.dapt.ttml, ad.json and the review page ad.html "
            "into --out; --speak adds ad.wav (fitted into each gap), --mix the video with the "
            "AD as an extra audio stream flagged for players, --extended a paused version. "
            "A checkpoint from `uniad demo` is narrated with the demo's own random encoder."
        ),
    )
    parser.add_argument("video", help="the video file")
    parser.add_argument("--cast", required=True, help="cast file (JSON or CSV with photos)")
    parser.add_argument("--checkpoint", required=True,
                        help="a trained UniAD folder (e.g. RUN/final from `uniad train`)")
    parser.add_argument("--subtitles", default=None, help="dialogue subtitles (SRT or WebVTT)")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--visual-encoder", default=None, metavar="CLIP_FOLDER",
                        help="local CLIP vision weights the checkpoint was trained with "
                             "(MAD: CLIP ViT-L/14); needed unless the checkpoint records a "
                             "random test encoder")
    parser.add_argument("--speak", action="store_true", help="also write ad.wav (--voice)")
    parser.add_argument("--mix", action="store_true",
                        help="also write the video with the AD as an extra audio stream")
    add_narration_options(parser)
    parser.add_argument("--fps", type=float, default=5.0,
                        help="frame rate of the features (MAD checkpoints: 5)")
    parser.add_argument("--max-characters", type=int, default=None, metavar="K",
                        help="give the model only the K cast members whose photo is most "
                             "similar to the slot (default: the whole cast)")
    parser.add_argument("--cache-dir", default=None,
                        help="feature cache (default: OUT/cache); reused across runs")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.set_defaults(func=_handler)
