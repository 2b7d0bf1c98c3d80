"""One writer at a time: an exclusive ``flock`` on a lock file next to what is written.

The lock of a path ``<dir>/<name>`` (a store, a sweep directory, a netCDF file) is the file
``<dir>/.<name>.mfsim-lock``; its holder writes its pid, host and start time into it, so that a
second writer can name it, and removes it when done. The operating system releases the lock
when its holder dies (also on ``kill -9``), so a lock file left behind never blocks anyone.

``flock`` works on local file systems and on NFS (Linux emulates it with NFS byte-range locks,
served by NFSv4 or by lockd for NFSv3). Some FUSE and Lustre mounts refuse it (Lustre without
the ``flock`` mount option); there :func:`writer_lock` warns once and goes on without a lock.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import os
import socket
import threading
import warnings
from pathlib import Path

__all__ = ["LOCK_SUFFIX", "WriterLockedError", "holder", "lock_path", "writer_lock"]

#: Suffix of lock files: ``.<name>.mfsim-lock`` next to ``<name>``.
LOCK_SUFFIX = ".mfsim-lock"

#: errno values of file systems that do not support flock (the lock is skipped, with a warning)
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}

# locks this thread holds: path -> depth (re-entrant within a thread; another thread, like
# another process, opens its own descriptor and is refused)
_held = threading.local()


class WriterLockedError(RuntimeError):
    """Another live process (or thread) writes the same store or sweep directory."""


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of `target`: ``<parent>/.<name>.mfsim-lock``."""
    target = Path(target).absolute()
    return target.parent / f".{target.name}{LOCK_SUFFIX}"


def holder(target: str | os.PathLike) -> dict:
    """What the lock file of `target` says about its last holder (pid, host, since); ``{}``
    when there is none or it cannot be read."""
    try:
        return json.loads(lock_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _held_locks() -> dict:
    if not hasattr(_held, "locks"):
        _held.locks = {}
    return _held.locks


def _refusal(target: Path, what: str) -> WriterLockedError:
    info = holder(target)
    pid, host = info.get("pid", "unknown"), info.get("host", "unknown host")
    since = info.get("since", "an unknown time")
    return WriterLockedError(
        f"{target}: {what} is being written by another process (pid {pid} on {host}, since "
        f"{since}); wait until it has finished (or stop it: kill {pid}) and run again; the "
        "lock is released when that process ends"
    )


@contextlib.contextmanager
def writer_lock(target: str | os.PathLike, what: str = "this store"):
    """Hold the exclusive writer lock of `target` for the duration of the block.

    Parameters
    ----------
    target : path
        The store, file or sweep directory to be written (need not exist; its parent is
        created).
    what : str
        How the refusal names `target` ("the sweep directory", ...).

    Raises
    ------
    WriterLockedError
        Another process or thread holds the lock; the message names its pid and host.
        Never waits.

    Notes
    -----
    Re-entrant within one thread (a sweep that holds its directory's lock writes the stores
    inside it). On a file system without ``flock`` support a :class:`RuntimeWarning` says so and
    the block runs unlocked.
    """
    target = Path(target).absolute()
    path = lock_path(target)
    held = _held_locks()
    if path in held:
        held[path] += 1
        try:
            yield path
        finally:
            held[path] -= 1
        return
    fd, locked = _acquire(path, target, what)
    try:
        if locked:
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        held[path] = 1
        try:
            yield path
        finally:
            del held[path]
            if locked:
                # removed while still held: whoever opened it meanwhile finds, once it holds
                # the lock, that it is no longer the file at `path` and starts over
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    finally:
        os.close(fd)  # releases the lock


def _acquire(path: Path, target: Path, what: str) -> tuple[int, bool]:
    """Open and lock the lock file: (descriptor, whether it is locked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _refusal(target, what) from None
        except OSError as error:
            if error.errno not in _UNSUPPORTED:
                os.close(fd)
                raise
            warnings.warn(
                f"{path.parent}: the file system does not support locks (flock: {error}); "
                "concurrent writers of the same output are not detected",
                RuntimeWarning,
                stacklevel=4,
            )
            return fd, False
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd, True
        os.close(fd)  # the holder we waited for removed this file: lock the new one
