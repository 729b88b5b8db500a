"""How many intra-op threads torch uses, chosen on purpose rather than left to the default.

torch starts one intra-op thread per core. On a small machine that is also running other
work, a thread that waits for a busy core stalls the whole operation: on a 2-core machine
with one other busy process, SmolLM2 training ran at 0.25-0.74 samples/s with 2 threads and
2.0-2.4 samples/s with 1 (issue 15). The default here is the cores that are idle *now*:
the machine's idle time sampled from ``/proc/stat`` over :data:`SAMPLE_S` seconds, at least
one thread and at most the cores this process may use. (The 1-minute load average, used
before, still counts a setup's pip and apt a minute after they ended: the demo then trained
on 1 thread of 2 on an idle machine, 568 s instead of about 230 s.) ``--threads`` or
``OMP_NUM_THREADS`` override it; long work (``uniad train``) samples again when its loop
starts (:func:`retune_threads`) and keeps the count right while it runs (:class:`ThreadWatch`:
another process may start or end mid-run), and the log says what was chosen and why.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

SAMPLE_S = 0.3  # how long idle time is sampled: long enough to average a scheduler tick
# How often a training loop looks at the machine again: a few SmolLM2 steps, long enough
# that one reading averages a thousand scheduler ticks, short enough that a process
# arriving mid-run costs only a few slow steps (~3x a normal one with 2 threads).
WATCH_EVERY_S = 10.0
_GIVEN = ("--threads", "OMP_NUM_THREADS")  # reasons that mean a person chose the count
_SET_BY_US: str | None = None  # the OMP_NUM_THREADS value apply_threads wrote, if any
# The count retune_threads (or ThreadWatch after it) last chose on its own: only a count the
# runtime chose itself, and nobody has set since, is the runtime's to change.
_AUTOMATIC: int | None = None


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str  # for the log: which rule chose, with its numbers


_CHOICE: ThreadChoice | None = None  # apply_threads' choice


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_times() -> tuple[int, int, int] | None:
    """``(idle, total, cores)`` jiffies from ``/proc/stat`` (idle includes iowait), None
    where there is no such file."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    fields = [int(x) for x in lines[0].split()[1:]]
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8]), cores


def idle_cores(seconds: float | None = None) -> float | None:
    """How many of the machine's cores were idle over the next ``seconds`` (:data:`SAMPLE_S`)."""
    seconds = SAMPLE_S if seconds is None else seconds
    first = cpu_times()
    if first is None:
        return None
    time.sleep(seconds)
    second = cpu_times()
    if second is None:
        return None
    idle, total = second[0] - first[0], second[1] - first[1]
    return second[2] * idle / total if total > 0 else float(second[2])


def _user_environment() -> int | None:
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0 and configured != _SET_BY_US:
        return int(configured)
    return None


