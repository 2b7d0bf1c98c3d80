"""Equal and nearly equal top eigenvalues: clusters, the eigengap over distinct gaps, top gaps.

The paper requires strictly decreasing top eigenvalues (section 6, limitation 2): every stage
quantity is defined per eigenvector and ``Delta = min_{i<=r} (lambda_i - lambda_{i+1})`` is 0 at
a tie. Here the top r eigenvalues are grouped into *clusters*: maximal runs of consecutive values
whose gaps are at most ``tie_tolerance`` (0 by default: exactly equal values). Inside a cluster
the eigenvectors are only defined up to a rotation, so the engine's per-k quantities become
those of the cluster's block of rows (``mfsim.engine.ties``, ``docs/stages.md`` section 6); the
eigengap is taken over the gaps between clusters:

    Delta = min { lambda_i - lambda_{i+1} : i <= r, lambda_i - lambda_{i+1} > tie_tolerance }.

Without ties (every gap above the tolerance) this is the paper's Delta, the same float.
``lambda_r - lambda_{r+1}`` must exceed the tolerance: at a tie across r, Sigma_r (the target) is
not unique.

A leaf module (numpy only); :mod:`mfsim.spectra` calls it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mfsim.arguments import check_number

__all__ = [
    "TIE_PARAMETERS",
    "top_clusters",
    "has_ties",
    "distinct_gap",
    "top_problem",
    "top_with_gap",
    "tie_tolerance_of",
    "with_ties",
    "spectrum_problem",
    "spectrum_gap",
]

#: family parameters handled here for every family (``mfsim.spectrum(..., top_gap=, ...)``)
TIE_PARAMETERS = ("top_gap", "tie_tolerance")

# families whose top r eigenvalues are r one-row segments lambda_1 - (k-1) lambda_1/kappa
_GRADED_FAMILIES = ("linear", "flat", "staircase")


def tie_tolerance_of(params) -> float:
    """The ``tie_tolerance`` recorded in a Spectrum's ``params`` pairs (0.0 when absent)."""
    return float(dict(params).get("tie_tolerance", 0.0))


def top_clusters(top_lambda, tie_tolerance: float = 0.0) -> tuple[tuple[int, int], ...]:
    """The clusters of lambda_1..lambda_r as half-open 0-based row ranges ``(start, stop)``.

    Parameters
    ----------
    top_lambda : array_like, shape (r,) or (r + 1,)
        lambda_1..lambda_r (a trailing lambda_{r+1} is ignored by passing only r values).
    tie_tolerance : float
        Consecutive values whose gap is at most this belong to one cluster.

    Returns
    -------
    tuple of (int, int)
        Consecutive ranges covering 0..r-1; all of length 1 when there are no ties.
    """
    lam = np.asarray(top_lambda, dtype=np.float64)
    clusters, start = [], 0
    for i in range(1, lam.size):
        if not lam[i - 1] - lam[i] <= tie_tolerance:
            clusters.append((start, i))
            start = i
    clusters.append((start, lam.size))
    return tuple(clusters)


def has_ties(top_lambda, tie_tolerance: float = 0.0) -> bool:
    """True when some cluster of lambda_1..lambda_r holds more than one value."""
    return any(b - a > 1 for a, b in top_clusters(top_lambda, tie_tolerance))


def distinct_gap(top_eigenvalues, tie_tolerance: float = 0.0) -> float:
    """Delta over the distinct gaps: the smallest gap among lambda_1..lambda_{r+1} above the
    tolerance (the paper's Delta, bit for bit, when every gap is above it). NaN if none is."""
    lam = np.asarray(top_eigenvalues, dtype=np.float64)
    gaps = lam[:-1] - lam[1:]
    distinct = gaps[gaps > tie_tolerance]
    return float(np.min(distinct)) if distinct.size else math.nan


