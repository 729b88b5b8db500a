"""`uniad render`: rebuild speech, mix, tracks and review page from an edited AD track."""

from __future__ import annotations

import argparse

from uniad.commands.narration_options import add_narration_options, settings_from
from uniad.commands.reference_option import add_reference_option, check_references, score_reference


def _handler(args: argparse.Namespace) -> int:
    from uniad.io import writable_folder
    from uniad.narrate.deliver.render import render_edited

    narration = settings_from(args)  # checked before the track or the video is read
    check_references(args.reference)
    writable_folder(args.out, "--out")  # created: so last of the checks
    paths = render_edited(args.track, args.out, video=args.video, narration=narration,
                          speak=not args.no_speech, mix=not args.no_speech)
    for kind, path in paths.items():
        print(f"  {kind}: {path}")
    if args.reference:
        print(score_reference(paths, args.reference, args.out))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="re-speak and re-mix an edited ad.json, SRT or WebVTT (no model needed)",
        description=(
            "Read an edited AD track (ad.json from `uniad narrate`, or an SRT/WebVTT of "
            "descriptions), speak each description fitted into its gap, and write the same "
            "deliverables as `uniad narrate` (tracks, DAPT, ad.wav, the mixed video, ad.html) "
            "into --out. The video is the one ad.json records unless --video is given."
        ),
    )
    parser.add_argument("track", help="edited ad.json, .srt or .vtt")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--video", default=None, help="the video (default: from ad.json)")
    parser.add_argument("--no-speech", action="store_true",
                        help="write the text tracks and the page only")
    add_narration_options(parser, gaps=False)
    add_reference_option(parser)
    parser.set_defaults(func=_handler)
