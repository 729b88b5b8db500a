"""pycocoevalcap's METEOR 1.5 for a whole set at once, pipelined.

REFRAMED scores gap METEOR and every SODA similarity cell with pycocoevalcap's ``Meteor``
(``SCORE ||| refs ||| hypothesis`` lines, then one ``EVAL`` line of their statistics).
A segment's METEOR depends only on its own line, so we send exactly those lines for a
whole set at once: identical requests are scored once, SCORE lines are streamed by a
writer thread instead of one round trip each, and EVAL goes in chunks. The Java start
(loading the paraphrase tables, several seconds) is paid once per set, not per gap. A
very large set (a whole film as one SODA item needs #cues x #reference cues requests) is
shared between a few METEOR processes on machines with the cores for it; each request
still gets the very line and score it would alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from uniad.errors import UniADError

log = logging.getLogger(__name__)

Request = tuple[str, tuple[str, ...]]  # (hypothesis, references), PTB-tokenized strings
EVAL_CHUNK = 10
PROGRESS_EVERY = 20_000
PER_PROCESS = 20_000  # requests before a second METEOR process pays for its start
MAX_PROCESSES = 4  # each holds the paraphrase tables (about 1.5 GB)


def _score_line(hypothesis: str, references: Sequence[str]) -> str:
    """The line pycocoevalcap's ``Meteor._stat`` writes for one request."""
    hypothesis = hypothesis.replace("|||", "").replace("  ", " ")
    return " ||| ".join(("SCORE", " ||| ".join(references), hypothesis))


def _pipelined(process, lines: Sequence[str], answers: Sequence[int]) -> list[str]:
    """Write ``lines`` from a thread while reading ``answers[i]`` output lines for line i:
    no round trip per line, and neither pipe fills up while the other waits."""
    def write_all() -> None:
        try:
            for line in lines:
                process.stdin.write((line + "\n").encode("utf-8"))
            process.stdin.flush()
        except OSError:  # Java died: the reader below reports it
            pass

    writer = threading.Thread(target=write_all, daemon=True)
    writer.start()
    out, total, done = [], sum(answers), 0
    for _ in range(total):
        line = process.stdout.readline()
        if not line:
            raise UniADError("METEOR (Java) stopped before answering every request")
        out.append(line.decode("utf-8").strip())
        done += 1
        if done % PROGRESS_EVERY == 0:
            log.info("METEOR: %d of %d lines answered", done, total)
    writer.join()
    return out


def _one_process(requests: Sequence[Request]) -> list[float]:
    """Scores of ``requests`` from one pycocoevalcap METEOR process: all SCORE lines, then
    their statistics in small EVAL lines (METEOR reads long EVAL lines slowly)."""
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    try:
        stats = _pipelined(scorer.meteor_p, [_score_line(h, r) for h, r in requests],
                           [1] * len(requests))
        chunks = [stats[i:i + EVAL_CHUNK] for i in range(0, len(stats), EVAL_CHUNK)]
        answers = _pipelined(scorer.meteor_p, ["EVAL ||| " + " ||| ".join(c) for c in chunks],
                             [len(c) + 1 for c in chunks])  # each chunk ends with its aggregate
        scores, at = [], 0
        for chunk in chunks:
            scores += [float(a) for a in answers[at:at + len(chunk)]]
            at += len(chunk) + 1
        return scores
    finally:
        del scorer  # its __del__ stops the Java process


def meteor_scores(requests: Sequence[Request]) -> list[float]:
    """METEOR (0..1) of each ``(hypothesis, references)`` request, in order."""
    from uniad.text import JAVA_MISSING, java_available

    unique = list(dict.fromkeys(requests))
    if not unique:
        return []
    if not java_available():
        raise UniADError(f"METEOR needs Java: {JAVA_MISSING}")
    processes = max(1, min(os.cpu_count() or 1, MAX_PROCESSES, len(unique) // PER_PROCESS))
    log.info("METEOR: scoring %d unique requests (of %d) in %d Java process(es)",
             len(unique), len(requests), processes)
    started = time.perf_counter()
    size = -(-len(unique) // processes)
    slices = [unique[i:i + size] for i in range(0, len(unique), size)]
    with ThreadPoolExecutor(max_workers=len(slices)) as pool:
        scores = [s for part in pool.map(_one_process, slices) for s in part]
    log.info("METEOR: %d requests in %.1f s", len(unique), time.perf_counter() - started)
    by_request = dict(zip(unique, scores))
    return [by_request[r] for r in requests]
