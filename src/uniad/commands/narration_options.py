"""The flags `uniad narrate` and `uniad render` share: gaps, timing, voice, fitting, mixing."""

from __future__ import annotations

import argparse

from uniad.narrate.settings import NarrationSettings

_D = NarrationSettings()


def add_narration_options(parser: argparse.ArgumentParser, gaps: bool = True) -> None:
    """Add the flags that build a :class:`NarrationSettings` (``gaps``: also gap finding)."""
    if gaps:
        parser.add_argument("--gaps", choices=("vad", "energy"), default=_D.gap_source,
                            help="speech spans from voice activity (webrtcvad) or from loudness")
        parser.add_argument("--vad-aggressiveness", type=int, default=_D.vad_aggressiveness,
                            choices=range(4), help="webrtcvad mode, 0..3")
        parser.add_argument("--pad", type=float, default=_D.pad_s, metavar="S",
                            help="seconds kept free around each dialogue span")
        parser.add_argument("--min-gap", type=float, default=_D.min_gap_s, metavar="S",
                            help="shortest dialogue gap that gets a description (seconds)")
        parser.add_argument("--max-len", type=float, default=_D.max_len_s, metavar="S",
                            help="longer gaps are split into pieces of at most this length")
        parser.add_argument("--no-cut-split", action="store_true",
                            help="do not split gaps at shot cuts")
    parser.add_argument("--wpm", type=float, default=_D.plan_wpm,
                        help="words (PTB tokens) per minute descriptions are planned at "
                             "(the realism rule allows under 300)")
    parser.add_argument("--voice", choices=("piper", "espeak"), default=_D.voice,
                        help="piper: offline neural voice (default); espeak: espeak-ng")
    parser.add_argument("--duck-db", type=float, default=_D.duck_db,
                        help="how far the soundtrack dips under a description (dB)")
    parser.add_argument("--extended", action="store_true",
                        help="also write an extended video, paused where a description "
                             "needs more time than its gap")


def settings_from(args: argparse.Namespace) -> NarrationSettings:
    """The settings the parsed flags ask for (range errors are UniADErrors)."""
    gaps = {}
    if hasattr(args, "gaps"):
        gaps = dict(gap_source=args.gaps, vad_aggressiveness=args.vad_aggressiveness,
                    pad_s=args.pad, min_gap_s=args.min_gap, max_len_s=args.max_len,
                    split_at_cuts=not args.no_cut_split)
    return NarrationSettings(**gaps, plan_wpm=args.wpm, voice=args.voice,
                             duck_db=args.duck_db, extended=args.extended)
