"""Bootstrap over seeds within each d: resampling indices, percentiles, per-group streams."""

from __future__ import annotations

import zlib

import numpy as np


def _percentiles(a: np.ndarray, q: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``numpy.nanpercentile``, with the fast ``numpy.percentile`` when there is no NaN."""
    if np.isnan(a).any():
        return np.nanpercentile(a, q, axis=axis)
    return np.percentile(a, q, axis=axis)


def _bootstrap_indices(sizes: list[int], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (n_boot, sum(sizes)) resampling with replacement within each block (one d)."""
    idx = np.empty((n_boot, int(sum(sizes))), dtype=np.intp)
    start = 0
    for size in sizes:
        idx[:, start : start + size] = start + rng.integers(0, size, size=(n_boot, size))
        start += size
    return idx


def _group_rng(seed: int, key: tuple) -> np.random.Generator:
    """Generator for one group: depends on ``seed`` and the group's coordinates only."""
    return np.random.default_rng([int(seed), zlib.crc32(repr(key).encode())])
