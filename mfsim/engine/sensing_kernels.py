"""Compiled GD for matrix sensing with the rank-one operator family, batched over seeds.

For A_i = (a_i a_i^T - b_i b_i^T) / 2 (:class:`mfsim.engine.sensing_operators.RankOne`) one step
X <- X - (eta / m) sum_i w_i A_i X, w_i = <A_i, X X^T> - y_i, takes one pass over the
measurements: for each i, the r-vectors p_i = X^T a_i and q_i = X^T b_i give
w_i = (|p_i|^2 - |q_i|^2) / 2 - y_i, and the gradient gains w_i (a_i p_i^T - b_i q_i^T) / 2 while
a_i and b_i are still in L1. That is the O(m d r) algorithm of the NumPy path (4 m d r
multiply-adds per run and step), reading a and b once per step instead of twice, with nothing of
size m d allocated.

Determinism: the measurements are split into fixed blocks of ``BLOCK`` (of
:mod:`mfsim.engine.sensing_operators`); each (run, block) sums its measurements in order into its
own partial gradient (``prange`` over all (run, block) pairs, so one run uses every thread), and
the partials are added in block order. Results do not depend on the thread count or the batch.

Diagnostics of every iterate (error, distance, signal, noise) come from the kernels of
:mod:`mfsim.engine.asymmetric_kernels` with Y = X (the same formulas as
:mod:`mfsim.engine.problem_common`), plus the measurement residual (1/m) sum_i w_i^2. numba's
cache checks only this file's stamp: after editing those helpers in a checkout, delete the cache
directory once (see :mod:`mfsim.engine.compilation`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mfsim.engine.asymmetric_kernels import _bulk_pass, _diagnose
from mfsim.engine.kernels import _rank, _vector
from mfsim.engine.sensing_operators import BLOCK

__all__ = ["run_rank_one_sensing"]


@njit(cache=True, parallel=True)
def _gradient_blocks(tok, a, b, targets, xs, partials, residuals):
    """partials[run, j] = sum over block j's measurements of w_i (a_i p_i^T - b_i q_i^T) / 2;
    residuals[run, j] = the block's sum of w_i^2."""
    r = _rank(tok)
    n_runs, m, d = a.shape
    n_blocks = partials.shape[1]
    for item in prange(n_runs * n_blocks):
        run = item // n_blocks
        j = item % n_blocks
        x = xs[run]
        g = partials[run, j]
        g[:, :] = 0.0
        p = _vector(tok)
        q = _vector(tok)
        res2 = 0.0
        for i in range(j * BLOCK, min(m, (j + 1) * BLOCK)):
            ai = a[run, i]
            bi = b[run, i]
            for k in range(r):
                p[k] = 0.0
                q[k] = 0.0
            for row in range(d):
                for k in range(r):
                    p[k] += ai[row] * x[row, k]
                    q[k] += bi[row] * x[row, k]
            pp = 0.0
            qq = 0.0
            for k in range(r):
                pp += p[k] * p[k]
                qq += q[k] * q[k]
            w = 0.5 * (pp - qq) - targets[run, i]
            res2 += w * w
            hw = 0.5 * w
            for k in range(r):
                p[k] *= hw
                q[k] *= hw
            for row in range(d):
                for k in range(r):
                    g[row, k] += ai[row] * p[k] - bi[row] * q[k]
        residuals[run, j] = res2


