"""OS file locks (`flock`) that name their holder.

The kernel drops a `flock` when its process dies, however it dies (SIGKILL, OOM kill), so a lock
left by a killed process never blocks the next one, and no clean-up step exists to forget. Lock
files are never deleted (deleting a locked file would let a second process lock a new file of the
same name). Each holds the pid and command of its current holder, for error messages.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
from pathlib import Path


def _open(path: Path) -> tuple[int, bool]:
    """(fd, writable). flock needs no write access, so another user's lock file still works."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        with contextlib.suppress(PermissionError):
            os.fchmod(fd, 0o666)  # umask must not lock other users out
        return fd, True
    except PermissionError:
        return os.open(path, os.O_RDONLY), False


def try_lock(path: str | os.PathLike) -> int | None:
    """An fd holding the exclusive lock on `path` (created if absent), or None when another process
    holds it. The file then names this process as its holder."""
    fd, writable = _open(Path(path))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    if writable:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode(), 0)
    return fd


def release(*fds: int) -> None:
    for fd in fds:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def holder(path: str | os.PathLike) -> str:
    """Who the lock file says holds it ("?" if unknown; may be stale for a free lock)."""
    try:
        return Path(path).read_text().strip() or "?"
    except OSError:
        return "?"
