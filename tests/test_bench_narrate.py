"""uniad.bench.bench_narrate: the OCR rate and the describers' seconds per slot."""

from __future__ import annotations

from pathlib import Path

from uniad.bench import bench_narrate as bench
from uniad.world.sample_media import make_sample_media


def test_ocr_rate_and_describer_seconds_per_slot_are_measured(tmp_path: Path) -> None:
    figures = bench.time_ocr(tmp_path, "320x240", seconds=3.0)
    assert figures["ocr_size"] == "320x240" and figures["ocr_frames_per_s"] > 0
    media = make_sample_media(tmp_path / "film", duration=30.0)
    assert bench.time_describer(tmp_path, "openai", media) > 0  # vlm: the same path, timed in narrate tests
