"""Read the text on video frames with Tesseract: title cards, signs, captions.

We call Tesseract through ``pytesseract``, which runs the ``tesseract`` binary
(Debian ``tesseract-ocr`` + one ``tesseract-ocr-LANG`` package per language) on each
image. ``tesserocr`` would bind the C++ API directly and skip a process start per frame,
but it must be compiled against ``libtesseract-dev`` headers, which a plain
``pip install`` cannot count on; at one frame per second of film the process start
(~30 ms) is small beside the recognition itself.

Frames are upscaled before recognition: Tesseract is tuned for ~300 dpi scans, and text
in a 360p frame is too small for it (the same "EXIT" is missed at 240 px and read at
720 px). Words below ``min_confidence`` are dropped: busy backgrounds produce short
low-confidence garbage ("®", "CT") that must never be read out.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from uniad.errors import UniADError
from uniad.narrate.media.video import iter_frames

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # left, top, width, height in the frame's pixels


@dataclass(frozen=True)
class TextBlock:
    """Text Tesseract found on a frame: one line, or lines stacked into a block."""

    text: str
    confidence: float  # mean word confidence, 0-100
    box: Box


@dataclass(frozen=True)
class FrameText:
    """The text blocks of one frame, with what placing and naming them needs."""

    time: float
    width: int
    height: int
    blocks: tuple[TextBlock, ...]
    plain: bool  # the background around the text is one flat colour (a title card)


def merge_lines(lines: Sequence[TextBlock], spacing: float = 0.8) -> list[TextBlock]:
    """Join lines stacked one under the other (a two-line title, a sign) into one block.

    Tesseract's sparse mode puts every line in a block of its own; a line whose top is
    within ``spacing`` line heights of the previous block's bottom and which overlaps it
    horizontally continues that block.
    """
    merged: list[TextBlock] = []
    for line in sorted(lines, key=lambda b: (b.box[1], b.box[0])):
        left, top, width, height = line.box
        for i, block in enumerate(merged):
            b_left, b_top, b_width, b_height = block.box
            below = 0 <= top - (b_top + b_height) <= spacing * max(height, 1)
            overlap = min(left + width, b_left + b_width) > max(left, b_left)
            if below and overlap:
                words_a, words_b = len(block.text.split()), len(line.text.split())
                right = max(left + width, b_left + b_width)
                new_left = min(left, b_left)
                merged[i] = TextBlock(
                    f"{block.text} {line.text}",
                    (block.confidence * words_a + line.confidence * words_b) / (words_a + words_b),
                    (new_left, b_top, right - new_left, top + height - b_top))
                break
        else:
            merged.append(line)
    return merged


def _check_languages(languages: str) -> None:
    """Fail before decoding when Tesseract or one of its language packs is missing."""
    import pytesseract

    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        raise UniADError("reading on-screen text needs the tesseract binary "
                         "(e.g. apt install tesseract-ocr tesseract-ocr-eng)")
    have = set(pytesseract.get_languages(config=""))
    missing = [lang for lang in languages.split("+") if lang not in have]
    if missing:
        raise UniADError(
            f"--ocr-languages: Tesseract has no data for {', '.join(missing)} (installed: "
            f"{', '.join(sorted(have))}); install e.g. tesseract-ocr-{missing[0]}")


class TesseractOCR:
    """Tesseract on PIL images: ``languages`` in its ``eng+fra`` form, words below
    ``min_confidence`` dropped, frames upscaled so the shorter side is ``min_side`` px."""

    def __init__(self, languages: str = "eng", min_confidence: float = 60.0,
                 min_side: int = 720, plain_std: float = 12.0) -> None:
        _check_languages(languages)
        self.languages = languages
        self.min_confidence = min_confidence
        self.min_side = min_side
        self.plain_std = plain_std

    def blocks(self, image: Image.Image) -> list[TextBlock]:
        """The confident text blocks of ``image``, boxes in its own pixels."""
        import pytesseract

        scale = max(1.0, self.min_side / min(image.size))
        gray = image.convert("L")
        if scale > 1:
            gray = gray.resize((round(image.width * scale), round(image.height * scale)),
                               Image.Resampling.BICUBIC)
        # psm 11, "sparse text": film frames are pictures with a few words on them, and the
        # page segmentation of the default mode finds no text at all on colourful
        # backgrounds (a sign over colour bars is read by psm 11 and missed by psm 3).
        data = pytesseract.image_to_data(gray, lang=self.languages, config="--psm 11",
                                         output_type=pytesseract.Output.DICT)
        grouped: dict[tuple[int, int], list[int]] = {}
        for i, word in enumerate(data["text"]):
            # Words with no letter or digit ("—", "®") are what textures read as.
            if re.search(r"[^\W_]", word) and float(data["conf"][i]) >= self.min_confidence:
                key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
                grouped.setdefault(key, []).append(i)
        lines = []
        for rows in grouped.values():
            left = min(data["left"][i] for i in rows)
            top = min(data["top"][i] for i in rows)
            right = max(data["left"][i] + data["width"][i] for i in rows)
            bottom = max(data["top"][i] + data["height"][i] for i in rows)
            box = tuple(round(v / scale) for v in (left, top, right - left, bottom - top))
            lines.append(TextBlock(" ".join(data["text"][i].strip() for i in rows),
                                   float(np.mean([float(data["conf"][i]) for i in rows])), box))
        return merge_lines(lines)

    def is_plain(self, image: Image.Image, blocks: Sequence[TextBlock]) -> bool:
        """Whether the frame outside the text is one flat colour, as on a title card."""
        gray = np.asarray(image.convert("L"), dtype=np.float32)
        keep = np.ones(gray.shape, dtype=bool)
        pad = 4
        for left, top, width, height in (b.box for b in blocks):
            keep[max(0, top - pad): top + height + pad, max(0, left - pad): left + width + pad] = 0
        return bool(keep.any() and gray[keep].std() < self.plain_std)

    def read(self, time: float, image: Image.Image) -> FrameText:
        blocks = self.blocks(image)
        return FrameText(time, image.width, image.height, tuple(blocks),
                         plain=bool(blocks) and self.is_plain(image, blocks))


def _thumbnail(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L").resize((64, 36), Image.Resampling.BILINEAR), np.float32)


class OCRScan:
    """On-screen text read frame by frame (``feed`` each frame of the OCR timeline, e.g. as a
    :class:`~uniad.narrate.media.video.FrameSink`); ``frames`` collects the readings.

    A frame whose 64x36 grey thumbnail differs from the last frame actually read by less
    than ``same_below`` grey levels on average (a held title card, a static shot) reuses
    that reading: OCR is the slow step (a few frames per second). 0 reads every frame.
    """

    def __init__(self, ocr: TesseractOCR, same_below: float = 1.0) -> None:
        self.ocr, self.same_below = ocr, same_below
        self.frames: list[FrameText] = []
        self.read = 0
        self._last: tuple[np.ndarray, FrameText] | None = None

    def feed(self, time: float, image: Image.Image) -> None:
        thumb = _thumbnail(image)
        if self._last is not None and float(np.abs(thumb - self._last[0]).mean()) < self.same_below:
            self.frames.append(replace(self._last[1], time=time))
            return
        self.read += 1
        self._last = (thumb, self.ocr.read(time, image))
        self.frames.append(self._last[1])

    def done(self) -> list[FrameText]:
        log.info("OCR read %d of %d frames (the others repeated the frame before)", self.read,
                 len(self.frames))
        return self.frames


def scan_video(path: str | Path, ocr: TesseractOCR, fps: float = 1.0,
               same_below: float = 1.0) -> list[FrameText]:
    """OCR ``fps`` frames per second of the video (text on screen lasts seconds, so one
    frame a second finds it; a smaller rate only delays when it is noticed); see
    :class:`OCRScan`."""
    scan = OCRScan(ocr, same_below)
    for time, image in iter_frames(path, fps=fps):
        scan.feed(time, image)
    return scan.done()
