"""How many intra-op threads torch uses, chosen on purpose rather than left to the default.

torch starts one intra-op thread per core. On a small machine that is also running other
work, a thread that waits for a busy core stalls the whole operation: on a 2-core machine
with one other busy process, SmolLM2 training ran at 0.25-0.74 samples/s with 2 threads and
2.0-2.4 samples/s with 1 (issue 15). The default here is the cores this process may use
minus the ones already busy (the 1-minute load average), at least one; ``--threads`` or
``OMP_NUM_THREADS`` override it.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def choose_threads(requested: int | None = None) -> int:
    """``requested`` when given, else ``OMP_NUM_THREADS`` when set, else the idle cores."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"threads must be >= 1, got {requested}")
        return requested
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    cores = available_cores()
    busy = round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, min(cores, cores - busy))


def apply_threads(requested: int | None = None) -> int:
    """Set the thread count for this process before torch starts its pool.

    torch reads ``OMP_NUM_THREADS`` when it is imported, so setting the variable keeps
    commands that never import torch fast; an already imported torch is told directly
    when a count was asked for explicitly.
    """
    threads = choose_threads(requested)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if requested is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    log.debug("intra-op threads: %d (of %d cores)", threads, available_cores())
    return threads
