"""The index of the current plan: which chunk plan files of ``results/<sweep>/plan/`` belong to
the sweep's current config.

Plan files of an earlier config stay in ``plan/`` (and their chunk stores in ``chunks/``) after
a config change, so that changing it back reuses them; ``mfsim status`` counts only the chunks
listed in ``plan/current.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["INDEX_NAME", "read_plan_index", "write_plan_index"]

#: File of the current plan's chunk ids, in ``<sweep_dir>/plan/``.
INDEX_NAME = "current.json"


def write_plan_index(chunk_ids, sweep_dir: str | os.PathLike) -> Path:
    """Write ``<sweep_dir>/plan/current.json``: the chunk ids of the current plan, in order.

    Written atomically (temporary name, then rename) and only when its content changes.

    Parameters
    ----------
    chunk_ids : iterable of str
        Chunk ids of the current plan.
    sweep_dir : path
        ``results/<sweep>``.

    Returns
    -------
    pathlib.Path
        The index file.
    """
    path = Path(sweep_dir) / "plan" / INDEX_NAME
    text = json.dumps({"chunks": list(chunk_ids)}, indent=0) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_plan_index(sweep_dir: str | os.PathLike) -> list[str] | None:
    """The chunk ids of the current plan, or None when the directory has no index (a sweep
    directory written before the index existed: then every plan file counts)."""
    path = Path(sweep_dir) / "plan" / INDEX_NAME
    if not path.is_file():
        return None
    return list(json.loads(path.read_text(encoding="utf-8"))["chunks"])
