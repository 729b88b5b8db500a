"""The one way UniAD writes a file: temporary file + fsync + rename, disk errors named.

A reader never sees half a file (the rename is atomic on POSIX), a crash or a full disk
leaves the previous version in place, and ``ENOSPC`` / ``EROFS`` / ``EACCES`` become an
:class:`~uniad.errors.OutputError` that says which file and what to do, instead of an
``OSError`` traceback or, worse, an exit 0 with nothing written. Bytes go through
``os.write`` in a loop so a short write is finished, not silently dropped.
Libraries that write files themselves (matplotlib, espeak, ffmpeg) write to
:func:`atomic_path`'s temporary path and are renamed the same way.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from uniad.errors import OutputError

__all__ = ["output_error", "atomic_path", "write_bytes", "write_text", "write_json",
           "AppendLog", "refuse_existing_file"]

_WHY = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "the file is too large for this file system",
}


def output_error(err: OSError, path: str | Path, kept: str = "") -> OutputError:
    """A named error for ``err`` raised while writing ``path``; ``kept`` says what survived."""
    why = _WHY.get(err.errno or 0, err.strerror or str(err))
    hint = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space",
            errno.EROFS: "choose a writable folder", errno.EACCES: "choose a writable folder",
            errno.EPERM: "choose a writable folder"}.get(err.errno or 0, "check the folder")
    tail = f"; {kept}" if kept else ""
    return OutputError(f"cannot write {path}: {why} ({hint}){tail}")


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some file systems refuse directory fsync."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; on a clean exit it is fsynced and renamed
    onto ``path``, on any failure removed (``path`` keeps its earlier content)."""
    target = Path(path)
    # The suffix stays last: programs such as ffmpeg choose the format by it.
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as err:
        raise output_error(err, target) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _fsync_dir(target.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # a device that takes nothing: treat as full rather than spin
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``."""
    target = Path(path)
    with atomic_path(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    return target


def write_text(path: str | Path, text: str) -> Path:
    """Atomically replace ``path`` with UTF-8 ``text``."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    """Atomically replace ``path`` with ``data`` as JSON (non-ASCII kept readable)."""
    return write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


class AppendLog:
    """A line log that grows by whole batches (``predictions.jsonl``, ``metrics.jsonl``).

    Each :meth:`append` writes its lines with ``os.write`` and fsyncs, so what returned
    is on disk; a failure mid-batch cuts the file back to its last complete batch and
    raises an OutputError saying how many lines were kept.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as err:
            raise output_error(err, self.path) from None

    def append(self, lines: list[str]) -> None:
        data = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        size = os.fstat(self._fd).st_size
        try:
            _write_all(self._fd, data.encode("utf-8"))
            os.fsync(self._fd)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)  # no torn line for the next reader
            raise output_error(err, self.path, kept=f"{self.path} keeps its earlier "
                               "complete lines") from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refuse_existing_file(path: str | Path | None, flag: str) -> None:
    """Refuse an output path that is an existing file where a folder is wanted, before
    any work starts (so a mistake costs a second, not a model run)."""
    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{flag} {p}: is an existing file, expected a folder "
                          "(choose another path)")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{flag} {p}: {parent} is a file, not a folder")
            break


def writable_folder(path: str | Path, flag: str) -> Path:
    """Create the output folder ``path`` and prove it takes a file, before any work
    starts: a read-only disk or a missing permission is named now, not after the first
    paid describer call or an hour of decoding."""
    refuse_existing_file(path, flag)
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".uniad-write-test-"):
            pass
    except OSError as err:
        raise OutputError(f"{flag} {folder}: cannot write there ({err.strerror or err}); "
                          "choose a folder you can write to") from None
    return folder
