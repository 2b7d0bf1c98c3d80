"""Whether worker processes can be started from the calling script (the main guard).

Dask's ``LocalCluster`` starts its workers with multiprocessing's ``spawn`` method, which
imports the caller's ``__main__`` file again in every new process. A script that calls
``mfsim.sweep(...)`` at its top level, outside ``if __name__ == "__main__":``, would then start
a sweep in each worker, and the workers fail to start ("Nanny failed to start").
:func:`spawn_unsafe_call` finds that case, so that :func:`mfsim.sweep` runs in-process instead.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from pathlib import Path

__all__ = ["guarded_lines", "spawn_unsafe_call"]


def _is_main_test(node: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either order)."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return False
    if not isinstance(node.ops[0], ast.Eq):
        return False
    sides = [node.left, node.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    values = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]


@functools.lru_cache(maxsize=16)
def guarded_lines(source: str) -> tuple[tuple[int, int], ...]:
    """Line ranges ``(first, last)`` of the bodies of module-level main guards in `source`.

    Parameters
    ----------
    source : str
        Python source of a script.

    Returns
    -------
    tuple of (int, int)
        1-based inclusive line ranges; empty when the script has no guard or does not parse.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    return tuple(
        (node.body[0].lineno, node.end_lineno)
        for node in tree.body
        if isinstance(node, ast.If) and _is_main_test(node.test)
    )


def spawn_unsafe_call() -> str | None:
    """The script whose top level calls this code outside a main guard, or None.

    Looks for the frame that runs the ``__main__`` module's top level. None (safe) when there is
    none (an interactive session, ``python -c``, a notebook, a thread), when ``__main__`` has no
    source file, or when the line it runs lies inside ``if __name__ == "__main__":``.

    Returns
    -------
    str or None
        ``"<path>:<line>"`` of the unguarded top-level line, or None.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or not Path(path).is_file():
        return None
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
                break
            frame = frame.f_back
        if frame is None:
            return None
        line = frame.f_lineno
    finally:
        del frame
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if any(first <= line <= last for first, last in guarded_lines(source)):
        return None
    return f"{path}:{line}"
