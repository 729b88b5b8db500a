"""Thread choice: explicit > OMP_NUM_THREADS > the cores not already busy."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from uniad.cli import main
from uniad import runtime
from uniad.runtime import choose_threads


def test_explicit_count_wins_and_must_be_positive(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(5) == 5
    with pytest.raises(ValueError):
        choose_threads(0)


def test_environment_is_respected(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads() == 3


def fake_proc_stat(monkeypatch, idle_share: float, cores: int = 4) -> None:
    """/proc/stat as two readings 1000 jiffies apart, ``idle_share`` of them idle."""
    readings = iter([(0, 0, cores), (round(1000 * idle_share), 1000, cores)])
    monkeypatch.setattr(runtime, "cpu_times", lambda: next(readings))
    monkeypatch.setattr(runtime.time, "sleep", lambda s: None)


@pytest.mark.parametrize("idle, expected", [(1.0, 4), (0.7, 3), (0.2, 1), (0.0, 1)])
def test_default_takes_the_cores_idle_now_not_the_load_average(monkeypatch, idle, expected):
    """Right after a setup the load average is high while the machine is idle: the idle
    time sampled now decides."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    fake_proc_stat(monkeypatch, idle)
    with mock.patch("os.sched_getaffinity", return_value={0, 1, 2, 3}), \
            mock.patch("os.getloadavg", return_value=(9.0, 9.0, 9.0)):
        choice = runtime.thread_choice()
    assert choice.threads == expected
    assert f"{4 * idle:.1f} core(s) idle" in choice.reason


def test_affinity_caps_the_idle_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    fake_proc_stat(monkeypatch, 1.0, cores=8)
    with mock.patch("os.sched_getaffinity", return_value={0, 1}):
        assert runtime.choose_threads() == 2


def test_cpu_times_reads_this_machine():
    idle, total, cores = runtime.cpu_times()
    assert 0 <= idle <= total and cores >= 1


def test_training_samples_again_when_its_loop_starts(monkeypatch, caplog):
    """The count chosen at start-up (busy) is replaced by the one when work starts (idle),
    and the log says why; a count the user gave is kept."""
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        with mock.patch("os.sched_getaffinity", return_value={0, 1}):
            fake_proc_stat(monkeypatch, 0.1, cores=2)
            assert runtime.apply_threads() == 1
            fake_proc_stat(monkeypatch, 0.95, cores=2)
            with caplog.at_level("INFO", logger="uniad.runtime"):
                choice = runtime.retune_threads()
        assert choice.threads == 2 == torch.get_num_threads()
        assert "training on 2 thread(s): 1.9 core(s) idle" in caplog.text
        runtime.apply_threads(1)
        assert runtime.retune_threads().reason == "--threads" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


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
