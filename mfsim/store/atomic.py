"""Atomic store writes: into ``<out>.tmp-<uuid>``, then the completion marker, then a rename.

A store without the marker :data:`MARKER` (an interrupted or foreign write) is never read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

__all__ = ["MARKER", "IncompleteStoreError", "atomic_store", "is_complete", "read_marker"]

#: Completion marker: a JSON file written inside a store after all its data, before the rename.
MARKER = ".mfsim-complete"


class IncompleteStoreError(RuntimeError):
    """A store that lacks the completion marker (an interrupted or foreign write)."""


def is_complete(path: str | os.PathLike) -> bool:
    """Whether `path` is a store whose completion marker is present."""
    return (Path(path) / MARKER).is_file()


def read_marker(path: str | os.PathLike) -> dict:
    """The JSON content of the completion marker of a complete store."""
    with open(Path(path) / MARKER, encoding="utf-8") as stream:
        return json.load(stream)


def _remove_stale_temporaries(out: Path) -> None:
    for stale in out.parent.glob(f"{out.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _write_marker(store: Path, info: dict) -> None:
    path = store / MARKER
    with open(path, "w", encoding="utf-8") as stream:
        json.dump({"complete": 1, **info}, stream, sort_keys=True)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_store(out_path: str | os.PathLike, info: dict):
    """Yield a temporary path to write a store into; on success write the marker (holding
    `info`) and rename the store to `out_path` (replacing an existing one); on failure remove
    it. Stale temporaries of earlier interrupted writes are removed first."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)
    tmp = out.with_name(f"{out.name}.tmp-{uuid.uuid4().hex}")
    try:
        yield tmp
        _write_marker(tmp, info)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
