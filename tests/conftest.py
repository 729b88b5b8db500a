"""Shared test settings: one torch thread per test.

The models in the tests are tiny, so extra threads only fight over CI's two cores (and
with the torchrun workers some tests start); one thread also keeps timings steady.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    # Every `uniad` call samples the idle cores; the suite calls it hundreds of times.
    monkeypatch.setattr("uniad.runtime.SAMPLE_S", 0.02)
