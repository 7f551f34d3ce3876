"""The one way thighmap writes a file: atomically, fsynced, with nothing left behind.

Every file the program writes (plans, recovery files and their metadata, reports,
meshes, images, exports) goes through :func:`write_atomic` (or
:func:`atomic_destination` for libraries that insist on writing a path themselves).

How: the data goes to a partial file beside the target, named after it
(``.<name>.thighmap-partial``), which is flushed and fsynced, then ``os.replace``-d onto
the target, and the directory is fsynced where the platform allows. Readers see the old
file or the new one, never half of one. On any failure the partial file is removed and
the target is untouched. The partial file's name is fixed per target (not random), so a
process killed mid-write leaves at most one partial file per target, and the next write
of that target reuses and removes it; :func:`remove_stale_partials` clears them from a
folder. Writers of the same target in one process are serialised by a lock; across
processes the last ``os.replace`` wins with a complete file. An existing target's
permission bits are kept; writing goes through a symbolic link to the file it names.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

PARTIAL_SUFFIX = ".thighmap-partial"

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def partial_path(target: str | os.PathLike[str]) -> Path:
    """Where the partial file of ``target`` is written before it replaces it."""
    t = Path(target)
    return t.with_name(f".{t.name}{PARTIAL_SUFFIX}")


def _resolve(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(path))  # through a symlink, not over it


def _lock_for(target: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(target), threading.Lock())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename inside ``directory`` durable (a no-op where folders cannot be opened)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _existing_mode(target: Path) -> int | None:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return None


def _commit(partial: Path, target: Path) -> None:
    mode = _existing_mode(target)
    if mode is not None:
        os.chmod(partial, mode)
    os.replace(partial, target)
    fsync_directory(target.parent)


def _discard(partial: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(partial)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` (bytes, or text encoded with ``encoding``) to ``path`` atomically.

    Returns the real path written. Raises ``OSError`` (the target untouched, no partial
    file left) when the folder is missing or not writable, the disk is full, etc."""
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    with atomic_destination(path) as partial:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
        try:
            _write_all(fd, payload)
        finally:
            os.close(fd)
    return _resolve(path)


@contextlib.contextmanager
def atomic_destination(path: str | os.PathLike[str]) -> Iterator[Path]:
    """For writers that need a path (matplotlib's PdfPages, VTK, image savers).

    Yields the partial file's path; when the block ends without an exception the file
    written there is fsynced and replaces ``path``; otherwise it is removed and
    ``path`` is untouched. The writer must keep the file name it is given (libraries
    that choose a format by extension should be told the format explicitly)."""
    target = _resolve(path)
    partial = partial_path(target)
    with _lock_for(target):
        _discard(partial)
        try:
            yield partial
            if not partial.is_file():
                raise OSError(f"{target}: the writer produced no file")
            fd = os.open(partial, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _commit(partial, target)
        except BaseException:
            _discard(partial)
            raise


def remove_stale_partials(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove partial files that a killed writer left in ``directory``; returns them.

    Only call this where no other thighmap process may be writing at the same time."""
    removed: list[Path] = []
    try:
        entries = list(Path(directory).glob(f".*{PARTIAL_SUFFIX}"))
    except OSError:
        return removed
    for p in entries:
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed
