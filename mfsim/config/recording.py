"""Which steps' diagnostics are kept (the stage analysis always sees every step): a pure
function of the run settings, shared by the config checks, the plan and the engine."""

from __future__ import annotations

import numpy as np

__all__ = ["recorded_steps", "AUTO_ALL_MAX_STEPS", "AUTO_LOG_POINTS"]

AUTO_ALL_MAX_STEPS = 10_000
AUTO_LOG_POINTS = 1000


def recorded_steps(
    steps: int, policy="auto", stride: int | None = None, num: int | None = None
) -> np.ndarray:
    """The recorded step grid, a pure function of the run settings (shared by all runs).

    Parameters
    ----------
    steps : int
        Step limit; the grid always holds 0 and ``steps``.
    policy : {'auto', 'all', 'stride', 'log'} or array of int
        ``auto``: every step when ``steps <= 10000``, else ``log`` with 1000 points.
        ``stride``: every ``stride`` steps. ``log``: about ``num`` log-spaced integer steps.
        An array is taken as the explicit list of steps.

    Returns
    -------
    numpy.ndarray of int64, sorted, unique, within [0, steps].
    """
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not isinstance(policy, str):
        grid = np.asarray(policy, dtype=np.int64)
        if grid.size and (grid.min() < 0 or grid.max() > steps):
            raise ValueError(f"recorded steps must lie in [0, {steps}]")
    elif policy == "auto":
        return recorded_steps(
            steps, "all" if steps <= AUTO_ALL_MAX_STEPS else "log", num=AUTO_LOG_POINTS
        )
    elif policy == "all":
        grid = np.arange(steps + 1, dtype=np.int64)
    elif policy == "stride":
        if not stride or stride < 1:
            raise ValueError(f"record policy 'stride' needs stride >= 1, got {stride!r}")
        grid = np.arange(0, steps + 1, int(stride), dtype=np.int64)
    elif policy == "log":
        num = int(num or AUTO_LOG_POINTS)
        if num < 2:
            raise ValueError(f"record policy 'log' needs num >= 2, got {num}")
        grid = _log_grid(steps, num - 1)
    else:
        raise ValueError(f"unknown record policy {policy!r}; allowed: auto, all, stride, log")
    return np.unique(np.concatenate([[0, steps], grid])).astype(np.int64)


def _log_grid(steps: int, num: int) -> np.ndarray:
    """``num`` distinct log-spaced integers in [1, steps] (all of them if steps <= num).

    Rounding a geometric sequence repeats small integers, so the sequence is lengthened until
    ``num`` distinct values remain: every early step is kept, later ones are log-spaced.
    """
    if steps <= num:
        return np.arange(1, steps + 1, dtype=np.int64)
    lo, hi = num, 4 * num
    while np.unique(np.round(np.geomspace(1, steps, hi))).size < num:
        hi *= 2
    while lo < hi:  # smallest length giving at least num distinct steps
        mid = (lo + hi) // 2
        if np.unique(np.round(np.geomspace(1, steps, mid))).size >= num:
            hi = mid
        else:
            lo = mid + 1
    return np.unique(np.round(np.geomspace(1, steps, lo))).astype(np.int64)
