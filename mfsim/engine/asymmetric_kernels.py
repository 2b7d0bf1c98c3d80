"""Compiled GD for asymmetric factorization, batched over seeds, with every step's diagnostics.

One simultaneous GD step on (X, Y) with Sigma = diag(lambda), row by row::

    x_i <- x_i + eta (lambda_i y_i - x_i G_Y),   y_i <- y_i + eta (lambda_i x_i - y_i G_X),

G_X = X^T X and G_Y = Y^T Y (r x r) of the current iterate. As in the symmetric kernel
(:mod:`mfsim.engine.kernels`, ``docs/design.md``) one pass reads and writes every row once and,
in the same pass, accumulates over the rows beyond the top r (the bulk) the sums that give every
diagnostic of the next iterate: the bulk Grams X_b^T X_b and Y_b^T Y_b, sum_i lambda_i x_i . y_i,
and the noise sums sum_{i >= r} (x_i . y_k)^2 and (y_i . x_k)^2 for the *new* top rows x_k, y_k
(a function of the old top rows and G_X, G_Y only, so they are computed before the rows stream
by). No d x d matrix is formed; a step costs about twice the symmetric step's arithmetic
(two factors).

The diagnostics are those of :mod:`mfsim.engine.asymmetric` (definitions and accuracy in
``mfsim.engine.problem_common`` and ``docs/stages.md``), with the same formulas and a different
summation order: they agree with that NumPy path to rounding (about 1e-13 relative, checked
against a dense GD in ``tests/engine/test_asymmetric.py``).

Rank: the kernels take the rank token ``(0,) * r`` of :func:`mfsim.engine.kernels.rank_token`
for every r, so r is a compile-time constant and the r x r loops are unrolled (one
specialization per r, compiled on first use and cached on disk, see
:mod:`mfsim.engine.compilation`). Runs are independent: ``prange`` over the batch, each run's
sums in row order, so results do not depend on the thread count or the batch.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mfsim.engine.kernels import _rank, _square, _vector

__all__ = ["run_asymmetric"]

#: rows per slab of the fused pass: x and y of a slab (2 x 256 x r x 8 bytes) stay in L1 for r <= 8
_SLAB_ROWS = 256


@njit(cache=True, nogil=True)
def _bulk_pass(tok, lam, x, y, eta, gx, gy, xt_new, yt_new, sums, advance):
    """Over the bulk rows i >= r: (if ``advance``) update x_i, y_i in place with the old Grams
    ``gx``, ``gy``; then sum over the (new) rows into ``sums`` (2 r + 3, r): rows 0..r-1
    X_b^T X_b; row r: sum_i (x_i . yt_new_k)^2; row r + 1: sum_i (y_i . xt_new_k)^2;
    row r + 2, column 0: sum_i lambda_i x_i . y_i; rows r + 3..2 r + 2: Y_b^T Y_b.
    Every sum in row order from 0.0.
    """
    r = _rank(tok)
    d = x.shape[0]
    gxx = _square(tok)
    gyy = _square(tok)
    ax = _square(tok)
    ay = _square(tok)
    xk = _square(tok)
    yk = _square(tok)
    xn = _vector(tok)
    yn = _vector(tok)
    nx = _vector(tok)
    ny = _vector(tok)
    for p in range(r):
        nx[p] = 0.0
        ny[p] = 0.0
        for q in range(r):
            gxx[p, q] = gx[p, q]
            gyy[p, q] = gy[p, q]
            xk[p, q] = xt_new[p, q]
            yk[p, q] = yt_new[p, q]
            ax[p, q] = 0.0
            ay[p, q] = 0.0
    cross = 0.0
    i0 = r
    while i0 < d:
        # a slab: first the update of its rows (independent rows, no loop-carried dependency),
        # then the sums over the same rows while they are in L1 (the ordered, serial part)
        i1 = min(d, i0 + _SLAB_ROWS)
        if advance:
            for i in range(i0, i1):
                li = lam[i]
                for q in range(r):
                    sx = 0.0
                    sy = 0.0
                    for p in range(r):
                        sx += x[i, p] * gyy[p, q]
                        sy += y[i, p] * gxx[p, q]
                    xn[q] = x[i, q] + eta * (li * y[i, q] - sx)
                    yn[q] = y[i, q] + eta * (li * x[i, q] - sy)
                for q in range(r):
                    x[i, q] = xn[q]
                    y[i, q] = yn[q]
        for i in range(i0, i1):
            dot = 0.0
            for p in range(r):
                xp = x[i, p]
                yp = y[i, p]
                dot += xp * yp
                for q in range(p, r):
                    ax[p, q] += xp * x[i, q]
                    ay[p, q] += yp * y[i, q]
            cross += lam[i] * dot
            for k in range(r):
                a = 0.0
                b = 0.0
                for p in range(r):
                    a += x[i, p] * yk[k, p]
                    b += y[i, p] * xk[k, p]
                nx[k] += a * a
                ny[k] += b * b
        i0 = i1
    for p in range(r):
        sums[r, p] = nx[p]
        sums[r + 1, p] = ny[p]
        for q in range(r):
            sums[p, q] = ax[p, q] if q >= p else ax[q, p]
            sums[r + 3 + p, q] = ay[p, q] if q >= p else ay[q, p]
    sums[r + 2, 0] = cross


@njit(cache=True, nogil=True)
def _new_top(tok, lam, x, y, eta, gx, gy, xt_new, yt_new):
    """The top rows (i < r) of the next iterate, into ``xt_new``, ``yt_new`` (r, r)."""
    r = _rank(tok)
    for i in range(r):
        li = lam[i]
        for q in range(r):
            sx = 0.0
            sy = 0.0
            for p in range(r):
                sx += x[i, p] * gy[p, q]
                sy += y[i, p] * gx[p, q]
            xt_new[i, q] = x[i, q] + eta * (li * y[i, q] - sx)
            yt_new[i, q] = y[i, q] + eta * (li * x[i, q] - sy)


@njit(cache=True, nogil=True)
def _diagnose(tok, lam, lam_b2, x, y, sums, gx, gy, t, out):
    """Diagnostics of the iterate whose top rows are x[:r], y[:r] and bulk sums ``sums``; also
    fills the full Grams ``gx``, ``gy`` for the next update."""
    r = _rank(tok)
    error, distance, signal, signal_x, signal_y, noise, imbalance = out
    top2 = 0.0
    for k in range(r):
        for m in range(r):
            pkl = 0.0
            for j in range(r):
                pkl += x[k, j] * y[m, j]
            if k == m:
                signal[t, k] = pkl
                pkl -= lam[k]
            top2 += pkl * pkl
    t_xt_yb = 0.0
    t_xb_yt = 0.0
    t_xb_yb = 0.0
    gap2 = 0.0
    for p in range(r):
        for q in range(r):
            gxt = 0.0
            gyt = 0.0
            for i in range(r):
                gxt += x[i, p] * x[i, q]
                gyt += y[i, p] * y[i, q]
            gxb = sums[p, q]
            gyb = sums[r + 3 + p, q]
            t_xt_yb += gxt * gyb
            t_xb_yt += gxb * gyt
            t_xb_yb += gxb * gyb
            gx[p, q] = gxt + gxb
            gy[p, q] = gyt + gyb
            g = gx[p, q] - gy[p, q]
            gap2 += g * g
    err2 = top2 + t_xt_yb + t_xb_yt + t_xb_yb
    bulk2 = lam_b2 - 2.0 * sums[r + 2, 0] + t_xb_yb
    dist2 = err2 - t_xb_yb + max(bulk2, 0.0)
    error[t] = math.sqrt(err2)
    distance[t] = math.sqrt(max(dist2, 0.0))
    imbalance[t] = math.sqrt(gap2)
    for k in range(r):
        sx = 0.0
        sy = 0.0
        for j in range(r):
            sx += x[k, j] * x[k, j]
            sy += y[k, j] * y[k, j]
        signal_x[t, k] = sx
        signal_y[t, k] = sy
        a = sums[r, k]
        b = sums[r + 1, k]
        for i in range(k + 1, r):
            da = 0.0
            db = 0.0
            for j in range(r):
                da += x[i, j] * y[k, j]
                db += y[i, j] * x[k, j]
            a += da * da
            b += db * db
        noise[t, k] = math.sqrt((a + b) / 2.0)


@njit(cache=True, nogil=True)
def _run_one(tok, lam, lam_b2, x, y, eta, steps, out):
    r = _rank(tok)
    sums = np.zeros((2 * r + 3, r))
    gx = np.empty((r, r))
    gy = np.empty((r, r))
    xt_new = np.empty((r, r))
    yt_new = np.empty((r, r))
    for p in range(r):
        for q in range(r):
            xt_new[p, q] = x[p, q]
            yt_new[p, q] = y[p, q]
    _bulk_pass(tok, lam, x, y, eta, gx, gy, xt_new, yt_new, sums, False)
    for t in range(steps + 1):
        _diagnose(tok, lam, lam_b2, x, y, sums, gx, gy, t, out)
        if t == steps:
            break
        _new_top(tok, lam, x, y, eta, gx, gy, xt_new, yt_new)
        _bulk_pass(tok, lam, x, y, eta, gx, gy, xt_new, yt_new, sums, True)
        for p in range(r):
            for q in range(r):
                x[p, q] = xt_new[p, q]
                y[p, q] = yt_new[p, q]


@njit(cache=True, parallel=True)
def _run_batch(tok, lam, lam_b2, xs, ys, eta, steps, error, distance, signal, sx, sy, noise, imb):
    for b in prange(xs.shape[0]):
        out = (error[b], distance[b], signal[b], sx[b], sy[b], noise[b], imb[b])
        _run_one(tok, lam, lam_b2, xs[b], ys[b], eta, steps, out)


def run_asymmetric(lam: np.ndarray, x: np.ndarray, y: np.ndarray, eta: float, steps: int) -> dict:
    """Run ``steps`` asymmetric GD steps on a batch; every step's diagnostics.

    Parameters
    ----------
    lam : ndarray (d,)
        Eigenvalues of Sigma, float64.
    x, y : ndarray (n_runs, d, r)
        X_0 and Y_0, float64; copied (the inputs are not modified).
    eta : float
        Step size.
    steps : int
        Number of steps; diagnostics at steps 0..steps.

    Returns
    -------
    dict
        ``error``, ``distance``, ``imbalance_norm`` (n_runs, steps + 1); ``signal``,
        ``signal_X``, ``signal_Y``, ``noise`` (n_runs, steps + 1, r): the quantities of
        :func:`mfsim.engine.asymmetric.simulate_asymmetric` (same names).
    """
    from mfsim.engine.compilation import compiling

    xs = np.array(x, dtype=np.float64, order="C")
    ys = np.array(y, dtype=np.float64, order="C")
    n_runs, d, r = xs.shape
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    lam_b2 = float(lam[r:] @ lam[r:])
    n = steps + 1
    out = {
        "error": np.empty((n_runs, n)),
        "distance": np.empty((n_runs, n)),
        "signal": np.empty((n_runs, n, r)),
        "signal_X": np.empty((n_runs, n, r)),
        "signal_Y": np.empty((n_runs, n, r)),
        "noise": np.empty((n_runs, n, r)),
        "imbalance_norm": np.empty((n_runs, n)),
    }
    tok = (0,) * r  # a tuple token for every r (one unrolled specialization per rank)
    with compiling(("asymmetric", r), "asymmetric kernels"):
        _run_batch(
            tok, lam, lam_b2, xs, ys, float(eta), int(steps), out["error"], out["distance"],
            out["signal"], out["signal_X"], out["signal_Y"], out["noise"], out["imbalance_norm"],
        )  # fmt: skip
    return out
