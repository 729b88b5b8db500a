"""pycocoevalcap's METEOR 1.5 for a whole set in one Java process, pipelined.

REFRAMED scores gap METEOR and every SODA similarity cell with pycocoevalcap's ``Meteor``
(``SCORE ||| refs ||| hypothesis`` lines, then one ``EVAL`` line of their statistics).
A segment's METEOR depends only on its own line, so we send exactly those lines for a
whole set at once: identical requests are scored once, SCORE lines are streamed by a
writer thread instead of one round trip each, and EVAL goes in chunks. The Java start
(loading the paraphrase tables, several seconds) is paid once per set, not per gap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from uniad.errors import UniADError

log = logging.getLogger(__name__)

Request = tuple[str, tuple[str, ...]]  # (hypothesis, references), PTB-tokenized strings
EVAL_CHUNK = 1000
PROGRESS_EVERY = 20_000


def _score_line(hypothesis: str, references: Sequence[str]) -> str:
    """The line pycocoevalcap's ``Meteor._stat`` writes for one request."""
    hypothesis = hypothesis.replace("|||", "").replace("  ", " ")
    return " ||| ".join(("SCORE", " ||| ".join(references), hypothesis))


def meteor_scores(requests: Sequence[Request]) -> list[float]:
    """METEOR (0..1) of each ``(hypothesis, references)`` request, in order; progress is
    logged every ``PROGRESS_EVERY`` requests (a whole film as one SODA item can need many)."""
    from uniad.text import JAVA_MISSING, java_available

    unique = list(dict.fromkeys(requests))
    if not unique:
        return []
    if not java_available():
        raise UniADError(f"METEOR needs Java: {JAVA_MISSING}")
    from pycocoevalcap.meteor.meteor import Meteor

    log.info("METEOR: scoring %d unique requests (of %d) in one Java process",
             len(unique), len(requests))
    started = time.perf_counter()
    scorer = Meteor()
    process = scorer.meteor_p
    failure: list[BaseException] = []

    def write_all() -> None:
        try:
            for hypothesis, references in unique:
                process.stdin.write((_score_line(hypothesis, references) + "\n").encode("utf-8"))
            process.stdin.flush()
        except OSError as exc:  # Java died: the reader below reports it
            failure.append(exc)

    try:
        writer = threading.Thread(target=write_all, daemon=True)
        writer.start()
        stats = []
        for n in range(len(unique)):
            line = process.stdout.readline()
            if not line:
                raise UniADError("METEOR (Java) stopped before answering every request")
            stats.append(line.decode("utf-8").strip())
            if (n + 1) % PROGRESS_EVERY == 0:
                log.info("METEOR: %d of %d requests scored", n + 1, len(unique))
        writer.join()
        scores: list[float] = []
        for begin in range(0, len(stats), EVAL_CHUNK):
            chunk = stats[begin:begin + EVAL_CHUNK]
            process.stdin.write(("EVAL ||| " + " ||| ".join(chunk) + "\n").encode("utf-8"))
            process.stdin.flush()
            scores += [float(process.stdout.readline().strip()) for _ in chunk]
            process.stdout.readline()  # the chunk's aggregate score
    finally:
        del scorer  # its __del__ stops the Java process
    log.info("METEOR: %d unique of %d requests in %.1f s", len(unique), len(requests),
             time.perf_counter() - started)
    by_request = dict(zip(unique, scores))
    return [by_request[r] for r in requests]
