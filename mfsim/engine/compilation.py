"""Where the compiled kernels are cached, and compiling each of them once.

numba compiles a kernel specialization (rank token, storage dtype, layout) on its first call and
keeps it on disk (``cache=True``). By default numba files that cache in ``__pycache__`` beside
the source file. mfsim instead points numba's documented ``NUMBA_CACHE_DIR`` environment
variable ("if set, redirect the cache directory to this path") at one directory per mfsim
version, Python and numba version; :func:`direct_numba_cache` does so when :mod:`mfsim.engine`
is imported, before any module of mfsim imports numba:

* ``NUMBA_CACHE_DIR`` as the user set it, if set (on a cluster: a directory on the shared file
  system, so that every node reuses one compilation);
* else ``$XDG_CACHE_HOME/mfsim/<version>`` (default ``~/.cache/mfsim/<version>``), written into
  ``os.environ`` (so that worker and job processes started from this one inherit it);
* if that is not writable (read-only home, e.g. a container), a per-user directory under the
  system's temporary directory, with one warning.

numba files each source file's cache under that directory in a subdirectory named after the
source file's directory (its name and a hash of its absolute path). Two checkouts of the same
mfsim version therefore each compile their own copy, side by side in the same directory.

numba reads ``NUMBA_CACHE_DIR`` when it is imported. If the user's own code imported numba
before mfsim (and did not set ``NUMBA_CACHE_DIR``), mfsim cannot redirect it without touching
numba's internals: the kernels are then cached where numba puts them by default, silently.

numba's cache validates entries by the source file's stamp (modification time and size), so an
edited kernel is recompiled, never loaded stale.

Parallel jobs on a cold cache would all compile the same kernels at once (minutes each on a busy
machine). :func:`compiling` holds an exclusive file lock (``fcntl.flock``) in :func:`cache_dir`
around the first call of a specialization in a process: the first process compiles, the others
wait and then load its result. It prints one line on stderr when the first call takes long
(compilation), so that a silent pause is explained.

That stamp is the one of the source file that defines the kernel, not of the modules whose
jitted helpers it calls (the reduced kernel calls :mod:`mfsim.engine.graded`): after editing such
a helper in a checkout, delete the cache directory once. Installed versions are unaffected (the
directory is per mfsim version) and so is a fresh checkout (new stamps).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

# numba is not imported here: this module sets NUMBA_CACHE_DIR before numba is first imported
from mfsim._version import __version__

__all__ = [
    "cache_dir",
    "compile_seconds",
    "compiling",
    "direct_numba_cache",
    "COMPILE_MESSAGE_AFTER",
]

#: seconds after which the first call of a kernel is reported as compiling
COMPILE_MESSAGE_AFTER = 2.0

_ENGINE_DIR = Path(__file__).resolve().parent
#: file name of the lock around first calls, in :func:`cache_dir`
LOCK_NAME = "mfsim-compile.lock"
_state = {
    "root": None,  # the directory of cache_dir()
    "numba_dir": None,  # NUMBA_CACHE_DIR as numba reads it, or None (numba's default)
    "warned": False,
    "told": False,
    "seen": set(),
    "seconds": 0.0,
}
_lock = threading.RLock()


def _numba_version() -> str:
    # numba's own metadata: importing numba to read numba.__version__ would fix its cache
    # directory before NUMBA_CACHE_DIR is set
    try:
        return importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _version_tag() -> str:
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    return f"{__version__}-{py}-numba{_numba_version()}"


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _version_directory() -> Path:
    """``$XDG_CACHE_HOME/mfsim/<version>``, or the temporary fallback with one warning."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    primary = Path(base) / "mfsim" / _version_tag()
    if _writable(primary):
        return primary
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    fallback = Path(tempfile.gettempdir()) / f"mfsim-{uid}" / _version_tag()
    if not _writable(fallback):
        raise OSError(
            f"no writable directory for the numba kernel cache: {primary} and {fallback} "
            "are not writable; set NUMBA_CACHE_DIR to a writable directory"
        )
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(
            f"mfsim: {primary} is not writable; compiled kernels are cached in {fallback} "
            "(set NUMBA_CACHE_DIR to choose a persistent directory)",
            UserWarning,
            stacklevel=3,
        )
    return fallback


def direct_numba_cache() -> Path:
    """Point numba's kernel cache at mfsim's directory, before numba is first imported.

    Called by :mod:`mfsim.engine` on import; later calls return the same directory. Sets
    ``os.environ["NUMBA_CACHE_DIR"]`` to the per-version directory (module docstring) unless
    the user set ``NUMBA_CACHE_DIR`` (then honoured as given) or numba is already imported
    (then numba's default stays, since numba read its configuration on import).

    Returns
    -------
    pathlib.Path
        The same as :func:`cache_dir`.

    Raises
    ------
    OSError
        Neither the per-version directory nor its temporary fallback is writable.

    Warns
    -----
    UserWarning
        Once, when the per-version directory is not writable and the temporary fallback is used.
    """
    with _lock:
        if _state["root"] is not None:
            return _state["root"]
        given = os.environ.get("NUMBA_CACHE_DIR", "")
        if given:  # numba takes an empty value as unset, and so do we
            root = Path(given)
            root.mkdir(parents=True, exist_ok=True)
            _state["numba_dir"] = root
        elif "numba" in sys.modules:  # too late: numba has read its configuration
            root = _version_directory()
        else:
            root = _version_directory()
            os.environ["NUMBA_CACHE_DIR"] = str(root)
            _state["numba_dir"] = root
        _state["root"] = root
        return root


def cache_dir() -> Path:
    """The directory of the kernel cache and of the compile lock (created on first use).

    Returns
    -------
    pathlib.Path
        ``NUMBA_CACHE_DIR`` as numba uses it (the user's, or the per-version directory mfsim
        set; see the module docstring). When numba was imported before mfsim without
        ``NUMBA_CACHE_DIR``, the per-version directory, which then holds only the lock.
    """
    return direct_numba_cache()


def _cache_is_empty() -> bool:
    """No index file (``*.nbi``) of the kernels module where numba caches it."""
    numba_dir = _state["numba_dir"]
    if numba_dir is None:  # numba's default: __pycache__ beside the source
        return not any((_ENGINE_DIR / "__pycache__").glob("kernels.*.nbi"))
    # numba files the source's cache in a subdirectory named after the source's directory
    return not any(Path(numba_dir).rglob("kernels.*.nbi"))


@contextlib.contextmanager
def compiling(key, what: str = "kernels"):
    """Context of the first call of a kernel specialization ``key`` in this process.

    Holds an exclusive lock on ``cache_dir()/mfsim-compile.lock`` (other processes wait, then load
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

    cache_dir()  # sets _state["numba_dir"]
    where = _state["numba_dir"] or "numba's default cache beside mfsim's source"
    compiling_text = (
        f"compiling the numba {what} (first use of mfsim {__version__} on this machine: about "
        f"15 s of CPU time, longer on a busy machine; cached in {where} for later runs)"
    )
    with open(cache_dir() / LOCK_NAME, "a+") as handle:
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
            if _cache_is_empty():
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
