"""Compiled kernels: the fused GD step and the per-step Gram diagnostics.

One GD step (paper, eq. 9) on a diagonal Sigma, row by row::

    x_i <- (1 + eta lambda_i) x_i - eta x_i G,      G = X^T X  (r x r)

The kernel reads each row once, writes it once and, in the same pass, accumulates the Gram matrix
of the rows beyond the top r, ``H = J^T J``, which with the top rows ``U`` gives every diagnostic
of the next step (``G = U^T U + H``). No d x d matrix is ever formed.

Determinism: rows are summed in fixed blocks of ``BLOCK_ROWS`` and the block partial sums are added
in block order, whatever the number of threads and whichever kernel (seed-parallel or
row-parallel) runs. No fastmath, so no reassociation: results are bit-identical across batch sizes,
thread counts and machines with IEEE float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK_ROWS = 16384

# run status codes (CF flag_values); RUNNING only inside the engine
RUNNING, CONVERGED, MAX_STEPS, DIVERGED, NONFINITE = -1, 0, 1, 2, 3
STATUS_MEANINGS = "converged max_steps diverged nonfinite"


@njit(cache=True, nogil=True)
def sym_eigvalsh(a):
    """Eigenvalues (ascending) of a small symmetric matrix by cyclic Jacobi rotations.

    Jacobi is used instead of LAPACK because it is accurate for tiny eigenvalues relative to the
    matrix norm and has no call overhead for r x r matrices with r <= ~20.
    """
    n = a.shape[0]
    m = a.copy()
    for _sweep in range(100):
        off = 0.0
        for p in range(n):
            for q in range(p + 1, n):
                off += m[p, q] * m[p, q]
        if off == 0.0:
            break
        scale = 0.0
        for p in range(n):
            scale += m[p, p] * m[p, p]
        if off <= 1e-36 * scale:
            break
        for p in range(n):
            for q in range(p + 1, n):
                apq = m[p, q]
                if apq == 0.0:
                    continue
                theta = (m[q, q] - m[p, p]) / (2.0 * apq)
                t = 1.0 / (abs(theta) + np.sqrt(theta * theta + 1.0))
                if theta < 0.0:
                    t = -t
                c = 1.0 / np.sqrt(t * t + 1.0)
                s = t * c
                for k in range(n):
                    mkp = m[k, p]
                    mkq = m[k, q]
                    m[k, p] = c * mkp - s * mkq
                    m[k, q] = s * mkp + c * mkq
                for k in range(n):
                    mpk = m[p, k]
                    mqk = m[q, k]
                    m[p, k] = c * mpk - s * mqk
                    m[q, k] = s * mpk + c * mqk
    out = np.empty(n)
    for i in range(n):
        out[i] = m[i, i]
    out.sort()
    return out


@njit(cache=True, nogil=True)
def _segment_of(row, seg_start, seg_count):
    """Index of the segment that holds ``row``."""
    s = 0
    while row >= seg_start[s] + seg_count[s]:
        s += 1
    return s


@njit(cache=True, nogil=True)
def _advance_block(x, i0, i1, r, seg_first, seg_inc, seg_start, seg_count, eta, gram, partial):
    """Update rows i0..i1-1 of one iterate in place; add y^T y of rows >= r into ``partial``."""
    for p in range(r):
        for q in range(r):
            partial[p, q] = 0.0
    s = _segment_of(i0, seg_start, seg_count)
    y = np.empty(r)
    for i in range(i0, i1):
        while i >= seg_start[s] + seg_count[s]:
            s += 1
        lam = seg_first[s] + seg_inc[s] * float(i - seg_start[s])
        a = 1.0 + eta * lam
        for q in range(r):
            acc = 0.0
            for p in range(r):
                acc += x[i, p] * gram[p, q]
            y[q] = a * x[i, q] - eta * acc
        for q in range(r):
            x[i, q] = y[q]
        if i >= r:
            # read back the stored value: for float32 storage the Gram must see the rounded iterate
            for p in range(r):
                xp = float(x[i, p])
                for q in range(p, r):
                    partial[p, q] += xp * float(x[i, q])
    for p in range(r):
        for q in range(p):
            partial[p, q] = partial[q, p]


@njit(cache=True, nogil=True)
def rest_gram_blocks(x, r, partials):
    """Block partial Grams of rows >= r (no update): used for the initial H."""
    n = x.shape[0]
    nblk = partials.shape[0]
    for blk in range(nblk):
        i0 = max(blk * BLOCK_ROWS, r)
        i1 = min((blk + 1) * BLOCK_ROWS, n)
        for p in range(r):
            for q in range(r):
                partials[blk, p, q] = 0.0
        for i in range(i0, i1):
            for p in range(r):
                xp = float(x[i, p])
                for q in range(p, r):
                    partials[blk, p, q] += xp * float(x[i, q])
        for p in range(r):
            for q in range(p):
                partials[blk, p, q] = partials[blk, q, p]


@njit(cache=True, nogil=True)
def _sum_partials(partials, out):
    r = out.shape[0]
    for p in range(r):
        for q in range(r):
            out[p, q] = 0.0
    for blk in range(partials.shape[0]):
        for p in range(r):
            for q in range(r):
                out[p, q] += partials[blk, p, q]


@njit(cache=True, nogil=True)
def _diagnose(x, h, top_lam, eta, lam1, stop_error, t, max_steps, j, out_error, out_signal,
              out_noise, out_s1x, out_s1k, out_sru, out_s1j, out_top, gram):
    """Diagnostics of the current iterate (row j of the outputs); returns a status code.

    Every quantity is built from U (top r rows) and H = J^T J as sums of non-negative pieces:
    ||Sigma_r - X X^T||_F^2 = ||Lambda_r - U U^T||_F^2 + 2 sum_i u_i H u_i^T + ||H||_F^2.
    Also fills ``gram`` = U^T U + H for the next update.
    """
    r = h.shape[0]
    n = x.shape[0]
    # U^T U and G
    utu = np.empty((r, r))
    for p in range(r):
        for q in range(r):
            acc = 0.0
            for i in range(r):
                acc += float(x[i, p]) * float(x[i, q])
            utu[p, q] = acc
            gram[p, q] = acc + h[p, q]
    # error
    err2_top = 0.0
    cross = 0.0
    hq = np.empty(r)  # u_k H for the current k
    for i in range(r):
        for k in range(r):
            dot = 0.0
            for p in range(r):
                dot += float(x[i, p]) * float(x[k, p])
            diff = (top_lam[i] if i == k else 0.0) - dot
            err2_top += diff * diff
    h_norm2 = 0.0
    for p in range(r):
        for q in range(r):
            h_norm2 += h[p, q] * h[p, q]
    for k in range(r):
        # quadratic form u_k H u_k^T (>= 0; clamp the rounding of a PSD form)
        quad = 0.0
        for p in range(r):
            acc = 0.0
            for q in range(r):
                acc += h[p, q] * float(x[k, q])
            hq[p] = acc
            quad += float(x[k, p]) * acc
        quad = max(quad, 0.0)
        cross += quad
        sig = 0.0
        for p in range(r):
            sig += float(x[k, p]) * float(x[k, p])
        out_signal[j, k] = sig
        # noise_k^2 = u_k H u_k^T + sum_{i>k} (u_i . u_k)^2   (K_k = rows k+1..d)
        nz = quad
        for i in range(k + 1, r):
            dot = 0.0
            for p in range(r):
                dot += float(x[i, p]) * float(x[k, p])
            nz += dot * dot
        out_noise[j, k] = np.sqrt(nz)
        # sigma_1^2(K_k): largest eigenvalue of H + sum_{i>k} u_i^T u_i
        kk = h.copy()
        for i in range(k + 1, r):
            for p in range(r):
                for q in range(r):
                    kk[p, q] += float(x[i, p]) * float(x[i, q])
        out_s1k[j, k] = sym_eigvalsh(kk)[r - 1]
    error = np.sqrt(err2_top + 2.0 * cross + h_norm2)
    out_error[j] = error
    s1x = sym_eigvalsh(gram)[r - 1]
    out_s1x[j] = s1x
    out_sru[j] = max(sym_eigvalsh(utu)[0], 0.0)
    out_s1j[j] = sym_eigvalsh(h)[r - 1]
    for a in range(3):
        for b in range(3):
            if a < n and b < n:
                dot = 0.0
                for p in range(r):
                    dot += float(x[a, p]) * float(x[b, p])
                out_top[j, a, b] = dot
            else:
                out_top[j, a, b] = np.nan
    if not np.isfinite(error) or not np.isfinite(s1x):
        return NONFINITE
    # sigma_1(X_{t+1}) >= (eta s^2 - 1 - eta lambda_1) sigma_1(X_t): >= 2x per step from here on
    # (discussion after Theorem 6, extended to Sigma != 0), so the run provably diverges.
    if eta * s1x >= 3.0 + eta * lam1:
        return DIVERGED
    if error <= stop_error:
        return CONVERGED
    if t >= max_steps:
        return MAX_STEPS
    return RUNNING


@njit(cache=True, nogil=True)
def _fill_nan(j, out_error, out_signal, out_noise, out_s1x, out_s1k, out_sru, out_s1j, out_top):
    out_error[j] = np.nan
    out_s1x[j] = np.nan
    out_sru[j] = np.nan
    out_s1j[j] = np.nan
    for k in range(out_signal.shape[1]):
        out_signal[j, k] = np.nan
        out_noise[j, k] = np.nan
        out_s1k[j, k] = np.nan
    for a in range(3):
        for b in range(3):
            out_top[j, a, b] = np.nan


@njit(cache=True, nogil=True)
def _run_one_seed(x, h, seg_first, seg_inc, seg_start, seg_count, top_lam, eta, lam1, stop_error,
                  t0, nsteps, max_steps, status, stop_step, partials, out_error, out_signal,
                  out_noise, out_s1x, out_s1k, out_sru, out_s1j, out_top):
    r = h.shape[0]
    n = x.shape[0]
    nblk = partials.shape[0]
    gram = np.empty((r, r))
    st = status[0]
    for j in range(nsteps):
        t = t0 + j
        if st != RUNNING:
            _fill_nan(j, out_error, out_signal, out_noise, out_s1x, out_s1k, out_sru, out_s1j,
                      out_top)
            continue
        st = _diagnose(x, h, top_lam, eta, lam1, stop_error, t, max_steps, j, out_error,
                       out_signal, out_noise, out_s1x, out_s1k, out_sru, out_s1j, out_top, gram)
        if st != RUNNING:
            stop_step[0] = t
            continue
        for blk in range(nblk):
            _advance_block(x, blk * BLOCK_ROWS, min((blk + 1) * BLOCK_ROWS, n), r, seg_first,
                           seg_inc, seg_start, seg_count, eta, gram, partials[blk])
        _sum_partials(partials, h)
    status[0] = st


@njit(cache=True, parallel=True)
def run_seed_parallel(xs, hs, seg_first, seg_inc, seg_start, seg_count, top_lam, eta, lam1,
                      stop_error, t0, nsteps, max_steps, status, stop_step, partials, out_error,
                      out_signal, out_noise, out_s1x, out_s1k, out_sru, out_s1j, out_top):
    """Advance every seed of a batch by ``nsteps`` steps; seeds run in parallel.

    Best when the batch has at least as many seeds as threads (small and moderate d).
    """
    for b in prange(xs.shape[0]):
        _run_one_seed(xs[b], hs[b], seg_first, seg_inc, seg_start, seg_count, top_lam, eta, lam1,
                      stop_error, t0, nsteps, max_steps, status[b:b + 1], stop_step[b:b + 1],
                      partials[b], out_error[b], out_signal[b], out_noise[b], out_s1x[b],
                      out_s1k[b], out_sru[b], out_s1j[b], out_top[b])


@njit(cache=True, parallel=True)
def _advance_all_blocks(xs, active, seg_first, seg_inc, seg_start, seg_count, eta, grams,
                        partials):
    nseed = xs.shape[0]
    nblk = partials.shape[1]
    n = xs.shape[1]
    r = xs.shape[2]
    for item in prange(nseed * nblk):
        b = item // nblk
        blk = item % nblk
        if active[b]:
            _advance_block(xs[b], blk * BLOCK_ROWS, min((blk + 1) * BLOCK_ROWS, n), r, seg_first,
                           seg_inc, seg_start, seg_count, eta, grams[b], partials[b, blk])


@njit(cache=True)
def run_row_parallel(xs, hs, seg_first, seg_inc, seg_start, seg_count, top_lam, eta, lam1,
                     stop_error, t0, nsteps, max_steps, status, stop_step, partials, out_error,
                     out_signal, out_noise, out_s1x, out_s1k, out_sru, out_s1j, out_top):
    """Same as :func:`run_seed_parallel` but the rows of each step are split across threads.

    Best for large d and few seeds. Bit-identical to the seed-parallel kernel (same blocks, same
    order of the block sums).
    """
    nseed = xs.shape[0]
    r = hs.shape[1]
    grams = np.empty((nseed, r, r))
    active = np.zeros(nseed, dtype=np.bool_)
    for j in range(nsteps):
        t = t0 + j
        for b in range(nseed):
            if status[b] != RUNNING:
                active[b] = False
                _fill_nan(j, out_error[b], out_signal[b], out_noise[b], out_s1x[b], out_s1k[b],
                          out_sru[b], out_s1j[b], out_top[b])
                continue
            st = _diagnose(xs[b], hs[b], top_lam, eta, lam1, stop_error, t, max_steps, j,
                           out_error[b], out_signal[b], out_noise[b], out_s1x[b], out_s1k[b],
                           out_sru[b], out_s1j[b], out_top[b], grams[b])
            status[b] = st
            active[b] = st == RUNNING
            if st != RUNNING:
                stop_step[b] = t
        _advance_all_blocks(xs, active, seg_first, seg_inc, seg_start, seg_count, eta, grams,
                            partials)
        for b in range(nseed):
            if active[b]:
                _sum_partials(partials[b], hs[b])
