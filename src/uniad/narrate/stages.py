"""Seconds per stage of a narration: what ``ad.json`` and ``uniad bench narrate`` report."""

from __future__ import annotations

import time


class StageClock:
    """``lap(name)`` records the seconds since the previous lap (or since creation)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._last, 3)
        self._last = now
