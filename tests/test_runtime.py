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
    monkeypatch.setattr(runtime, "_CHOICE", None)  # restored after: later tests train unwatched
    monkeypatch.setattr(runtime, "_AUTOMATIC", None)
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


class FakeMachine:
    """/proc/stat, this process's CPU clock and a wall clock that a test moves by hand."""

    def __init__(self, monkeypatch, cores: int = 2) -> None:
        self.cores, self.now, self.idle, self.total, self.own = cores, 0.0, 0, 0, 0.0
        monkeypatch.setattr(runtime, "cpu_times", lambda: (self.idle, self.total, self.cores))

    def run(self, seconds: float, own_cores: float, other_cores: float) -> None:
        """``seconds`` pass with this process on ``own_cores`` and others on ``other_cores``."""
        ticks = 100 * seconds  # USER_HZ
        self.now += seconds
        self.own += own_cores * seconds
        self.total += round(self.cores * ticks)
        self.idle += round((self.cores - own_cores - other_cores) * ticks)


@pytest.fixture
def chosen_by_us(monkeypatch):
    """Training chose 2 threads itself (as retune_threads does), and torch's count is restored."""
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "_AUTOMATIC", 2)
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(runtime.os, "sysconf", lambda name: 100, raising=False)
    before = torch.get_num_threads()
    yield torch
    torch.set_num_threads(before)


def test_training_drops_a_thread_when_another_process_starts_and_takes_it_back(
        monkeypatch, chosen_by_us, caplog):
    """A busy process arriving mid-run takes a core (2 threads would crawl): the watch
    goes to 1 thread, and back to 2 once the core is free again."""
    torch = chosen_by_us
    torch.set_num_threads(2)
    machine = FakeMachine(monkeypatch)
    watch = runtime.ThreadWatch(clock=lambda: machine.now, own_cpu=lambda: machine.own)
    machine.run(30, own_cores=2.0, other_cores=0.0)
    assert watch.poll() is None and torch.get_num_threads() == 2  # alone: keep both
    machine.run(30, own_cores=1.3, other_cores=0.7)  # a busy process shares the cores
    with caplog.at_level("INFO", logger="uniad.runtime"):
        assert watch.poll() == 1
    assert torch.get_num_threads() == 1
    assert "training on 1 thread(s) instead of 2: other processes used 0.7 of 2 core(s)" in caplog.text
    machine.run(30, own_cores=1.0, other_cores=1.0)
    assert watch.poll() is None and torch.get_num_threads() == 1  # still there: stay
    machine.run(30, own_cores=1.0, other_cores=0.1)  # it ended
    assert watch.poll() == 2 and torch.get_num_threads() == 2


def test_the_watch_waits_its_interval(monkeypatch, chosen_by_us):
    torch = chosen_by_us
    torch.set_num_threads(2)
    machine = FakeMachine(monkeypatch)
    watch = runtime.ThreadWatch(every_s=20, clock=lambda: machine.now, own_cpu=lambda: machine.own)
    machine.run(5, own_cores=1.0, other_cores=1.0)
    assert watch.poll() is None and torch.get_num_threads() == 2  # too soon to judge
    machine.run(20, own_cores=1.0, other_cores=1.0)
    assert watch.poll() == 1


@pytest.mark.parametrize("chosen", ["--threads", "OMP_NUM_THREADS", "never", "caller"])
def test_a_count_the_runtime_did_not_choose_is_left_alone(monkeypatch, chosen_by_us, chosen):
    """Given by the user, never chosen (library calls), or set by the caller after the
    runtime chose (a benchmark's 2-thread cell after an automatic 1)."""
    torch = chosen_by_us
    if chosen in ("--threads", "OMP_NUM_THREADS"):
        monkeypatch.setattr(runtime, "_CHOICE", runtime.ThreadChoice(2, chosen))
        torch.set_num_threads(2)
        runtime.retune_threads()
    else:
        monkeypatch.setattr(runtime, "_AUTOMATIC", None if chosen == "never" else 1)
    torch.set_num_threads(2)
    machine = FakeMachine(monkeypatch)
    watch = runtime.ThreadWatch(clock=lambda: machine.now, own_cpu=lambda: machine.own)
    machine.run(60, own_cores=1.0, other_cores=1.0)
    assert watch.poll() is None and torch.get_num_threads() == 2