@njit(cache=True, parallel=True)
def _diagnose_and_step(
    tok, lam, lam_b2, xs, partials, residuals, scale, m, t, advance, out, scratch
):
    """Diagnostics of iterate t for every run; then (if ``advance``) X <- X - scale * gradient,
    the gradient the block partials summed in block order."""
    r = _rank(tok)
    n_runs, d, _ = xs.shape
    n_blocks = partials.shape[1]
    for run in prange(n_runs):
        x = xs[run]
        sums = np.zeros((2 * r + 3, r))
        gx = np.empty((r, r))
        gy = np.empty((r, r))
        top = np.empty((r, r))
        for p in range(r):
            for q in range(r):
                top[p, q] = x[p, q]
        _bulk_pass(tok, lam, x, x, 0.0, gx, gy, top, top, sums, False)
        diag = (out[0][run], out[1][run], out[2][run], scratch[0][run], scratch[1][run],
                out[3][run], scratch[2][run])  # fmt: skip
        _diagnose(tok, lam, lam_b2, x, x, sums, gx, gy, t, diag)
        total = 0.0
        for j in range(n_blocks):
            total += residuals[run, j]
        out[4][run, t] = total / m
        if advance:
            for row in range(d):
                for k in range(r):
                    acc = 0.0
                    for j in range(n_blocks):
                        acc += partials[run, j, row, k]
                    x[row, k] -= scale * acc


@njit(cache=True, parallel=True)
def _targets(a, b, lam, out):
    """y_i = <A_i, diag(lam)> = (sum_j lam_j a_ij^2 - sum_j lam_j b_ij^2) / 2."""
    n_runs, m, d = a.shape
    for item in prange(n_runs * m):
        run = item // m
        i = item % m
        sa = 0.0
        sb = 0.0
        for j in range(d):
            sa += lam[j] * a[run, i, j] * a[run, i, j]
            sb += lam[j] * b[run, i, j] * b[run, i, j]
        out[run, i] = 0.5 * (sa - sb)


def run_rank_one_sensing(lam, operator, x, eta: float, steps: int) -> dict:
    """Run ``steps`` sensing GD steps with a :class:`RankOne` operator; every step's diagnostics.

    Parameters
    ----------
    lam : ndarray (d,)
        Eigenvalues of Sigma, float64.
    operator : RankOne
        a, b of shape (n_runs, m, d).
    x : ndarray (n_runs, d, r)
        X_0, float64; copied.
    eta : float
        Step size.
    steps : int
        Number of steps; diagnostics at steps 0..steps.

    Returns
    -------
    dict
        ``error``, ``distance``, ``residual`` (n_runs, steps + 1); ``signal``, ``noise``
        (n_runs, steps + 1, r): the quantities of :func:`mfsim.engine.sensing.simulate_sensing`.
    """
    from mfsim.engine.compilation import compiling

    xs = np.array(x, dtype=np.float64, order="C")
    n_runs, d, r = xs.shape
    a = np.ascontiguousarray(operator.a, dtype=np.float64)
    b = np.ascontiguousarray(operator.b, dtype=np.float64)
    m = a.shape[1]
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    lam_b2 = float(lam[r:] @ lam[r:])
    n = steps + 1
    names = ("error", "distance", "signal", "noise", "residual")
    shapes = ((n,), (n,), (n, r), (n, r), (n,))
    out = {k: np.empty((n_runs, *s)) for k, s in zip(names, shapes, strict=True)}
    # signal_X, signal_Y and the imbalance of the asymmetric diagnostics: unused with Y = X
    scratch = (np.empty((n_runs, n, r)), np.empty((n_runs, n, r)), np.empty((n_runs, n)))
    outs = tuple(out[k] for k in names)
    n_blocks = -(-m // BLOCK)
    partials = np.empty((n_runs, n_blocks, d, r))
    residuals = np.empty((n_runs, n_blocks))
    targets = np.empty((n_runs, m))
    tok = (0,) * r
    with compiling(("sensing", r), "sensing kernels"):
        _targets(a, b, lam, targets)
        _gradient_blocks(tok, a, b, targets, xs, partials, residuals)
        _diagnose_and_step(
            tok, lam, lam_b2, xs, partials, residuals, eta / m, m, 0, steps > 0, outs, scratch
        )
    for t in range(1, steps + 1):
        _gradient_blocks(tok, a, b, targets, xs, partials, residuals)
        _diagnose_and_step(
            tok, lam, lam_b2, xs, partials, residuals, eta / m, m, t, t < steps, outs, scratch
        )
    return out
