"""``--reference``: `uniad narrate` and `uniad render` score the track they wrote.

The track is scored with REFRAMED's timed metrics (:mod:`uniad.eval.timed`) against one or
two reference AD tracks; ``timed_scores.json`` goes next to the deliverables and one line
of scores is printed. References are read before any work, so a bad file costs a second.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from uniad.errors import UniADError


def add_reference_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", action="append", default=[], metavar="REF",
                        help="a reference AD track (SRT, WebVTT or JSON; give it twice for two): "
                             "score the written track with REFRAMED's timed metrics into "
                             "timed_scores.json (needs Java)")


def check_references(references: Sequence[str]) -> None:
    """Refuse unreadable or too many references before the narration starts."""
    from uniad.eval.timed.readers import read_track
    from uniad.text import JAVA_MISSING, java_available

    if len(references) > 2:
        raise UniADError("--reference: at most two reference tracks")
    for path in references:
        read_track(path, reference=True)
    if references and not java_available():
        raise UniADError(f"--reference needs Java for METEOR: {JAVA_MISSING}")


def score_reference(paths: Mapping[str, Path], references: Sequence[str],
                    out_dir: str | Path) -> str:
    """Score the track among ``paths`` (the deliverables `uniad narrate` and `uniad render`
    wrote) against ``references``, with the dialogue and the video its ``ad.json`` records
    (the subtitles given, else the speech spans narration found), and write
    ``timed_scores.json`` into ``out_dir``; the line to print."""
    from uniad.eval.timed.run import score_written_track, summary_line
    from uniad.narrate.media.video import probe

    info = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))["info"]
    subtitles = info.get("subtitles")
    dialogue = subtitles or [tuple(span) for span in info["dialogue"]]
    source = "subtitles" if subtitles else "the dialogue spans narration found"
    report = score_written_track(paths["srt"], references, dialogue,
                                 probe(info["video"]).duration, out_dir)
    return f"{summary_line(report)} (dialogue from {source}; {report['paths']['timed_scores']})"
