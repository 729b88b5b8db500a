"""Errors that tell a user which file, which record and which field is wrong.

Every loader in UniAD raises :class:`DataError` (or collects several of them in a
:class:`DataErrors`) instead of letting a ``KeyError`` or ``ValueError`` escape, so the
command line can print one readable line per problem and exit non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    ``record`` is the record's position (an int for list formats, a key for dict formats),
    ``field`` the dotted path inside the record (``"context[0].start"``).
    """

    file: str
    message: str
    record: int | str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}"


class UniADError(Exception):
    """Base class for errors the CLI reports as a message rather than a traceback."""


class ConfigError(UniADError, ValueError):
    """A setting (preset, YAML file, ``--set`` or a flag) of the wrong type or range."""


class OutputError(UniADError):
    """An output could not be written (disk full, read-only, no permission, or a file
    in the way); what was already written is kept and the message says where."""


class CheckpointError(UniADError, ValueError):
    """A checkpoint folder or one of its files is missing, unreadable or inconsistent."""


class DataError(UniADError, ValueError):
    """A single problem with an input file."""

    def __init__(
        self,
        file: str | Path,
        message: str,
        record: int | str | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = Problem(str(file), message, record, field)
        super().__init__(str(self.problem))


class DataErrors(UniADError, ValueError):
    """Several problems found in one pass (``uniad data validate`` reports them all)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        shown = "\n".join(str(p) for p in self.problems[:50])
        more = len(self.problems) - 50
        tail = f"\n... and {more} more problems" if more > 0 else ""
        super().__init__(f"{len(self.problems)} problem(s):\n{shown}{tail}")
