"""Exact compression of a list of eigenvalues into arithmetic segments.

The engine's fused pass evaluates every row's eigenvalue as ``first + increment * j`` from a
segment (:class:`mfsim.spectra.Segment`), so a custom spectrum given as d numbers runs as fast as
a named family only if it is given back as few segments. :func:`compress` finds them, exactly:
every value is reproduced bit for bit, so a named family's eigenvalues given as a list run the
same numbers as the family. Leaf module (numpy only): :mod:`mfsim.spectra` wraps the result into
``Segment`` objects.
"""

from __future__ import annotations

import numpy as np

__all__ = ["compress"]

# an arithmetic run shorter than this stays single rows (a boundary costs more than it saves)
_MIN_ARITHMETIC_RUN = 4
# increments tried besides the two end-point estimates: this many ulps either side of the
# whole-stretch estimate (the named families nudge their increment towards zero, _linear_bulk)
_INCREMENT_NUDGES = 2
# rows a compressible stretch may start at, beyond its first, in search of a longer run
_LOOKAHEAD = 4


def compress(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments ``(first, increment, count)`` whose values ``first + increment * j`` reproduce
    ``lam`` bit for bit, found greedily.

    Runs of equal values become constant segments (increment 0.0). Stretches of distinct values
    become arithmetic segments wherever that expression, evaluated as the kernels evaluate it,
    equals every value exactly; the increments tried are the stretch's end-point estimate
    ``(last - first) / (n - 1)`` (the named families' and numpy.linspace's own increment), its
    neighbours within ``_INCREMENT_NUDGES`` ulps, and the first difference. Everything else stays
    single rows.

    Parameters
    ----------
    lam : numpy.ndarray of float64, shape (d,)
        Finite, non-negative, non-increasing.

    Returns
    -------
    first, increment : numpy.ndarray of float64
    count : numpy.ndarray of int64
        One entry per segment; counts sum to d.

    Raises
    ------
    AssertionError
        If the segments did not reproduce ``lam`` exactly (checked before returning; a bug).

    Notes
    -----
    Cost O(d) numpy work plus one Python iteration per arithmetic segment; a stretch that looks
    smooth at the rounding level but holds no long exact run is given up after a budget of
    iterations (its rows stay single).
    """
    lam = np.asarray(lam, dtype=np.float64)
    n = lam.size
    change = np.flatnonzero(lam[1:] != lam[:-1]) + 1
    run_start = np.concatenate([[0], change]).astype(np.int64)
    run_count = np.diff(np.concatenate([run_start, [n]]))
    single = np.repeat(run_count == 1, run_count)
    smooth = _smooth_starts(lam, single)
    smooth_at = np.flatnonzero(smooth)
    # region_end[k]: one past the last row of the smooth stretch that smooth start k belongs to
    gaps = np.flatnonzero(np.diff(smooth_at) != 1)
    last_of = np.concatenate([smooth_at[gaps], smooth_at[-1:]])
    region_end = np.repeat(last_of + 3, np.diff(np.concatenate([[-1], gaps, [smooth_at.size - 1]])))
    runs = _Runs(lam, smooth_at, region_end)
    segments: list[tuple[float, float, int]] = []
    budget = 10_000 + n // 16
    p = 0
    while p < n:
        k = int(np.searchsorted(smooth_at, p))
        if k == smooth_at.size or budget <= 0:
            _append_runs(segments, lam, run_start, run_count, p, n)
            break
        budget -= 1
        q = int(smooth_at[k])
        _append_runs(segments, lam, run_start, run_count, p, q)
        begin, length, increment = runs.farthest(range(q, q + _LOOKAHEAD + 1))
        # end earlier if the next run reaches farther from a row this one covers (a bulk that
        # starts on the last value of a graded top: lambda_{r+1} belongs to both)
        end = begin + length
        _append_runs(segments, lam, run_start, run_count, q, begin)
        if end < n and length > 1:
            after, after_length, _ = runs.farthest(range(max(end - _LOOKAHEAD, begin + 1), end))
            if after_length > 1 and after + after_length > end + runs.at(end)[0]:
                length = after - begin
        if length < _MIN_ARITHMETIC_RUN:
            segments.extend((float(v), 0.0, 1) for v in lam[begin : begin + length])
        else:
            segments.append((float(lam[begin]), increment, length))
        p = begin + length
    first = np.array([seg[0] for seg in segments], dtype=np.float64)
    increment = np.array([seg[1] for seg in segments], dtype=np.float64)
    count = np.array([seg[2] for seg in segments], dtype=np.int64)
    if not np.array_equal(_values(first, increment, count).view(np.int64), lam.view(np.int64)):
        raise AssertionError("spectrum_compression: the segments do not reproduce the list")
    return first, increment, count


class _Runs:
    """The longest exact arithmetic run from each smooth start (cached)."""

    def __init__(self, lam, smooth_at, region_end):
        self.lam, self.smooth_at, self.region_end = lam, smooth_at, region_end
        self.cache = {}

    def at(self, s: int) -> tuple[int, float]:
        if s not in self.cache:
            k = int(np.searchsorted(self.smooth_at, s))
            if k < self.smooth_at.size and self.smooth_at[k] == s:
                self.cache[s] = _longest_run(self.lam, s, int(self.region_end[k]))
            else:
                self.cache[s] = (1, 0.0)
        return self.cache[s]

    def farthest(self, starts) -> tuple[int, int, float]:
        """(start, length, increment) of the run of at least ``_MIN_ARITHMETIC_RUN`` rows that
        ends last (the earliest on ties); (first start, 1, 0.0) when there is none."""
        starts = [s for s in starts if s < self.lam.size]
        best = (starts[0], 1, 0.0)
        for s in starts:
            length, increment = self.at(s)
            if length >= _MIN_ARITHMETIC_RUN and s + length > best[0] + best[1]:
                best = (s, length, increment)
        return best


def _values(first, increment, count) -> np.ndarray:
    """All values of the segments (``first + increment * j`` elementwise, as Segment.values)."""
    starts = np.concatenate([[0], np.cumsum(count)[:-1]])
    j = (np.arange(int(count.sum()), dtype=np.int64) - np.repeat(starts, count)).astype(np.float64)
    return np.repeat(first, count) + np.repeat(increment, count) * j


def _append_runs(segments, lam, run_start, run_count, p, q):
    """Constant segments of the runs of equal values that start in rows p..q-1."""
    lo, hi = np.searchsorted(run_start, [p, q])
    segments.extend(
        (float(lam[start]), 0.0, int(count))
        for start, count in zip(run_start[lo:hi].tolist(), run_count[lo:hi].tolist(), strict=True)
    )


def _smooth_starts(lam: np.ndarray, single: np.ndarray) -> np.ndarray:
    """Rows i where lam[i], lam[i+1], lam[i+2] are distinct (single rows) and their second
    difference is within the rounding of ``first + increment * j`` (a few ulps of lam[0])."""
    if lam.size < 3:
        return np.zeros(0, dtype=bool)
    second = np.abs(lam[2:] - 2.0 * lam[1:-1] + lam[:-2])
    return (second <= 16.0 * np.spacing(lam[0])) & single[:-2] & single[1:-1] & single[2:]


def _longest_run(lam: np.ndarray, start: int, stop: int) -> tuple[int, float]:
    """(length, increment) of the longest exact arithmetic run of rows start..stop-1 from start."""
    if stop - start < 2:
        return 1, 0.0
    whole = (lam[stop - 1] - lam[start]) / (stop - 1 - start)
    candidates = [whole, lam[start + 1] - lam[start]]
    up = down = whole
    for _ in range(_INCREMENT_NUDGES):
        up, down = np.nextafter(up, 0.0), np.nextafter(down, -np.inf)
        candidates += [up, down]
    best = (1, 0.0)
    for increment in candidates:
        if increment < 0.0:
            length = _exact_run(lam, start, stop, float(increment))
            if length > best[0]:
                best = (length, float(increment))
            if length == stop - start:
                break
    return best


def _exact_run(lam: np.ndarray, start: int, stop: int, increment: float) -> int:
    """How many rows from ``start`` (at most ``stop - start``) equal ``lam[start] + increment
    * j`` exactly (the kernels' expression); probes of doubling length: O(run length)."""
    first = lam[start]
    length, probe = 0, 16
    while start + length < stop:
        end = min(start + length + probe, stop)
        j = np.arange(length, end - start, dtype=np.float64)
        miss = np.flatnonzero(first + increment * j != lam[start + length : end])
        if miss.size:
            return length + int(miss[0])
        length = end - start
        probe *= 2
    return length
