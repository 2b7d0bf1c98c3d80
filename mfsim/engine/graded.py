"""Small dense linear algebra on rows that carry their own power-of-two exponent.

A row is ``x_i = m_i 2**e_i`` (mantissa row ``m_i`` of r float64, int exponent ``e_i``), so a
row of size 10^-500 (the top rows of X_0 at d = 10^1000) is held exactly. Quantities that can be
far below float64's range (a squared row norm, sigma_r^2(U)) are returned as pairs ``(s, p)``
meaning ``s 2**p``; quantities of order one (eigenvalues of the Gram matrix) as plain floats.

Where every value is in float64's normal range the functions perform, operation by operation,
the arithmetic of :mod:`mfsim.engine.kernels` (power-of-two scalings are exact there), so both
engines give the same bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# the rotation sequence of the plain kernels, so that the eigenvalues are the same bits
from mfsim.engine.kernels import _jacobi

__all__ = ["exponent_of", "eig_max", "sigma_min_sq_graded", "row_norm_sq", "pair_less"]

#: rows whose exponents differ by more than this many bits are handled as separate scales by
#: :func:`sigma_min_sq_graded` (the Schur complement; neglected terms are 2^-GRADE_BITS
#: relative); within this spread one scaling keeps the one-sided Jacobi's products in float64's
#: range (the plain engine's path)
GRADE_BITS = 500


@njit(cache=True, nogil=True)
def exponent_of(m):
    """e with m / 2**e in [0.5, 1) (frexp), 0 for m == 0 or not finite: an exact scaling."""
    if m > 0.0 and m < np.inf:
        return math.frexp(m)[1]
    return 0


@njit(cache=True, nogil=True)
def eig_max(a, work):
    """Largest eigenvalue of the symmetric r x r ``a`` (``work``: r x r scratch); NaN if any is
    NaN. Cyclic Jacobi: accurate for a PSD matrix whatever its condition."""
    n = a.shape[0]
    for p in range(n):
        for q in range(n):
            work[p, q] = a[p, q]
    _jacobi(work)
    best = work[0, 0]
    for i in range(1, n):
        v = work[i, i]
        if not np.isnan(best) and (np.isnan(v) or v >= best):
            best = v
    return best


@njit(cache=True, nogil=True)
def row_norm_sq(w, k):
    """(s, e) with ||w_k||^2 = s 2**(2 e), summed in the row scaled to max |.| in [0.5, 1)."""
    r = w.shape[1]
    mx = 0.0
    for p in range(r):
        mx = max(mx, abs(w[k, p]))
    e = exponent_of(mx)
    s = 0.0
    for p in range(r):
        v = math.ldexp(w[k, p], -e)
        s += v * v
    return s, e


@njit(cache=True, nogil=True)
def _hestenes(w, rows, nrows):
    """One-sided Jacobi on the rows ``rows[:nrows]`` of ``w`` (in place): rotate pairs of rows
    until orthogonal; then the row norms are the singular values."""
    r = w.shape[1]
    for _sweep in range(60):
        rotated = False
        for a in range(nrows):
            p = rows[a]
            for b in range(a + 1, nrows):
                q = rows[b]
                alpha = 0.0
                beta = 0.0
                gamma = 0.0
                for c in range(r):
                    alpha += w[p, c] * w[p, c]
                    beta += w[q, c] * w[q, c]
                    gamma += w[p, c] * w[q, c]
                if abs(gamma) <= 1e-15 * math.sqrt(alpha) * math.sqrt(beta) or gamma == 0.0:
                    continue
                rotated = True
                zeta = (beta - alpha) / (2.0 * gamma)
                t = (1.0 if zeta >= 0.0 else -1.0) / (abs(zeta) + math.hypot(1.0, zeta))
                cs = 1.0 / math.sqrt(1.0 + t * t)
                sn = cs * t
                for c in range(r):
                    wp = w[p, c]
                    wq = w[q, c]
                    w[p, c] = cs * wp - sn * wq
                    w[q, c] = sn * wp + cs * wq
        if not rotated:
            break


@njit(cache=True, nogil=True)
def pair_less(s1, p1, s2, p2):
    """s1 2**p1 < s2 2**p2 for s1, s2 >= 0 in [0.25, 2**8) or 0, exactly."""
    if s1 == 0.0 or s2 == 0.0:
        return s1 == 0.0 and s2 > 0.0
    diff = p1 - p2
    if diff > 16:
        return False
    if diff < -16:
        return True
    return math.ldexp(s1, diff) < s2


@njit(cache=True, nogil=True)
def _min_row_norm(w, rows, nrows, shift):
    """(s, p): the smallest squared row norm among ``rows``, as s 2**p (p includes ``shift``)."""
    best_s = 0.0
    best_p = 0
    for a in range(nrows):
        s, ek = row_norm_sq(w, rows[a])
        p = 2 * (shift + ek)
        if a == 0 or pair_less(s, p, best_s, best_p):
            best_s = s
            best_p = p
    return best_s, best_p


@njit(cache=True, nogil=True)
def sigma_min_sq_graded(m, e, r, w, order, basis):
    """sigma_r^2(U) of the top r rows ``m[k] 2**e[k]`` as (s, p): sigma_r^2 = s 2**p.

    Rows whose scales lie within ``GRADE_BITS`` bits of each other are scaled by one power of two
    and orthogonalized by one-sided (Hestenes) Jacobi, as the plain engine does (the same bits
    in float64's range). Rows on widely different scales (the top rows of X_0 at d = 10^1000
    once u_1 has risen) are split into groups of comparable scale, largest first: each group is
    projected off the span of the larger ones (twice, modified Gram-Schmidt) and its smallest
    singular value taken: the Schur complement, exact to a relative 2^-GRADE_BITS. The result is
    the smallest over the groups. ``w``, ``basis`` (r x r) and ``order`` (r,) are scratch.
    """
    # total exponent of every row (max |x_kp| = 2**(tot_k - 1) .. 2**tot_k)
    tot = np.empty(r, dtype=np.int64)
    lo = 1 << 30
    hi = -(1 << 30)
    any_nonzero = False
    for k in range(r):
        mx = 0.0
        for p in range(r):
            mx = max(mx, abs(m[k, p]))
        if not np.isfinite(mx):
            return np.nan, 0
        if mx > 0.0:
            tot[k] = exponent_of(mx) + e[k]
            lo = min(lo, tot[k])
            hi = max(hi, tot[k])
            any_nonzero = True
        else:
            tot[k] = -(1 << 30)
    if not any_nonzero or lo == -(1 << 30) or tot.min() == -(1 << 30):
        return 0.0, 0  # a zero row: sigma_r = 0
    for k in range(r):
        order[k] = k
    if hi - lo <= GRADE_BITS:
        # one scale: scale every row by 2**-hi (exact), one Hestenes pass
        for k in range(r):
            for p in range(r):
                w[k, p] = math.ldexp(m[k, p], e[k] - hi)
        _hestenes(w, order, r)
        return _min_row_norm(w, order, r, hi)
    # sort rows by scale, largest first (insertion sort, r is small)
    for a in range(1, r):
        b = a
        while b > 0 and tot[order[b]] > tot[order[b - 1]]:
            order[b], order[b - 1] = order[b - 1], order[b]
            b -= 1
    nbasis = 0
    best_s = 0.0
    best_p = 0
    start = 0
    while start < r:
        stop = start + 1
        while stop < r and tot[order[stop - 1]] - tot[order[stop]] <= GRADE_BITS:
            stop += 1
        top = tot[order[start]]
        for a in range(start, stop):
            k = order[a]
            for p in range(r):
                w[k, p] = math.ldexp(m[k, p], e[k] - top)
            for _twice in range(2):
                for j in range(nbasis):
                    dot = 0.0
                    for p in range(r):
                        dot += w[k, p] * basis[j, p]
                    for p in range(r):
                        w[k, p] -= dot * basis[j, p]
        group = order[start:stop]
        _hestenes(w, group, stop - start)
        s, p2 = _min_row_norm(w, group, stop - start, top)
        if start == 0 or pair_less(s, p2, best_s, best_p):
            best_s, best_p = s, p2
        # the group's (orthogonal, after Hestenes) rows extend the basis
        for a in range(start, stop):
            k = order[a]
            nrm = 0.0
            for p in range(r):
                nrm += w[k, p] * w[k, p]
            nrm = math.sqrt(nrm)
            if nrm > 0.0 and nbasis < r:
                for p in range(r):
                    basis[nbasis, p] = w[k, p] / nrm
                nbasis += 1
        start = stop
    return best_s, best_p
