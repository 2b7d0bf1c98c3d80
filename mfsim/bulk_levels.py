"""Continuous bulks at any d: a reduction into flat levels graded toward the bulk's top edge,
with the level count chosen from a tolerance (the ``continuous`` spectrum family).

Leaf module (numpy and :mod:`mfsim.arguments` only): :mod:`mfsim.spectra` wraps the levels into
a ``Spectrum``.

Why the top edge
----------------
Every bulk row evolves as ``x_i <- x_i ((1 + eta lambda_i) I - eta G)`` (paper, eq. 9), so
after t steps a row ``u = a - lambda_i`` below the bulk's top edge ``a`` carries, relative to
the edge, a weight about ``exp(-tau u)`` with ``tau ~ 2 eta t``. The stage times grow like
``ln d`` and so does ``tau`` at them: the bulk the signals compete with is the edge region of
width ``~ 1 / tau ~ gap / ln d`` (``gap = lambda_r - a``). A bulk of flat levels of equal
count (the ``staircase`` family) resolves that region only while its top level's distance
below ``a`` is small against ``gap / ln d``; at d = 10^300 the 32-level staircase's top level
(0.5906, 0.0094 below a = 0.6) is not, and its rise slopes are low by 1-4 %.

The reduction
-------------
The bulk below ``a`` (``a`` itself stays one row, so lambda_1..lambda_{r+1}, Delta and kappa
are the continuous family's) is cut into G cells in the distance ``u`` below the edge, with
boundaries

    b_j = w (exp(j L / G) - 1),  j = 0..G,   L = ln(1 + s / w),   w = gap / (2 ln d),

(``s`` the bulk's span): cells of equal width ``w L / G`` at the edge, widths growing
geometrically beyond ``w``. ``w`` is ``1 / tau_max`` for the horizon
``tau_max = 2 ln d / gap`` (twice the small-signal ``2 eta t`` at the last rise,
``t ~ ln d / (2 eta gap)``). Each cell becomes one flat level holding the exact count of bulk
values in it (the multiplicities sum to d - r - 1; empty cells are dropped) at their mean
(the trace of each cell is kept); the exact Gram reduction (:mod:`mfsim.engine.initialization`)
then runs every level as r rows, so a run costs O(G r^3) per step at any d.

Counts. ``linear`` and ``figure1``: the family's own values ``a - s i / (n - 1)``,
``i = 1..n-1`` (n = d - r bulk values), counted exactly in rational arithmetic: the reduced
bulk is a quantization of exactly the explicit family's bulk. ``marchenko_pastur``: the
Marchenko-Pastur law of ratio c scaled to the support ``[a (1 - sqrt c)^2 / (1 + sqrt c)^2, a]``
(density ``~ sqrt(u)`` at the top edge); the count of a cell is the cumulative rounding of
``(d - r - 1) F(b_j)``, F the law's distribution function from the top, integrated by 24-point
Gauss-Legendre per cell in the angle variable (relative accuracy ~1e-14, so the counts are
those of the law to that relative accuracy).

Error and level count
---------------------
The quantity the slopes depend on is the bulk's effective edge at the horizon, ``a - ubar(tau)``
with ``ubar(tau) = sum_j d_j u_j exp(-tau u_j) / sum_j d_j exp(-tau u_j)`` (for a continuous
edge of density ``~ u^beta``, ``ubar ~ (beta + 1) / tau``: the ``-(beta + 1) S ln ln d``
correction of the rise times). :func:`edge_shift_change` is
``max_{tau <= tau_max} |ubar_G(tau) - ubar_{2G}(tau)| / gap``, the change of the effective
edge's relative gap when the level count doubles; a rise slope
``1 / (2 ln(1 + eta (lambda_k - a_eff)))`` changes by about that relative amount.
:func:`levels_for_tolerance` doubles G from 8 until that change is below ``bulk_tolerance``
(a prediction of the relative change of the slopes; benchmarks/bulk_convergence.py measures
the change of the rise and t_k^* medians and slopes when G doubles, at d = 10^4, 10^100 and
10^300: at 10^100 and 10^300 at most 0.17 % from G = 8 on, so the rule, which picks G = 8-32 at
1 %, is conservative; docs/transition.md).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mfsim.arguments import check_integer, check_number

__all__ = [
    "BULK_SHAPES",
    "DEFAULT_BULK_TOLERANCE",
    "MAX_LEVELS",
    "continuous_levels",
    "fixed_top",
    "cell_boundaries",
    "bulk_cells",
    "edge_shift",
    "edge_shift_change",
    "levels_for_tolerance",
]

#: Continuous bulks: the ``linear`` family's, the paper's Figure 1 (r = 2, diag(1, 0.5, e),
#: e = linspace(0.3, 0)) and a Marchenko-Pastur bulk (square-root top edge).
BULK_SHAPES = ("linear", "figure1", "marchenko_pastur")
#: Relative change of the effective edge gap allowed when the level count doubles.
DEFAULT_BULK_TOLERANCE = 0.01
#: The largest level count :func:`levels_for_tolerance` tries (about 2 G r rows per run).
MAX_LEVELS = 4096
_FIRST_LEVELS = 8
_GAUSS_NODES, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(24)
# points of the tau grid over which the edge shift is compared
_TAU_POINTS = 400


def cell_boundaries(span: float, log_d: float, gap: float, levels: int) -> np.ndarray:
    """Cell boundaries ``b_0 = 0 < ... < b_G = span`` in the distance below the bulk's top edge.

    Parameters
    ----------
    span : float
        Width s > 0 of the bulk (top edge minus bottom).
    log_d : float
        ln d (> 0).
    gap : float
        lambda_r - a > 0, the smallest signal's gap to the bulk's top edge.
    levels : int
        G >= 1.

    Returns
    -------
    numpy.ndarray of float64, shape (G + 1,)
        ``w (exp(j L / G) - 1)`` with ``w = gap / (2 ln d)``, ``L = ln(1 + s / w)``; the last is
        ``span`` exactly.
    """
    width = gap / (2.0 * log_d)
    total = math.log1p(span / width)
    b = width * np.expm1(np.arange(levels + 1) * (total / levels))
    b[0], b[-1] = 0.0, span
    return b


def _linear_cells(top: float, bottom: float, n: int, boundaries: np.ndarray):
    """(counts, values) of the cells for the linear bulk ``top - s i / (n - 1)``, i = 1..n-1."""
    span = top - bottom
    scale = Fraction(n - 1) / Fraction(span)
    edges = [0] + [min(n - 1, math.floor(Fraction(float(b)) * scale)) for b in boundaries[1:-1]]
    edges.append(n - 1)
    counts, values = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi > lo:  # values i = lo + 1 .. hi, mean index (lo + 1 + hi) / 2
            mean = top - span * float(Fraction(lo + 1 + hi, 2 * (n - 1)))
            counts.append(hi - lo)
            values.append(max(mean, bottom))
    return counts, values


def _mp_integrals(top: float, ratio: float, boundaries: np.ndarray):
    """Per cell: integral of the Marchenko-Pastur shape and of u times it (unnormalized)."""
    root = math.sqrt(ratio)
    low = top * ((1.0 - root) / (1.0 + root)) ** 2
    mid, half = (top + low) / 2.0, (top - low) / 2.0
    # x = mid + half cos(phi): phi = 0 at the top edge; density dx ~ sin(phi)^2 / x dphi
    phi = np.arccos(np.clip((top - boundaries - mid) / half, -1.0, 1.0))
    lo, hi = phi[:-1, None], phi[1:, None]
    nodes = (lo + hi) / 2.0 + (hi - lo) / 2.0 * _GAUSS_NODES[None, :]
    x = mid + half * np.cos(nodes)
    f = np.sin(nodes) ** 2 / x * ((hi - lo) / 2.0) * _GAUSS_WEIGHTS[None, :]
    return f.sum(axis=1), (f * (top - x)).sum(axis=1)


def _mp_cells(top: float, ratio: float, m: int, boundaries: np.ndarray):
    mass, moment = _mp_integrals(top, ratio, boundaries)
    cumulative = np.cumsum(mass) / mass.sum()
    edges = [0] + [round(Fraction(float(c)) * m) for c in cumulative[:-1]] + [m]
    counts, values = [], []
    for j, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        if hi > lo:
            counts.append(hi - lo)
            values.append(top - float(moment[j] / mass[j]))
    return counts, values


def bulk_cells(bulk: str, top: float, bottom: float, n: int, boundaries, mp_ratio: float = 0.25):
    """Counts and values of the levels of a bulk of n values whose first is ``top``.

    Parameters
    ----------
    bulk : {'linear', 'figure1', 'marchenko_pastur'}
    top, bottom : float
        Top edge a (one row of its own) and bottom of the bulk (``marchenko_pastur``: ignored,
        the law's support fixes it).
    n : int
        Bulk values including ``top`` (d - r).
    boundaries : numpy.ndarray
        From :func:`cell_boundaries`.
    mp_ratio : float
        Marchenko-Pastur ratio c in (0, 1).

    Returns
    -------
    counts : list of int
        Exact counts of the non-empty cells (sum n - 1).
    values : list of float
        Their mean eigenvalues, strictly decreasing, below ``top``.
    """
    if bulk == "marchenko_pastur":
        return _mp_cells(top, mp_ratio, n - 1, boundaries)
    return _linear_cells(top, bottom, n, boundaries)


def edge_shift(counts, values, top: float, tau: np.ndarray) -> np.ndarray:
    """ubar(tau): the exp(-tau u)-weighted mean distance u = top - value of the levels below top.

    Parameters
    ----------
    counts : sequence of int
        Multiplicities (Python ints of any size).
    values : sequence of float
        Level eigenvalues.
    top : float
        The bulk's top edge.
    tau : numpy.ndarray
        Inverse widths (>= 0).

    Returns
    -------
    numpy.ndarray, shape of ``tau``
    """
    u = top - np.asarray(values, dtype=np.float64)
    log_counts = np.array([math.log(c) for c in counts])
    exponent = log_counts[None, :] - np.asarray(tau)[:, None] * u[None, :]
    weights = np.exp(exponent - exponent.max(axis=1, keepdims=True))
    return (weights * u).sum(axis=1) / weights.sum(axis=1)


def _tau_grid(span: float, log_d: float, gap: float) -> np.ndarray:
    tau_max = 2.0 * log_d / gap
    return np.concatenate([[0.0], np.geomspace(0.1 / span, tau_max, _TAU_POINTS)])


def edge_shift_change(bulk, top, bottom, n, log_d, gap, levels, mp_ratio=0.25) -> float:
    """max over tau in [0, 2 ln d / gap] of |ubar_G - ubar_2G| / gap (see the module notes).

    Returns
    -------
    float
        The predicted relative change of the rise slopes when the level count doubles from
        ``levels``.
    """
    span = top - bottom
    tau = _tau_grid(span, log_d, gap)
    shifts = []
    for g in (levels, 2 * levels):
        counts, values = bulk_cells(
            bulk, top, bottom, n, cell_boundaries(span, log_d, gap, g), mp_ratio
        )
        shifts.append(edge_shift(counts, values, top, tau))
    return float(np.max(np.abs(shifts[0] - shifts[1])) / gap)


def levels_for_tolerance(
    bulk, top, bottom, n, log_d, gap, tolerance, mp_ratio=0.25, error=ValueError
) -> int:
    """The smallest G = 8 * 2^k whose doubling changes the edge gap by less than ``tolerance``.

    Raises
    ------
    error
        If even G = :data:`MAX_LEVELS` does not reach the tolerance.
    """
    levels = _FIRST_LEVELS
    while levels <= MAX_LEVELS:
        if edge_shift_change(bulk, top, bottom, n, log_d, gap, levels, mp_ratio) < tolerance:
            return levels
        levels *= 2
    raise error(
        f"continuous: bulk_tolerance = {tolerance!r} needs more than {MAX_LEVELS} levels; "
        "allowed: a tolerance this reduction reaches (1e-4 and above at d <= 10^10000)"
    )


def fixed_top(bulk: str, r: int, kappa, error: type[Exception] = ValueError):
    """lambda_1..lambda_{r+1} a bulk fixes (``figure1``: 1, 0.5, 0.3), or None (graded top).

    Raises
    ------
    error
        ``figure1`` with r != 2 or with kappa given; an unknown bulk.
    """
    if bulk not in BULK_SHAPES:
        raise error(f"continuous: bulk = {bulk!r} is unknown; allowed: {', '.join(BULK_SHAPES)}")
    if bulk != "figure1":
        return None
    if r != 2:
        raise error(f"continuous: bulk 'figure1' is the paper's r = 2, got r = {r}")
    if kappa is not None:
        raise error("continuous: bulk 'figure1' fixes kappa = 5; do not pass kappa")
    return [1.0, 0.5, 0.3]


def continuous_levels(
    d: int,
    top_values,
    bulk: str = "linear",
    bulk_bottom: float = 0.0,
    mp_ratio: float = 0.25,
    bulk_tolerance: float = DEFAULT_BULK_TOLERANCE,
    levels: int | None = None,
    error: type[Exception] = ValueError,
):
    """The levels of the ``continuous`` family (:func:`mfsim.spectrum` builds the Spectrum).

    Parameters
    ----------
    d : int
        Dimension (exact int, up to 10^10000).
    top_values : sequence of float
        lambda_1..lambda_{r+1}, strictly decreasing; lambda_{r+1} = a is the bulk's top edge
        (one row of its own, so Delta and kappa are the continuous family's).
    bulk : {'linear', 'figure1', 'marchenko_pastur'}
        ``linear``: the ``linear`` family's bulk, a down to ``bulk_bottom``; ``figure1``:
        linspace(0.3, 0, d - 2) (with ``top_values`` 1, 0.5, 0.3, :func:`fixed_top`);
        ``marchenko_pastur``: the Marchenko-Pastur law of ratio ``mp_ratio`` with its top edge
        at a, support [a (1 - sqrt c)^2 / (1 + sqrt c)^2, a].
    bulk_bottom : float
        Bottom of a linear bulk, in [0, a).
    mp_ratio : float
        Marchenko-Pastur ratio c in (0, 1).
    bulk_tolerance : float
        In (0, 0.5]: the level count is the smallest 8 * 2^k whose doubling changes the
        predicted rise slopes by less than this relative amount (:func:`levels_for_tolerance`).
    levels : int, optional
        A fixed level count instead (>= 1; cells left empty at small d are dropped).
    error : type
        The exception class raised (the caller's, e.g. ``SpectrumError``).

    Returns
    -------
    levels : list of (float, int)
        (eigenvalue, exact multiplicity) of the levels below a, decreasing; the multiplicities
        sum to d - r - 1.
    params : tuple of (str, value)
        The bulk, its bottom, mp_ratio, the tolerance and the level count, for provenance.

    Raises
    ------
    error
        Unknown bulk, parameters out of range (named, with the value given), d too small to hold
        two bulk values, a tolerance the reduction cannot reach.
    """
    fixed_top(bulk, 2 if bulk == "figure1" else 1, None, error)  # the bulk's name
    mp_ratio = check_number(
        "mp_ratio", mp_ratio, low=0, low_open=True, high=1, high_open=True, error=error
    )
    bulk_tolerance = check_number(
        "bulk_tolerance", bulk_tolerance, low=0, low_open=True, high=0.5, error=error
    )
    if levels is not None:
        levels = check_integer("levels", levels, low=1, error=error)
    if bulk != "linear" and bulk_bottom != 0.0:
        raise error(
            f"continuous: bulk_bottom = {bulk_bottom!r} is only used by bulk 'linear' (bulk "
            f"{bulk!r} fixes its own bottom); remove it"
        )
    a = float(top_values[-1])
    r = len(top_values) - 1
    bottom = 0.0 if bulk == "figure1" else float(bulk_bottom)
    if bulk == "marchenko_pastur":
        root = math.sqrt(mp_ratio)
        bottom = a * ((1.0 - root) / (1.0 + root)) ** 2
    elif not 0 <= bottom < a:
        raise error(
            f"continuous: bulk_bottom must lie in [0, lambda_{{r+1}} = {a:g}), got {bulk_bottom!r}"
        )
    n = d - r
    if n < 2:
        raise error(f"continuous: d - r = {n} leaves no bulk below lambda_{{r+1}}")
    gap = float(top_values[-2]) - a
    log_d = math.log(d)
    if levels is None:
        levels = levels_for_tolerance(
            bulk, a, bottom, n, log_d, gap, bulk_tolerance, mp_ratio, error
        )
    counts, values = bulk_cells(
        bulk, a, bottom, n, cell_boundaries(a - bottom, log_d, gap, levels), mp_ratio
    )
    params = (
        ("bulk", bulk),
        ("bulk_bottom", bottom),
        ("mp_ratio", mp_ratio if bulk == "marchenko_pastur" else None),
        ("bulk_tolerance", bulk_tolerance),
        ("levels", levels),
    )
    return list(zip(values, counts, strict=True)), params
