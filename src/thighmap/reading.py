"""The one way thighmap reads a file it is given (a plan, an import mapping): bounded and
never blocking.

:func:`read_regular_file` refuses what is not a regular file (a directory, a fifo, a
device such as ``/dev/zero``, a socket) before opening it, opens with ``O_NONBLOCK`` (so
that a path swapped for a fifo in between cannot block either), and reads at most
``max_bytes + 1`` bytes, so a file larger than the limit is refused without being read.
"""

from __future__ import annotations

import os
import stat


class FileRefused(ValueError):
    """The file cannot be read; the message says why (without the file's name)."""


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def read_regular_file(path: str | os.PathLike[str], max_bytes: int, what: str = "file") -> bytes:
    """The bytes of the regular file at ``path`` (at most ``max_bytes``); raises
    :class:`FileRefused` for anything else. ``what`` names the kind of file in messages
    ("plan file")."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused(f"is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"is not a regular file (a pipe, device or socket); give a {what}")
        if info.st_size > max_bytes:
            raise FileRefused(f"the file is {info.st_size} bytes; a {what} may be at most {_mib(max_bytes)}")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileRefused(f"is not a regular file (a pipe, device or socket); give a {what}")
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes:
                chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except FileRefused:
        raise
    except FileNotFoundError:
        raise FileRefused("file not found") from None
    except PermissionError:
        raise FileRefused("cannot read the file: permission denied") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte or a lone surrogate in the path
        raise FileRefused(f"cannot read the file: {getattr(exc, 'strerror', None) or exc}") from None
    if size > max_bytes:
        limit = _mib(max_bytes)
        raise FileRefused(f"the file is larger than {max_bytes} bytes; a {what} may be at most {limit}")
    return b"".join(chunks)
