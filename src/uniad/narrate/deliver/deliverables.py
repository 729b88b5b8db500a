"""Every deliverable of a planned AD track, in one folder a describer can sign off.

``ad.srt``, ``ad.vtt`` (``kind="descriptions"``), ``ad.dapt.ttml`` (W3C DAPT), ``ad.json``
(every cue with words, WPM, gap, fit status and the realism check; the run's settings,
dialogue spans, dropped descriptions, timings), ``ad.wav`` and the video with the AD
stream flagged for players, ``ad.html`` to review it; with extended AD also the paused
video and its tracks. Shared by ``uniad narrate`` and ``uniad render``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from uniad.config import NarrationConfig
from uniad.narrate.core import Interval, NarratedAD
from uniad.narrate.deliver import extended as ext
from uniad.narrate.deliver.dapt import write_dapt
from uniad.narrate.deliver.mix import mix_into_video
from uniad.narrate.deliver.plan import Plan
from uniad.narrate.deliver.review import write_review_page
from uniad.narrate.deliver.speech import Speech, assemble_track, write_wav
from uniad.narrate.deliver.tracks import write_json, write_srt, write_vtt
from uniad.narrate.timeline.timing import check_cues

log = logging.getLogger(__name__)

SAMPLE_RATE = 48000


def record_realism(cues: Sequence[NarratedAD], dialogue: Sequence[Interval]) -> float:
    """Mark each cue's ``meta["realistic"]`` by the REFRAMED rule; the pass rate (1.0 when
    there are no cues)."""
    checks = check_cues([(c.start, c.end, c.text) for c in cues], dialogue)
    for cue, check in zip(sorted(cues, key=lambda c: c.start), checks):
        cue.meta["realistic"] = check.passed
    return sum(c.passed for c in checks) / len(checks) if checks else 1.0


def _track(speech: Sequence[Speech], duration: float, path: Path) -> Path:
    return write_wav(path, assemble_track(speech, duration, SAMPLE_RATE), SAMPLE_RATE)


def write_deliverables(
    plan: Plan,
    video: str | Path,
    out_dir: str | Path,
    duration: float,
    dialogue: Sequence[Interval],
    settings: NarrationConfig,
    info: dict[str, Any],
    has_audio: bool = True,
    mix: bool = True,
) -> dict[str, Path]:
    """Write the deliverables of ``plan`` for ``video`` into ``out_dir`` (see module doc)."""
    out, video = Path(out_dir), Path(video)
    out.mkdir(parents=True, exist_ok=True)
    normal = plan.normal()
    # plan_cues keeps no dropped fit, so every fit has speech; its status is its cue's "fit"
    spoken = [f.speech for f in plan.speech if f.status != "extended"]
    pass_rate = record_realism(normal, dialogue)
    info = {**info, "settings": settings.to_dict(),
            "dialogue": [[round(a, 3), round(b, 3)] for a, b in dialogue],
            "realistic_pass_rate": round(pass_rate, 4),
            "overflow": plan.dropped, "overflow_count": len(plan.dropped),
            "extended_count": len(plan.cues) - len(normal)}
    paths = {"srt": write_srt(normal, out / "ad.srt"), "vtt": write_vtt(normal, out / "ad.vtt")}
    if plan.speech:
        paths["wav"] = _track(spoken, duration, out / "ad.wav")
    paths["dapt"] = write_dapt(normal, out / "ad.dapt.ttml",
                               audio="ad.wav" if plan.speech else None)
    shown = video
    if plan.speech and mix:
        paths["video"] = mix_into_video(
            video, paths["wav"], out / f"{video.stem}.ad{video.suffix}",
            [(s.start, s.start + s.duration) for s in spoken], duck_db=settings.duck_db)
        shown = paths["video"]
    pauses = ext.pauses_of(plan.cues)
    if pauses and plan.speech:  # pauses: --extended, or cues marked extended
        paths.update(_write_extended(plan, video, out, duration, pauses, has_audio, settings))
    paths["json"] = write_json(plan.cues, out / "ad.json", info)
    paths["html"] = write_review_page(normal, out / "ad.html", os.path.relpath(shown, out),
                                      "ad.vtt", duration, dialogue)
    log.info("%d cues, realistic-rule pass rate %.0f %%, %d overflow(s); wrote %s",
             len(normal), 100 * pass_rate, len(plan.dropped), ", ".join(sorted(paths)))
    return paths


def _write_extended(
    plan: Plan, video: Path, out: Path, duration: float, pauses: Sequence[ext.Pause],
    has_audio: bool, settings: NarrationConfig,
) -> dict[str, Path]:
    """The paused video with every description (extended ones included) mixed in, its
    WebVTT on the extended timeline, and every cue on the normal timeline with the
    extended ones marked ``ad-N-pause-S`` for players that pause by themselves."""
    held = duration + sum(d for _, d in pauses)
    cues = ext.extended_cues(plan.cues, pauses)
    speech = ext.extended_speech([f.speech for f in plan.speech], pauses)
    paused = ext.write_extended_video(video, out / f"{video.stem}.extended.plain{video.suffix}",
                                      pauses, duration, has_audio)
    wav = _track(speech, held, out / "ad.extended.wav")
    mixed = mix_into_video(paused, wav, out / f"{video.stem}.extended{video.suffix}",
                           [(s.start, s.start + s.duration) for s in speech],
                           duck_db=settings.duck_db, title="Audio description (extended)")
    paused.unlink()
    return {"extended_vtt": write_vtt(cues, out / "ad.extended.vtt"),
            # the normal timeline, every cue: for players that pause the video themselves
            "pausing_vtt": write_vtt(plan.cues, out / "ad.pausing.vtt"),
            "extended_wav": wav, "extended_video": mixed}
