"""Provenance of the sweep store: git commit of the code, the config, creation time."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["git_commit"]


def git_commit() -> tuple[str, bool | None]:
    """``(commit, dirty)`` of the checkout holding mfsim; ``("unknown", None)`` outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return commit, bool(dirty.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
