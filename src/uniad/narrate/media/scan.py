"""The film decoded once for everything read straight off it: the soundtrack (for voice
activity), the frames for shot cuts and the frames for on-screen text, each at its own
rate (:func:`~uniad.narrate.media.video.decode_once`). The describer's frames are not
here: UniAD's are decoded where a sample reads them (:mod:`uniad.narrate.describe.extract`),
a VLM's where it looks (:mod:`uniad.narrate.media.frames`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uniad.narrate.media.ocr import FrameText, OCRScan, TesseractOCR
from uniad.narrate.media.shots import CUT_FPS, CUT_SIZE, ShotCuts
from uniad.narrate.media.vad import VAD_RATE
from uniad.narrate.media.video import FrameSink, decode_once


@dataclass(frozen=True)
class FilmScan:
    """What one pass over the film read."""

    audio: np.ndarray | None  # mono float32 at VAD_RATE; None without an audio stream
    cuts: list[float]  # shot cut times (empty when not asked for)
    screen: list[FrameText]  # OCR readings (empty without an OCR)


def scan_film(video: str | Path, has_audio: bool, cut_threshold: float | None = None,
              ocr: TesseractOCR | None = None, ocr_fps: float = 1.0) -> FilmScan:
    """Decode ``video`` once: its audio (when ``has_audio``), shot cuts (when
    ``cut_threshold`` is given) and on-screen text at ``ocr_fps`` (when ``ocr`` is given)."""
    cuts = ShotCuts(cut_threshold) if cut_threshold is not None else None
    scan = OCRScan(ocr) if ocr is not None else None
    sinks = [*([FrameSink(CUT_FPS, cuts.feed, CUT_SIZE)] if cuts else []),
             *([FrameSink(ocr_fps, scan.feed)] if scan else [])]
    audio = decode_once(video, sinks, VAD_RATE if has_audio else None)
    return FilmScan(audio, cuts.cuts if cuts else [], scan.done() if scan else [])
