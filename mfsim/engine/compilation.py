"""Where the compiled kernels are cached, and compiling each of them once.

numba compiles a kernel specialization (rank token, storage dtype, layout) on its first call and
keeps it on disk (``cache=True``). By default numba files the cache under the source file's
directory, so every checkout of mfsim compiled its own copy. Here the cache of the engine's
modules lives in one directory per mfsim version, Python and numba version, whatever checkout or
working directory imports the package:

* ``$NUMBA_CACHE_DIR/mfsim/<version>`` when the user set ``NUMBA_CACHE_DIR`` (on a cluster: a
  directory on the shared file system, so that every node reuses one compilation);
* else ``$XDG_CACHE_HOME/mfsim/<version>`` (default ``~/.cache/mfsim/<version>``);
* if that is not writable (read-only home, e.g. a container), a per-user directory under the
  system's temporary directory, with one warning.

numba's cache validates entries by a hash of the source file's contents, so an edited kernel is
recompiled, never loaded stale.

Parallel jobs on a cold cache would all compile the same kernels at once (minutes each on a busy
machine). :func:`compiling` holds an exclusive file lock (``fcntl.flock``) in the cache directory
around the first call of a specialization in a process: the first process compiles, the others
wait and then load its result. It prints one line on stderr when the first call takes long
(compilation), so that a silent pause is explained.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numba
from numba.core import caching

from mfsim._version import __version__

__all__ = ["cache_dir", "compile_seconds", "compiling", "install", "COMPILE_MESSAGE_AFTER"]

#: seconds after which the first call of a kernel is reported as compiling
COMPILE_MESSAGE_AFTER = 2.0

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
_state = {"root": None, "warned": False, "told": False, "seen": set(), "seconds": 0.0}
_lock = threading.Lock()


def _version_tag() -> str:
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    return f"{__version__}-{py}-numba{numba.__version__}"


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def cache_dir() -> Path:
    """The kernel cache directory of this mfsim version (created on first use).

    Returns
    -------
    pathlib.Path
        See the module docstring for the order of the candidates. Warns (once, ``UserWarning``)
        when it falls back to the temporary directory.
    """
    with _lock:
        if _state["root"] is not None:
            return _state["root"]
        tag = _version_tag()
        user = os.environ.get("NUMBA_CACHE_DIR")
        if user:
            primary = Path(user) / "mfsim" / tag
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
                os.path.expanduser("~"), ".cache"
            )
            primary = Path(base) / "mfsim" / tag
        if _writable(primary):
            root = primary
        else:
            uid = os.getuid() if hasattr(os, "getuid") else "user"
            root = Path(tempfile.gettempdir()) / f"mfsim-{uid}" / tag
            if not _writable(root):
                raise OSError(
                    f"no writable directory for the numba kernel cache: {primary} and {root} "
                    "are not writable; set NUMBA_CACHE_DIR to a writable directory"
                )
            if not _state["warned"]:
                _state["warned"] = True
                warnings.warn(
                    f"mfsim: {primary} is not writable; compiled kernels are cached in {root} "
                    "(set NUMBA_CACHE_DIR to choose a persistent directory)",
                    UserWarning,
                    stacklevel=2,
                )
        _state["root"] = root
        return root


class _EngineCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator for the modules of ``mfsim.engine``: :func:`cache_dir`/<module>."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        module = os.path.splitext(os.path.basename(py_file))[0]
        self._cache_path = str(cache_dir() / module)

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        """(mtime, size) of every module of ``mfsim.engine``: a kernel compiled with a helper
        from another engine module (the reduced kernel calls :mod:`mfsim.engine.graded`) is
        recompiled when that module changes, not loaded stale."""
        stamps = []
        for name in sorted(os.listdir(_ENGINE_DIR)):
            if name.endswith(".py"):
                st = os.stat(os.path.join(_ENGINE_DIR, name))
                stamps.append((name, st.st_mtime, st.st_size))
        return tuple(stamps)

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != _ENGINE_DIR:
            return None
        return super().from_function(py_func, py_file)


def install() -> None:
    """Put the engine's cache locator first in numba's list (before any kernel is decorated)."""
    classes = caching.CacheImpl._locator_classes
    if _EngineCacheLocator not in classes:
        classes.insert(0, _EngineCacheLocator)


@contextlib.contextmanager
def compiling(key, what: str = "kernels"):
    """Context of the first call of a kernel specialization ``key`` in this process.

    Holds an exclusive lock on ``cache_dir()/compile.lock`` (other processes wait, then load
    the compiled result from the cache) and prints one line on stderr, once per process: at once
    when the cache holds no kernel yet, else only if the call takes longer than
    :data:`COMPILE_MESSAGE_AFTER` seconds; a process that finds the lock taken says, once it has
    waited that long, that it waits for another process's compilation instead. Whoever said
    either says when the kernels are ready. Later calls with the same key do nothing.
    """
    if key in _state["seen"]:
        yield
        return
    timer = None
    started = time.perf_counter()
    announced = []

    def tell(text: str) -> None:
        _state["told"] = True
        announced.append(text)
        print(f"mfsim: {text}", file=sys.stderr, flush=True)

    compiling_text = (
        f"compiling the numba {what} (first use of mfsim {__version__} on this machine: about "
        f"15 s of CPU time, longer on a busy machine; cached in {cache_dir()} for later runs)"
    )
    with open(cache_dir() / "compile.lock", "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process holds the lock: it compiles or loads
            waiting = None
            if not _state["told"]:
                # loading from a warm cache holds the lock for a fraction of a second: say it
                # only when the wait is long, i.e. the other process is compiling
                text = f"waiting for another process that is compiling the numba {what}"
                waiting = threading.Timer(COMPILE_MESSAGE_AFTER, tell, args=(text,))
                waiting.daemon = True
                waiting.start()
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if waiting is not None:
                waiting.cancel()
        if not _state["told"]:
            if not any((cache_dir() / "kernels").glob("*.nbi")):
                tell(compiling_text)  # an empty cache: say it before compiling starts
            else:  # a new specialization beside cached ones: say it only if it takes a while
                timer = threading.Timer(COMPILE_MESSAGE_AFTER, tell, args=(compiling_text,))
                timer.daemon = True
                timer.start()
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            elapsed = time.perf_counter() - started
            _state["seconds"] += elapsed
            if announced:  # said that it compiles (or waits): say when it is done
                message = f"mfsim: numba {what} ready after {elapsed:.0f} s"
                print(message, file=sys.stderr, flush=True)
    _state["seen"].add(key)


def compile_seconds() -> float:
    """Wall seconds this process spent in first calls of kernel specializations (compiling,
    waiting for another process's compilation, or loading from the cache): what progress rates
    and ``wall_time`` leave out."""
    return _state["seconds"]
