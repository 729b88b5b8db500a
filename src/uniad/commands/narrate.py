"""`uniad narrate`: a video + a cast file + a describer (a trained UniAD checkpoint, a
local vision-language model, or an OpenAI-compatible server) -> a timed AD track."""

from __future__ import annotations

import argparse

from uniad.commands.narration_options import add_narration_options, settings_from
from uniad.commands.options import (
    add_describer_options, add_section_flags, section_from_flags, section_overrides,
)
from uniad.commands.reference_option import add_reference_option, check_references, score_reference
from uniad.config import DescriberConfig, NarrateConfig, ScreenTextConfig


def _handler(args: argparse.Namespace) -> int:
    from uniad.config import load_config
    from uniad.io import refuse_existing_file, writable_folder
    from uniad.model.folder import CONFIG_FILE, checkpoint_dir
    from uniad.narrate.run import narrate

    # Settings, checkpoint files and outputs are checked before anything is read.
    narration, describer = settings_from(args), section_from_flags(args, DescriberConfig)
    screen_text = section_from_flags(args, ScreenTextConfig)
    overrides = section_overrides(args, NarrateConfig, "narrate")
    checkpoint = checkpoint_dir(args.checkpoint) if args.checkpoint else None  # RUN or RUN/final
    refuse_existing_file(args.cache_dir, "--cache-dir")
    check_references(args.reference)
    writable_folder(args.out, "--out")  # created: so last of the checks
    config = load_config(path=checkpoint / CONFIG_FILE if checkpoint else None,
                         overrides=overrides)
    result = narrate(
        args.video, args.cast, checkpoint, args.out, subtitles=args.subtitles,
        narration=narration, screen_text=screen_text, describer=describer,
        model_settings=config.narrate, encoder=args.visual_encoder,
        speak=args.speak, mix=args.mix, cache_dir=args.cache_dir, device=args.device,
    )
    where = (f"features {'from cache' if result.cache_hit else 'extracted'}: {result.features}"
             if result.features else f"describer {describer.describer}")
    print(f"{len(result.ads)} ADs in {len(result.slots)} slots ({where})")
    for kind, path in result.paths.items():
        print(f"  {kind}: {path}")
    if args.reference:
        print(score_reference(result.paths, args.reference, args.out))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "narrate",
        help="write an AD track (SRT, WebVTT, JSON; speech and mix optional) for a video",
        description=(
            "Find the gaps in the dialogue (voice activity of the soundtrack and --subtitles, "
            "split at shot cuts), describe each with a trained UniAD checkpoint using the "
            "video's CLIP features and the cast's photos (or with a vision-language model: "
            "--describer vlm:/openai:), planned at --wpm words per minute, optionally read "
            "on-screen text out (--read-text), and write ad.srt, ad.vtt, ad.dapt.ttml, ad.json "
            "and the review page ad.html into --out; --speak adds ad.wav (fitted into each "
            "gap), --mix the video with the AD as an extra audio stream flagged for players, "
            "--extended a paused version. A checkpoint from `uniad demo` is narrated with the "
            "demo's own random encoder."
        ),
    )
    parser.add_argument("video", help="the video file")
    parser.add_argument("--cast", required=True, help="cast file (JSON or CSV with photos)")
    parser.add_argument("--checkpoint", default=None,
                        help="a trained UniAD folder, or a run folder holding final/; "
                             "needed by --describer uniad only")
    add_describer_options(parser)
    add_section_flags(parser, ScreenTextConfig)  # --read-text, --ocr-*
    parser.add_argument("--subtitles", default=None, help="dialogue subtitles (SRT or WebVTT)")
    add_reference_option(parser)
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--visual-encoder", default=None, metavar="CLIP_FOLDER",
                        help="local CLIP vision weights the checkpoint was trained with "
                             "(MAD: CLIP ViT-L/14); needed unless the checkpoint carries its "
                             "encoder (visual_encoder/, used when this flag is absent) or "
                             "records a random test encoder")
    parser.add_argument("--speak", action="store_true", help="also write ad.wav (--voice)")
    parser.add_argument("--mix", action="store_true",
                        help="also write the video with the AD as an extra audio stream")
    add_narration_options(parser)
    add_section_flags(parser, NarrateConfig)  # --fps, --max-characters
    parser.add_argument("--cache-dir", default=None,
                        help="feature cache (default: OUT/cache); reused across runs")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.set_defaults(func=_handler)