def thread_choice(requested: int | None = None) -> ThreadChoice:
    """``requested`` when given, else ``OMP_NUM_THREADS`` when the user set it, else the
    cores idle right now (see the module doc)."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"threads must be >= 1, got {requested}")
        return ThreadChoice(requested, "--threads")
    configured = _user_environment()
    if configured is not None:
        return ThreadChoice(configured, "OMP_NUM_THREADS")
    cores = available_cores()
    idle = idle_cores()
    if idle is None and hasattr(os, "getloadavg"):
        busy = os.getloadavg()[0]
        threads = max(1, min(cores, round(cores - busy)))
        return ThreadChoice(threads, f"1-minute load average {busy:.1f} (no /proc/stat)")
    if idle is None:
        return ThreadChoice(cores, "no idle-time source")
    threads = max(1, min(cores, round(idle)))
    return ThreadChoice(threads, f"{idle:.1f} core(s) idle over {SAMPLE_S} s, {cores} usable")


def choose_threads(requested: int | None = None) -> int:
    return thread_choice(requested).threads


def apply_threads(requested: int | None = None) -> int:
    """Set the thread count for this process before torch starts its pool.

    torch reads ``OMP_NUM_THREADS`` when it is imported, so setting the variable keeps
    commands that never import torch fast; an already imported torch is told directly
    when a count was asked for explicitly.
    """
    global _SET_BY_US, _CHOICE
    _CHOICE = choice = thread_choice(requested)
    os.environ["OMP_NUM_THREADS"] = _SET_BY_US = str(choice.threads)
    if requested is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(choice.threads)
    log.debug("intra-op threads: %d (%s)", choice.threads, choice.reason)
    return choice.threads


def retune_threads() -> ThreadChoice:
    """Choose again where long work starts (what ran before it, such as a setup's pip or
    our own model loading, may have ended since the command started), unless the count was
    given (``--threads``, ``OMP_NUM_THREADS``); tells torch and logs the choice and why."""
    import torch

    global _AUTOMATIC
    given = _CHOICE is not None and _CHOICE.reason in _GIVEN
    if given or _user_environment() is not None:
        choice = ThreadChoice(torch.get_num_threads(), _CHOICE.reason if given else "OMP_NUM_THREADS")
        _AUTOMATIC = None
    else:
        choice = thread_choice(None)
        torch.set_num_threads(choice.threads)
        _AUTOMATIC = choice.threads
    log.info("training on %d thread(s): %s", choice.threads, choice.reason)
    return choice


@dataclass(frozen=True)
class _Reading:
    at: float  # monotonic seconds
    busy: float  # core-seconds the whole machine was not idle
    own: float  # CPU seconds of this process, all its threads (spinning ones too)
    cores: int  # the machine's, as /proc/stat lists them


class ThreadWatch:
    """Keeps an automatic thread count right while long work runs.

    The count chosen when a loop starts goes stale when another process starts later: on
    2 cores a 2-thread SmolLM2 loop beside one busy process crawls (0.25-0.74 samples/s,
    and 37 s a step beside a second training), where 1 thread keeps ~2.4; and when the
    other process ends, 1 thread leaves a core idle. Every :data:`WATCH_EVERY_S` seconds
    :meth:`poll` counts the cores the *other* processes used since its last look (the
    machine's busy time from ``/proc/stat`` minus this process's CPU time, which includes
    its own waiting threads) and sets torch's threads to the cores left, rounded, between 1
    and this process's cores. It only changes a count :func:`retune_threads` chose itself
    and nobody has set since: inert where the count was given (``--threads``,
    ``OMP_NUM_THREADS``), where the caller set its own (``uniad bench train``'s 1-thread and
    all-thread cells), in library calls that never chose one, and without ``/proc/stat``.
    """

    def __init__(self, every_s: float = WATCH_EVERY_S, *,
                 clock: Callable[[], float] = time.monotonic,
                 own_cpu: Callable[[], float] = time.process_time) -> None:
        import torch

        self.every_s, self._clock, self._own_cpu = every_s, clock, own_cpu
        self._ticks_per_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        ours = _AUTOMATIC is not None and torch.get_num_threads() == _AUTOMATIC
        self._last = self._read() if ours else None

    def _read(self) -> _Reading | None:
        times = cpu_times()
        if times is None:
            return None
        idle, total, cores = times
        return _Reading(self._clock(), (total - idle) / self._ticks_per_s, self._own_cpu(), cores)

    def poll(self) -> int | None:
        """Look again if :attr:`every_s` has passed; the new thread count when it changed."""
        global _AUTOMATIC
        if self._last is None or self._clock() - self._last.at < self.every_s:
            return None
        import torch

        now = self._read()
        if now is None:
            self._last = None
            return None
        seconds = now.at - self._last.at
        others = max(0.0, (now.busy - self._last.busy) - (now.own - self._last.own)) / seconds
        self._last = now
        threads = max(1, min(available_cores(), math.floor(now.cores - others + 0.5)))
        before = torch.get_num_threads()
        if threads == before:
            return None
        torch.set_num_threads(threads)
        _AUTOMATIC = threads
        log.info("training on %d thread(s) instead of %d: other processes used %.1f of %d "
                 "core(s) over the last %.0f s", threads, before, others, now.cores, seconds)
        return threads