def top_problem(top_eigenvalues, tie_tolerance: float = 0.0) -> str | None:
    """Why lambda_1..lambda_{r+1} cannot be run, or None.

    They must be decreasing (ties allowed among the top r) with lambda_r - lambda_{r+1} above
    ``tie_tolerance``.
    """
    lam = np.asarray(top_eigenvalues, dtype=np.float64)
    if not np.all(lam[:-1] >= lam[1:]):
        return f"the top r + 1 = {lam.size} eigenvalues must be decreasing, got {lam.tolist()}"
    if not lam[-2] - lam[-1] > tie_tolerance:
        r = lam.size - 1
        return (
            f"lambda_r must be strictly above lambda_{{r+1}} + tie_tolerance "
            f"(tie_tolerance = {tie_tolerance:g}, r = {r}: the best rank-r approximation Sigma_r "
            f"must be unique; ties are allowed among lambda_1..lambda_r only), got {lam.tolist()}"
        )
    return None


def top_with_gap(family: str, top_eigenvalues, top_gap) -> float:
    """lambda_2 = lambda_1 - ``top_gap`` for the graded families, checked.

    Parameters
    ----------
    family : str
        One of ``linear``, ``flat``, ``staircase`` (whose top r values are one-row segments).
    top_eigenvalues : array, shape (r + 1,)
        The family's lambda_1..lambda_{r+1} (r >= 2).
    top_gap : float
        The requested gap lambda_1 - lambda_2 >= 0; at most lambda_1 - lambda_3.

    Returns
    -------
    float
        The new lambda_2 (lambda_3.. and hence the bulk are unchanged).

    Raises
    ------
    ValueError
        Naming ``top_gap``, its value and the allowed range, or the family when it does not
        take a top gap.
    """
    lam = np.asarray(top_eigenvalues, dtype=np.float64)
    if family not in _GRADED_FAMILIES:
        raise ValueError(
            f"top_gap is for the families {', '.join(_GRADED_FAMILIES)}; {family!r} fixes its "
            "eigenvalues (give ties through custom eigenvalues)"
        )
    if lam.size < 3:
        raise ValueError(f"top_gap = lambda_1 - lambda_2 needs r >= 2, got r = {lam.size - 1}")
    span = float(lam[0] - lam[2])
    if isinstance(top_gap, bool) or not isinstance(top_gap, (int, float, np.floating)):
        raise ValueError(f"top_gap must be a number, got {top_gap!r}")
    if not (math.isfinite(top_gap) and 0.0 <= top_gap <= span):
        raise ValueError(
            f"top_gap must lie in [0, lambda_1 - lambda_3 = {span:g}], got {top_gap!r}"
        )
    return float(lam[0] - top_gap)


def spectrum_problem(spec) -> str | None:
    """:func:`top_problem` of a :class:`mfsim.spectra.Spectrum` at its own tolerance."""
    return top_problem(spec.top(spec.r + 1), tie_tolerance_of(spec.params))


def spectrum_gap(spec) -> float:
    """:func:`distinct_gap` of a :class:`mfsim.spectra.Spectrum`: its Delta."""
    return distinct_gap(spec.top(spec.r + 1), tie_tolerance_of(spec.params))


def with_ties(spec, top_gap=None, tie_tolerance=None, *, error=ValueError):
    """``spec`` with lambda_2 = lambda_1 - ``top_gap`` and/or a ``tie_tolerance``, both recorded
    in ``params`` (the Spectrum is rebuilt with :func:`dataclasses.replace`, which re-checks it).

    Raises ``error`` (:class:`mfsim.spectra.SpectrumError` from :func:`mfsim.spectrum`) naming
    the bad argument, its value and what is allowed.
    """
    segments, params = list(spec.segments), list(spec.params)
    if tie_tolerance is not None:
        tie_tolerance = check_number("tie_tolerance", tie_tolerance, low=0, error=error)
        params.append(("tie_tolerance", tie_tolerance))
    if top_gap is not None:
        top_gap = check_number("top_gap", top_gap, low=0, error=error)
        try:
            lambda_2 = top_with_gap(spec.name, spec.top(spec.r + 1), top_gap)
        except ValueError as problem:
            raise error(str(problem)) from None
        segments[1] = dataclasses.replace(segments[1], first=lambda_2)
        params.append(("top_gap", top_gap))
    return dataclasses.replace(spec, segments=tuple(segments), params=tuple(params))
