"""Shared test settings: one torch thread per test.

The models in the tests are tiny, so extra threads only fight over CI's two cores (and
with the torchrun workers some tests start); one thread also keeps timings steady.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
