"""Thread choice: explicit > OMP_NUM_THREADS > the cores not already busy."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from uniad.cli import main
from uniad.runtime import choose_threads


def test_explicit_count_wins_and_must_be_positive(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(5) == 5
    with pytest.raises(ValueError):
        choose_threads(0)


def test_environment_is_respected(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads() == 3


@pytest.mark.parametrize("load, expected", [(0.1, 4), (1.2, 3), (2.6, 1), (9.0, 1)])
def test_default_leaves_busy_cores_alone(monkeypatch, load, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with mock.patch("os.sched_getaffinity", return_value={0, 1, 2, 3}), \
            mock.patch("os.getloadavg", return_value=(load, load, load)):
        assert choose_threads() == expected


def test_cli_option_sets_torch_threads(monkeypatch, tmp_path):
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        assert main(["--threads", "1", "synth", "--out", str(tmp_path / "w"), "--movies", "2"]) == 0
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit):
        main(["--threads", "0", "synth", "--out", str(tmp_path / "x")])
