"""A real small file system for full-disk tests: a tmpfs of a given size (needs root)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

__all__ = ["mounted_tmpfs", "tree_snapshot"]


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str):
    """Mount a tmpfs of `size` (``mount -o size=...``, e.g. ``"1200k"``) at `path` for the
    block; skipped (pytest.skip) unless the tests run as root. Unmounted afterwards (lazily,
    should a file still be open)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def tree_snapshot(path: Path) -> dict[str, bytes]:
    """Relative path -> content of every file under `path` (byte-identity of stores)."""
    return {
        file.relative_to(path).as_posix(): file.read_bytes()
        for file in sorted(path.rglob("*"))
        if file.is_file()
    }
