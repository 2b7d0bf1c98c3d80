"""Compiled kernels: the fused GD step and the per-step diagnostics.

One GD step (paper, eq. 9) on a diagonal Sigma, row by row::

    x_i <- (1 + eta lambda_i) x_i - eta x_i G,      G = X^T X  (r x r)

The kernel reads each row once, writes it once and, in the same pass, accumulates two sums over
the rows beyond the top r (the *bulk* J): the Gram matrix ``H = J^T J`` and, for every k, the
cancellation-free noise sum ``sum_{i > r} (x_i . u_k)^2`` of the new iterate (the new top rows
u_k are a function of the old ones and G only, so every block knows them before its rows stream
by). With the top rows ``U`` these give every diagnostic of the next step (``G = U^T U + H``).
No d x d matrix is ever formed. See ``docs/accuracy.md`` for the accuracy of each diagnostic.

Determinism: rows are summed in fixed blocks of ``BLOCK_ROWS`` and the block partial sums are added
in block order, whatever the number of threads and whichever kernel (seed-parallel or
row-parallel) runs. No fastmath, so no reassociation and no FMA contraction: results are
bit-identical across batch sizes, thread counts and machines with IEEE float64.

Scaling: u_k is divided by a power of two (exact) before the noise sums, so that products of
tiny rows (d up to 10^300: top rows near 1e-150) do not underflow; the squared norms are computed
the same way. In float64's normal range this changes no bit.

Speed
-----
Each block is processed in *slabs* of ``_SLAB_BYTES`` (L1-sized): first the update of every row of
the slab (rows are independent: no loop-carried dependency, so LLVM pipelines and vectorizes this
pass across rows), then the bulk sums over the same rows while they are still in L1 (the serial
part, whose order is fixed). Two implementations of that block step, chosen at compile time by
the *rank token* the entry points take (:func:`rank_token`):

* ``r <= SPECIALIZED_MAX_R``: the token is the tuple ``(0,) * r``; its length is part of its
  numba type, so r is a compile-time constant: LLVM sees literal-size r x r loops that it
  unrolls, with the scratch arrays on the stack (:func:`_square`) and the accumulators in
  registers.
* larger r: the token is ``None``: runtime r, explicit 4 x 4 register tiles (4 rows x 4 columns
  of ``x G`` at a time, 4 x 4 blocks of the Gram), with r padded to a multiple of 4.

The eigenvalue of a row comes from its segment (``first + increment * j``, the expression of
``Segment.values``); consecutive one-row segments (a custom spectrum's values that no arithmetic
segment reproduces) share a slab and are read as a stream of eigenvalues beside X
(:func:`_slab_end`, :func:`_growth_factors`): 8 bytes per row instead of one slab per row. A
block finds its first segment by binary search.

The noise sums cost r^2 multiply-adds per bulk row beside the r(r+1)/2 of the Gram: where the
step is compute-bound (rows in cache: d = 4000 x 64 seeds) a step takes about 1.5x (r = 2) to 2x
(r = 3) the time of the Gram-only pass; where it is memory-bound (d = 10^6) the cost is hidden.

Both keep the arithmetic of the plain row-by-row loop exactly: every entry of ``x_i G`` is the sum
over p in ascending order starting from 0.0, every entry of a block partial sum is the sum over
the block's rows in row order starting from 0.0 (no FMA contraction: no fastmath flag at all),
checked against the plain loop in ``tests/engine/test_kernels.py``.

Compilation: only the specializations a run uses (rank token, storage dtype, layout) are
compiled, on first use; ``cache=True`` keeps them on disk (see :mod:`mfsim.engine.compilation`).

Entry points take named tuples (:class:`Segments`, :class:`Params`, :class:`BatchState`,
:class:`Outputs`) instead of positional arrays.

Note: numba's ``float()`` of a float32 is float32, so elements are widened with ``np.float64()``:
with float32 storage the iterate is rounded to float32 after every step, but Gram products and
diagnostics are float64 (a float32 product of two tiny entries would underflow to 0 and hide a
signal that the iterate still holds).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from mfsim.datamodel import CONVERGED, DIVERGED, MAX_STEPS, NONFINITE, RUNNING, UNDERFLOW
from mfsim.datamodel import STATUS_MEANINGS as STATUS_MEANINGS  # re-exported

BLOCK_ROWS = 16384

# the rank is a compile-time constant for r <= SPECIALIZED_MAX_R (one compiled kernel per r),
# runtime (tiled kernel) above. 16: at d = 1e6 the compile-time kernel took 0.20x (r = 12) to
# 0.56x (r = 16) the tiled kernel's time per block, bit-identical (benchmarks/README.md)
SPECIALIZED_MAX_R = 16

# rows of a slab: update pass, then the bulk sums over the same rows while they are in L1
_SLAB_BYTES = 8192

# run status codes (CF flag_values; mfsim.datamodel); RUNNING only inside the engine.
# UNDERFLOW: a diagnostic whose exact value is positive fell below float64's normal range
# (2.2e-308), where its relative accuracy is lost (docs/accuracy.md).

_TINY = float(np.finfo(np.float64).tiny)

# ---- the arguments of the entry points

#: Eigenvalue segments of the effective rows: row ``start[s] + j`` has eigenvalue
#: ``first[s] + increment[s] * j`` (float64, float64, int64, int64 arrays of one length).
Segments = namedtuple("Segments", ["first", "increment", "start", "count"])

#: Run constants: ``top_lam`` (r,) lambda_1..lambda_r; ``eta``, ``lam1``, ``stop_error``
#: (floats); ``max_steps`` (int); ``floor_factor`` (float): noise_floor_k = floor_factor
#: |u_k| ||K_k||_F (docs/accuracy.md).
Params = namedtuple("Params", ["top_lam", "eta", "lam1", "stop_error", "max_steps", "floor_factor"])

#: The state of a batch, updated in place. ``xs`` (n_runs, n_rows, r) the iterates (float64 or
#: float32); ``bulk`` (n_runs, r + 1, r): rows 0..r-1 hold H = J^T J, row r the scaled noise sums
#: of :func:`_bulk_sums`; ``partials`` (n_runs, n_blocks, r + 1, r) their block partial sums;
#: ``status``, ``stop_step`` (n_runs,) int64.
BatchState = namedtuple("BatchState", ["xs", "bulk", "partials", "status", "stop_step"])

#: Per-step diagnostics of one block of steps, filled by the kernels: (n_runs, nsteps) for
#: ``error``, ``s1x``, ``sru``, ``s1j``; (n_runs, nsteps, r) for ``signal``, ``noise``,
#: ``noise_floor``, ``s1k``; (n_runs, nsteps, 3, 3) for ``top``.
Outputs = namedtuple(
    "Outputs", ["error", "signal", "noise", "noise_floor", "s1x", "s1k", "sru", "s1j", "top"]
)


def rank_token(r: int):
    """The compile-time rank token of the entry points: ``(0,) * r``, or None above
    ``SPECIALIZED_MAX_R`` (tiled runtime-r kernel)."""
    return (0,) * int(r) if int(r) <= SPECIALIZED_MAX_R else None


def empty_outputs(n_runs: int, nsteps: int, r: int) -> Outputs:
    """Uninitialized :class:`Outputs` for a block of ``nsteps`` steps."""
    return Outputs(
        np.empty((n_runs, nsteps)),
        np.empty((n_runs, nsteps, r)),
        np.empty((n_runs, nsteps, r)),
        np.empty((n_runs, nsteps, r)),
        np.empty((n_runs, nsteps)),
        np.empty((n_runs, nsteps, r)),
        np.empty((n_runs, nsteps)),
        np.empty((n_runs, nsteps)),
        np.empty((n_runs, nsteps, 3, 3)),
    )


def new_state(xs: np.ndarray, segs: Segments) -> BatchState:
    """:class:`BatchState` of a batch of initial iterates (bulk sums of X_0 included)."""
    xs = np.ascontiguousarray(xs)
    n_runs, n_rows, r = xs.shape
    n_blocks = -(-n_rows // BLOCK_ROWS)
    partials = np.zeros((n_runs, n_blocks, r + 1, r))
    bulk = np.empty((n_runs, r + 1, r))
    tok = rank_token(r)
    for b in range(n_runs):
        initial_bulk_sums(tok, xs[b], partials[b])
        _sum_partials(partials[b], bulk[b])
    status = np.full(n_runs, RUNNING, dtype=np.int64)
    stop_step = np.full(n_runs, -1, dtype=np.int64)
    return BatchState(xs, bulk, partials, status, stop_step)


# --------------------------------------------------------------------------------------------
# rank tokens (0,) * r: r as a compile-time constant
# --------------------------------------------------------------------------------------------


@intrinsic
def _rank(typingctx, tok):
    """r of a rank token ``(0,) * r``, as a compile-time constant."""
    if not isinstance(tok, types.UniTuple):
        return None
    n = tok.count

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, n)

    return types.intp(tok), codegen


def _stack_array(ndim):
    """Intrinsic: an uninitialized float64 C array of shape (r,) * ndim on the stack.

    The intrinsic is lowered inline and the alloca goes to the entry block of the *calling*
    function, so the array lives as long as that call: it must never be returned or stored.
    """
    arrty = types.Array(types.float64, ndim, "C")

    def impl(typingctx, tok):
        if not isinstance(tok, types.UniTuple):
            return None
        n = tok.count

        def codegen(context, builder, sig, args):
            intp = context.get_value_type(types.intp)
            ptr = cgutils.alloca_once(builder, context.get_value_type(types.float64), size=n**ndim)
            ary = context.make_array(arrty)(context, builder)
            context.populate_array(
                ary,
                data=ptr,
                shape=[intp(n)] * ndim,
                strides=[intp(8 * n ** (ndim - 1 - k)) for k in range(ndim)],
                itemsize=intp(8),
                meminfo=None,
            )
            return ary._getvalue()

        return arrty(tok), codegen

    return intrinsic(impl)


_square = _stack_array(2)
_vector = _stack_array(1)

# --------------------------------------------------------------------------------------------
# small symmetric eigenproblems
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _jacobi(m):
    """Diagonalize the symmetric matrix ``m`` in place by cyclic Jacobi rotations."""
    n = m.shape[0]
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


@njit(cache=True, nogil=True)
def sym_eigvalsh(a):
    """Eigenvalues (ascending) of a small symmetric matrix by cyclic Jacobi rotations.

    Jacobi is used instead of LAPACK because it is accurate for tiny eigenvalues relative to the
    matrix norm and has no call overhead for r x r matrices with r <= ~20.
    """
    m = a.copy()
    _jacobi(m)
    n = m.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = m[i, i]
    out.sort()
    return out


@njit(cache=True, nogil=True)
def _eig_max(a, m):
    """``sym_eigvalsh(a)[-1]`` without allocating (``m``: scratch): NaN if any is NaN."""
    n = a.shape[0]
    for p in range(n):
        for q in range(n):
            m[p, q] = a[p, q]
    _jacobi(m)
    best = m[0, 0]
    for i in range(1, n):
        v = m[i, i]
        if not np.isnan(best) and (np.isnan(v) or v >= best):
            best = v
    return best


@njit(cache=True, nogil=True)
def _segment_of(row, seg_start, seg_count):
    """Index of the segment that holds ``row`` (binary search: a custom spectrum may have one
    segment per row)."""
    lo = 0
    hi = seg_start.shape[0] - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if seg_start[mid] <= row:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True, nogil=True)
def _slab_end(segs, s, c0, limit):
    """One past the last row of the slab that starts at row c0 of segment s (rows < limit).

    A slab lies in one segment, except that consecutive one-row segments (the eigenvalues of a
    custom spectrum that no arithmetic segment reproduces) share a slab: their eigenvalues are
    then read as a stream beside X.
    """
    if segs.count[s] != 1:
        return min(limit, segs.start[s] + segs.count[s])
    c1 = c0 + 1
    t = s + 1
    while c1 < limit and segs.count[t] == 1:
        c1 += 1
        t += 1
    return c1


@njit(cache=True, nogil=True)
def _growth_factors(segs, s, c0, m, eta, av):
    """av[k] = 1 + eta lambda for the rows c0 .. c0 + m - 1 of a slab starting in segment s.

    lambda = first + increment * j, the expression of Segment.values; for one-row segments
    (j = 0) that is ``first`` itself (x + (+-0.0) = x), so reading ``first`` directly gives the
    same bits.
    """
    if segs.count[s] == 1:
        for k in range(m):
            av[k] = 1.0 + eta * segs.first[s + k]
    else:
        first = segs.first[s]
        inc = segs.increment[s]
        base = c0 - segs.start[s]
        for k in range(m):
            av[k] = 1.0 + eta * (first + inc * float(base + k))


@njit(cache=True, nogil=True)
def _slab_rows(r):
    return max(_SLAB_BYTES // (8 * r), 8)


@njit(cache=True, nogil=True)
def _exponent(m):
    """e with m / 2**e in [0.5, 1) (frexp), 0 for m == 0 or not finite: an exact scaling."""
    if m > 0.0 and m < np.inf:
        return math.frexp(m)[1]
    return 0


@njit(cache=True, nogil=True)
def _scaled_rows(x, uhat, expo):
    """uhat[k] = u_k / 2**expo[k] (exact), max |uhat[k, p]| in [0.5, 1), for the top r rows."""
    r = x.shape[1]
    for k in range(r):
        m = 0.0
        for p in range(r):
            m = max(m, abs(np.float64(x[k, p])))
        e = _exponent(m)
        expo[k] = e
        for p in range(r):
            uhat[k, p] = math.ldexp(np.float64(x[k, p]), -e)


@njit(cache=True, nogil=True)
def _next_top(x, segs, eta, gram, unew, uhat, expo):
    """The top r rows after the step, exactly as the block update stores them (``unew``, in the
    storage dtype), and their power-of-two scaled copies for the noise sums."""
    r = x.shape[1]
    s = 0
    for k in range(r):
        while k >= segs.start[s] + segs.count[s]:
            s += 1
        lam = segs.first[s] + segs.increment[s] * float(k - segs.start[s])
        a = 1.0 + eta * lam
        for q in range(r):
            acc_q = 0.0
            for p in range(r):
                acc_q += x[k, p] * gram[p, q]
            unew[k, q] = a * x[k, q] - eta * acc_q
    _scaled_rows(unew, uhat, expo)


# ---- compile-time r (rank token): literal-size loops, unrolled, accumulators in registers


@njit(cache=True, nogil=True, inline="always")
def _bulk_rows_static(tok, xc, k0, k1, acc, uh, nacc):
    """acc[p, q] += x_ip x_iq (q >= p) and nacc[k] += (x_i . uh_k)^2 for the rows i = k0..k1-1
    of the flat row-major slab ``xc``.

    One chain per entry, rows in order: the fixed summation order of the determinism rules (the
    Gram and noise chains are independent, so one loop lets them overlap). Reads the stored
    value: for float32 storage the sums must see the rounded iterate.
    """
    r = _rank(tok)
    for i in range(k0, k1):
        for p in range(r):
            xp = np.float64(xc[i * r + p])
            for q in range(p, r):
                acc[p, q] += xp * np.float64(xc[i * r + q])
        for k in range(r):
            dot = 0.0
            for p in range(r):
                dot += np.float64(xc[i * r + p]) * uh[k, p]
            nacc[k] += dot * dot


@njit(cache=True, nogil=True)
def _advance_block_static(tok, x, i0, i1, segs, eta, gram, uhat, partial):
    r = _rank(tok)
    g = _square(tok)
    uh = _square(tok)
    acc = _square(tok)
    y = _vector(tok)
    nacc = _vector(tok)
    for p in range(r):
        nacc[p] = 0.0
        for q in range(r):
            g[p, q] = gram[p, q]
            uh[p, q] = uhat[p, q]
            acc[p, q] = 0.0
    xf = x.reshape(x.shape[0] * r)
    slab = _slab_rows(r)
    av = np.empty(slab)
    s = _segment_of(i0, segs.start, segs.count)
    c0 = i0
    while c0 < i1:
        while c0 >= segs.start[s] + segs.count[s]:
            s += 1
        c1 = _slab_end(segs, s, c0, min(i1, c0 + slab))
        xc = xf[c0 * r : c1 * r]
        m = c1 - c0
        _growth_factors(segs, s, c0, m, eta, av)
        # update pass: independent rows (vectorized across rows)
        for k in range(m):
            a = av[k]
            for q in range(r):
                acc_q = 0.0
                for p in range(r):
                    acc_q += xc[k * r + p] * g[p, q]
                y[q] = a * xc[k * r + q] - eta * acc_q
            for q in range(r):
                xc[k * r + q] = y[q]
        # bulk sums over the same rows (rows < r are U, not part of the bulk)
        k0 = min(max(r - c0, 0), m)
        _bulk_rows_static(tok, xc, k0, m, acc, uh, nacc)
        c0 = c1
    for p in range(r):
        partial[r, p] = nacc[p]
        for q in range(r):
            partial[p, q] = acc[p, q] if q >= p else acc[q, p]


@njit(cache=True, nogil=True)
def _bulk_block_static(tok, x, i0, i1, uhat, partial):
    r = _rank(tok)
    uh = _square(tok)
    acc = _square(tok)
    nacc = _vector(tok)
    for p in range(r):
        nacc[p] = 0.0
        for q in range(r):
            uh[p, q] = uhat[p, q]
            acc[p, q] = 0.0
    if i1 > i0:
        xc = x.reshape(x.shape[0] * r)[i0 * r : i1 * r]
        _bulk_rows_static(tok, xc, 0, i1 - i0, acc, uh, nacc)
    for p in range(r):
        partial[r, p] = nacc[p]
        for q in range(r):
            partial[p, q] = acc[p, q] if q >= p else acc[q, p]


# ---- runtime r: 4 x 4 register tiles (r padded to a multiple of 4 in the scratch arrays)


@njit(cache=True, nogil=True)
def _update_rows_tiled(xc, m, r, rp, av, eta, gp, ybuf):
    """x_k <- a_k x_k - eta x_k G for the rows k < m of the flat slab ``xc``.

    Four rows times four columns of x_k G at a time (16 chains, each the same sum over p in
    ascending order from 0.0 as the row-by-row loop); ``gp`` is G padded with zero columns to
    ``rp`` (a multiple of 4); ``ybuf`` (4, rp) holds x_k G until every column is done.
    """
    k = 0
    while k + 4 <= m:
        b0 = k * r
        b1 = b0 + r
        b2 = b1 + r
        b3 = b2 + r
        for q0 in range(0, rp, 4):
            s00 = s01 = s02 = s03 = 0.0
            s10 = s11 = s12 = s13 = 0.0
            s20 = s21 = s22 = s23 = 0.0
            s30 = s31 = s32 = s33 = 0.0
            for p in range(r):
                g0 = gp[p, q0]
                g1 = gp[p, q0 + 1]
                g2 = gp[p, q0 + 2]
                g3 = gp[p, q0 + 3]
                x0 = xc[b0 + p]
                x1 = xc[b1 + p]
                x2 = xc[b2 + p]
                x3 = xc[b3 + p]
                s00 += x0 * g0
                s01 += x0 * g1
                s02 += x0 * g2
                s03 += x0 * g3
                s10 += x1 * g0
                s11 += x1 * g1
                s12 += x1 * g2
                s13 += x1 * g3
                s20 += x2 * g0
                s21 += x2 * g1
                s22 += x2 * g2
                s23 += x2 * g3
                s30 += x3 * g0
                s31 += x3 * g1
                s32 += x3 * g2
                s33 += x3 * g3
            ybuf[0, q0] = s00
            ybuf[0, q0 + 1] = s01
            ybuf[0, q0 + 2] = s02
            ybuf[0, q0 + 3] = s03
            ybuf[1, q0] = s10
            ybuf[1, q0 + 1] = s11
            ybuf[1, q0 + 2] = s12
            ybuf[1, q0 + 3] = s13
            ybuf[2, q0] = s20
            ybuf[2, q0 + 1] = s21
            ybuf[2, q0 + 2] = s22
            ybuf[2, q0 + 3] = s23
            ybuf[3, q0] = s30
            ybuf[3, q0 + 1] = s31
            ybuf[3, q0 + 2] = s32
            ybuf[3, q0 + 3] = s33
        for j in range(4):
            a = av[k + j]
            bj = (k + j) * r
            for q in range(r):
                xc[bj + q] = a * xc[bj + q] - eta * ybuf[j, q]
        k += 4
    while k < m:
        a = av[k]
        for q in range(r):
            acc_q = 0.0
            for p in range(r):
                acc_q += xc[k * r + p] * gp[p, q]
            ybuf[0, q] = a * xc[k * r + q] - eta * acc_q
        for q in range(r):
            xc[k * r + q] = ybuf[0, q]
        k += 1


@njit(cache=True, nogil=True)
def _gram_rows_tiled(xc, k0, k1, r, rp, acc):
    """acc[p, q] += x_kp x_kq for the rows k0..k1-1, in 4 x 4 tiles on and above the diagonal.

    ``acc`` is (rp, rp); every entry is one chain over the rows in order (as in the row-by-row
    loop). Column indices past r - 1 are clamped, so the padding entries hold junk never read;
    entries below the diagonal inside diagonal tiles repeat their mirror image exactly.
    """
    last = r - 1
    for p0 in range(0, rp, 4):
        pa = min(p0, last)
        pb = min(p0 + 1, last)
        pc = min(p0 + 2, last)
        pd = min(p0 + 3, last)
        for q0 in range(p0, rp, 4):
            qa = min(q0, last)
            qb = min(q0 + 1, last)
            qc = min(q0 + 2, last)
            qd = min(q0 + 3, last)
            a00 = acc[p0, q0]
            a01 = acc[p0, q0 + 1]
            a02 = acc[p0, q0 + 2]
            a03 = acc[p0, q0 + 3]
            a10 = acc[p0 + 1, q0]
            a11 = acc[p0 + 1, q0 + 1]
            a12 = acc[p0 + 1, q0 + 2]
            a13 = acc[p0 + 1, q0 + 3]
            a20 = acc[p0 + 2, q0]
            a21 = acc[p0 + 2, q0 + 1]
            a22 = acc[p0 + 2, q0 + 2]
            a23 = acc[p0 + 2, q0 + 3]
            a30 = acc[p0 + 3, q0]
            a31 = acc[p0 + 3, q0 + 1]
            a32 = acc[p0 + 3, q0 + 2]
            a33 = acc[p0 + 3, q0 + 3]
            for k in range(k0, k1):
                b = k * r
                xp0 = np.float64(xc[b + pa])
                xp1 = np.float64(xc[b + pb])
                xp2 = np.float64(xc[b + pc])
                xp3 = np.float64(xc[b + pd])
                xq0 = np.float64(xc[b + qa])
                xq1 = np.float64(xc[b + qb])
                xq2 = np.float64(xc[b + qc])
                xq3 = np.float64(xc[b + qd])
                a00 += xp0 * xq0
                a01 += xp0 * xq1
                a02 += xp0 * xq2
                a03 += xp0 * xq3
                a10 += xp1 * xq0
                a11 += xp1 * xq1
                a12 += xp1 * xq2
                a13 += xp1 * xq3
                a20 += xp2 * xq0
                a21 += xp2 * xq1
                a22 += xp2 * xq2
                a23 += xp2 * xq3
                a30 += xp3 * xq0
                a31 += xp3 * xq1
                a32 += xp3 * xq2
                a33 += xp3 * xq3
            acc[p0, q0] = a00
            acc[p0, q0 + 1] = a01
            acc[p0, q0 + 2] = a02
            acc[p0, q0 + 3] = a03
            acc[p0 + 1, q0] = a10
            acc[p0 + 1, q0 + 1] = a11
            acc[p0 + 1, q0 + 2] = a12
            acc[p0 + 1, q0 + 3] = a13
            acc[p0 + 2, q0] = a20
            acc[p0 + 2, q0 + 1] = a21
            acc[p0 + 2, q0 + 2] = a22
            acc[p0 + 2, q0 + 3] = a23
            acc[p0 + 3, q0] = a30
            acc[p0 + 3, q0 + 1] = a31
            acc[p0 + 3, q0 + 2] = a32
            acc[p0 + 3, q0 + 3] = a33


@njit(cache=True, nogil=True)
def _noise_rows_tiled(xc, k0, k1, r, uhat, nacc):
    """nacc[k] += (x_i . uhat_k)^2 for the rows i = k0..k1-1 (same order as the static loop)."""
    for i in range(k0, k1):
        b = i * r
        for k in range(r):
            dot = 0.0
            for p in range(r):
                dot += np.float64(xc[b + p]) * uhat[k, p]
            nacc[k] += dot * dot


@njit(cache=True, nogil=True)
def _advance_block_tiled(x, i0, i1, segs, eta, gram, uhat, partial):
    r = x.shape[1]
    rp = (r + 3) // 4 * 4
    gp = np.zeros((r, rp))
    acc = np.zeros((rp, rp))
    nacc = np.zeros(r)
    ybuf = np.empty((4, rp))
    for p in range(r):
        for q in range(r):
            gp[p, q] = gram[p, q]
    xf = x.reshape(x.shape[0] * r)
    slab = _slab_rows(r)
    av = np.empty(slab)
    s = _segment_of(i0, segs.start, segs.count)
    c0 = i0
    while c0 < i1:
        while c0 >= segs.start[s] + segs.count[s]:
            s += 1
        c1 = _slab_end(segs, s, c0, min(i1, c0 + slab))
        m = c1 - c0
        xc = xf[c0 * r : c1 * r]
        _growth_factors(segs, s, c0, m, eta, av)
        _update_rows_tiled(xc, m, r, rp, av, eta, gp, ybuf)
        k0 = min(max(r - c0, 0), m)
        _gram_rows_tiled(xc, k0, m, r, rp, acc)
        _noise_rows_tiled(xc, k0, m, r, uhat, nacc)
        c0 = c1
    for p in range(r):
        partial[r, p] = nacc[p]
        for q in range(r):
            partial[p, q] = acc[p, q] if q >= p else acc[q, p]


@njit(cache=True, nogil=True)
def _bulk_block_tiled(x, i0, i1, uhat, partial):
    r = x.shape[1]
    rp = (r + 3) // 4 * 4
    acc = np.zeros((rp, rp))
    nacc = np.zeros(r)
    if i1 > i0:
        xc = x.reshape(x.shape[0] * r)[i0 * r : i1 * r]
        _gram_rows_tiled(xc, 0, i1 - i0, r, rp, acc)
        _noise_rows_tiled(xc, 0, i1 - i0, r, uhat, nacc)
    for p in range(r):
        partial[r, p] = nacc[p]
        for q in range(r):
            partial[p, q] = acc[p, q] if q >= p else acc[q, p]


# ---- dispatch on the rank token, written once: resolved at compile time


def _advance_block(tok, x, i0, i1, segs, eta, gram, uhat, partial):
    """Update rows i0..i1-1 of one iterate in place; set ``partial`` to the bulk sums of its
    rows >= r: ``partial[:r]`` = y^T y, ``partial[r, k]`` = sum (y_i . uhat_k)^2.

    Compiled code only (an overload): a rank token ``(0,) * r`` selects the compile-time-r
    kernel, None the tiled one.
    """
    raise NotImplementedError("compiled code only")


def _bulk_block(tok, x, i0, i1, uhat, partial):
    """The bulk sums of rows i0..i1-1 without an update (same order of sums as the step)."""
    raise NotImplementedError("compiled code only")


@overload(_advance_block, jit_options={"nogil": True})
def _advance_block_impl(tok, x, i0, i1, segs, eta, gram, uhat, partial):
    if isinstance(tok, types.NoneType):

        def tiled(tok, x, i0, i1, segs, eta, gram, uhat, partial):
            _advance_block_tiled(x, i0, i1, segs, eta, gram, uhat, partial)

        return tiled

    def static(tok, x, i0, i1, segs, eta, gram, uhat, partial):
        _advance_block_static(tok, x, i0, i1, segs, eta, gram, uhat, partial)

    return static


@overload(_bulk_block, jit_options={"nogil": True})
def _bulk_block_impl(tok, x, i0, i1, uhat, partial):
    if isinstance(tok, types.NoneType):

        def tiled(tok, x, i0, i1, uhat, partial):
            _bulk_block_tiled(x, i0, i1, uhat, partial)

        return tiled

    def static(tok, x, i0, i1, uhat, partial):
        _bulk_block_static(tok, x, i0, i1, uhat, partial)

    return static


@njit(cache=True, nogil=True)
def advance_block(tok, x, i0, i1, segs, eta, gram, uhat, partial):
    """:func:`_advance_block` callable from Python (tests)."""
    _advance_block(tok, x, i0, i1, segs, eta, gram, uhat, partial)


@njit(cache=True, nogil=True)
def initial_bulk_sums(tok, x, partials):
    """Block partial bulk sums of rows >= r of X_0 (no update), with the scaling of its U."""
    n, r = x.shape
    uhat = np.empty((r, r))
    expo = np.empty(r, dtype=np.int64)
    _scaled_rows(x, uhat, expo)
    for blk in range(partials.shape[0]):
        i0 = max(blk * BLOCK_ROWS, r)
        i1 = max(min((blk + 1) * BLOCK_ROWS, n), i0)
        _bulk_block(tok, x, i0, i1, uhat, partials[blk])


@njit(cache=True, nogil=True)
def _sum_partials(partials, out):
    rows, cols = out.shape
    for p in range(rows):
        for q in range(cols):
            out[p, q] = 0.0
    for blk in range(partials.shape[0]):
        for p in range(rows):
            for q in range(cols):
                out[p, q] += partials[blk, p, q]


# --------------------------------------------------------------------------------------------
# per-step diagnostics
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _diag_scratch(r):
    """Scratch of :func:`_diagnose`, allocated once per kernel call (not per step)."""
    return np.empty((7, r, r))


@njit(cache=True, nogil=True)
def _scaled_norm_sq(w, k):
    """(s, e) with ||w_k||^2 = s 2**(2 e), s computed from the row scaled to max |.| in
    [0.5, 1): no intermediate underflow."""
    r = w.shape[1]
    m = 0.0
    for p in range(r):
        m = max(m, abs(w[k, p]))
    e = _exponent(m)
    s = 0.0
    for p in range(r):
        v = math.ldexp(w[k, p], -e)
        s += v * v
    return s, e


@njit(cache=True, nogil=True)
def _sigma_min_sq(x, w):
    """sigma_r^2(U) of the top r rows: one-sided (Hestenes) Jacobi on the rows of U.

    Rotating pairs of rows until they are orthogonal leaves the singular values as the row
    norms; this is accurate relative to sigma_r itself (not to ||U||) when the rows differ in
    scale, unlike an eigenvalue of U^T U. U is scaled by a power of two first (exact).
    Returns (sigma_r^2, resolved): resolved is False when a positive value underflowed.
    """
    r = w.shape[0]
    m = 0.0
    for k in range(r):
        for p in range(r):
            m = max(m, abs(np.float64(x[k, p])))
    if not np.isfinite(m):
        return np.nan, True
    e = _exponent(m)
    for k in range(r):
        for p in range(r):
            w[k, p] = math.ldexp(np.float64(x[k, p]), -e)
    for _sweep in range(60):
        rotated = False
        for p in range(r):
            for q in range(p + 1, r):
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
    best = np.inf
    best_s = 0.0
    for k in range(r):
        s, ek = _scaled_norm_sq(w, k)
        v = math.ldexp(s, 2 * (e + ek))
        if v < best or k == 0:
            best = v
            best_s = s
    return best, not (best_s > 0.0 and best < _TINY)


@njit(cache=True, nogil=True)
def _diagnose(x, bulk, params, t, j, out, gram, scratch, expo):
    """Diagnostics of the current iterate (row j of the outputs); returns a status code.

    The error is built from U (top r rows) and H = J^T J (``bulk[:r]``) as sums of non-negative
    pieces: ||Sigma_r - X X^T||_F^2 = ||Lambda_r - U U^T||_F^2 + 2 sum_k u_k H u_k^T + ||H||_F^2.
    The noise is sigma_1(u_k K_k^T) = (sum_{i > k} (x_i . u_k)^2)^(1/2), from the bulk terms
    accumulated in the fused pass (``bulk[r]``, with u_k scaled by 2**-expo[k]) plus the top-block
    terms, each computed directly: no difference of large numbers (docs/accuracy.md).
    Also fills ``gram`` = U^T U + H for the next update.
    """
    r = bulk.shape[1]
    n = x.shape[0]
    h = bulk[:r]
    utu = scratch[0]
    dots = scratch[1]  # dots[i, k] = u_i . u_k
    kk = scratch[2]
    work = scratch[3]
    uhat = scratch[4]  # u_k / 2**expo[k]
    svd = scratch[5]
    hq = scratch[6, 0]  # u_k H for the current k
    eta = params.eta
    top_lam = params.top_lam
    resolved = True
    _scaled_rows(x, uhat, expo)
    # U^T U and G
    for p in range(r):
        for q in range(r):
            acc = 0.0
            for i in range(r):
                acc += np.float64(x[i, p]) * np.float64(x[i, q])
            utu[p, q] = acc
            gram[p, q] = acc + h[p, q]
    # error
    err2_top = 0.0
    cross = 0.0
    for i in range(r):
        for k in range(r):
            dot = 0.0
            for p in range(r):
                dot += np.float64(x[i, p]) * np.float64(x[k, p])
            dots[i, k] = dot
            diff = (top_lam[i] if i == k else 0.0) - dot
            err2_top += diff * diff
    h_norm2 = 0.0
    trace_h = 0.0
    for p in range(r):
        trace_h += h[p, p]
        for q in range(r):
            h_norm2 += h[p, q] * h[p, q]
    s1j = _eig_max(h, work)
    for k in range(r):
        # quadratic form u_k H u_k^T (>= 0; clamp the rounding of a PSD form): enters the error
        quad = 0.0
        for p in range(r):
            acc = 0.0
            for q in range(r):
                acc += h[p, q] * np.float64(x[k, q])
            hq[p] = acc
            quad += np.float64(x[k, p]) * acc
        quad = max(quad, 0.0)
        cross += quad
        # signal ||u_k||^2, summed in the scaled row (bit-identical to the plain sum in range)
        sig_scaled = 0.0
        for p in range(r):
            sig_scaled += uhat[k, p] * uhat[k, p]
        sig = math.ldexp(sig_scaled, 2 * expo[k])
        out.signal[j, k] = sig
        # noise_k^2 = sum_{i > r} (x_i . u_k)^2 + sum_{k < i < r} (u_i . u_k)^2, scaled by 2**-2e_k
        nz = bulk[r, k]
        for i in range(k + 1, r):
            dik = 0.0
            for p in range(r):
                dik += np.float64(x[i, p]) * uhat[k, p]
            nz += dik * dik
        noise = math.ldexp(math.sqrt(nz), expo[k])
        out.noise[j, k] = noise
        if (sig_scaled > 0.0 and sig < _TINY) or (nz > 0.0 and noise < _TINY):
            resolved = False
        # sigma_1^2(K_k): largest eigenvalue of H + sum_{i>k} u_i^T u_i (just H for k = r - 1)
        if k == r - 1:
            out.s1k[j, k] = s1j
        else:
            for p in range(r):
                for q in range(r):
                    kk[p, q] = h[p, q]
            for i in range(k + 1, r):
                for p in range(r):
                    for q in range(r):
                        kk[p, q] += np.float64(x[i, p]) * np.float64(x[i, q])
            out.s1k[j, k] = _eig_max(kk, work)
    # noise_floor_k = floor_factor |u_k| ||K_k||_F, ||K_k||_F^2 = tr H + sum_{i > k} ||u_i||^2
    tail = trace_h
    for k in range(r - 1, -1, -1):
        norm_u = math.sqrt(out.signal[j, k])
        out.noise_floor[j, k] = params.floor_factor * norm_u * math.sqrt(max(tail, 0.0))
        tail += out.signal[j, k]
    error = math.sqrt(err2_top + 2.0 * cross + h_norm2)
    out.error[j] = error
    s1x = _eig_max(gram, work)
    out.s1x[j] = s1x
    sru, sru_resolved = _sigma_min_sq(x, svd)
    out.sru[j] = sru
    resolved = resolved and sru_resolved
    out.s1j[j] = s1j
    for a in range(3):
        for b in range(3):
            if a < n and b < n:
                dot = 0.0
                for p in range(r):
                    dot += np.float64(x[a, p]) * np.float64(x[b, p])
                out.top[j, a, b] = dot
            else:
                out.top[j, a, b] = np.nan
    if not np.isfinite(error) or not np.isfinite(s1x):
        return NONFINITE
    # sigma_1(X_{t+1}) >= (eta s^2 - 1 - eta lambda_1) sigma_1(X_t): >= 2x per step from here on
    # (discussion after Theorem 6, extended to Sigma != 0), so the run provably diverges.
    if eta * s1x >= 3.0 + eta * params.lam1:
        return DIVERGED
    if error <= params.stop_error:
        return CONVERGED
    if not resolved:
        return UNDERFLOW
    if t >= params.max_steps:
        return MAX_STEPS
    return RUNNING


@njit(cache=True, nogil=True)
def _fill_nan(j, out):
    out.error[j] = np.nan
    out.s1x[j] = np.nan
    out.sru[j] = np.nan
    out.s1j[j] = np.nan
    for k in range(out.signal.shape[1]):
        out.signal[j, k] = np.nan
        out.noise[j, k] = np.nan
        out.noise_floor[j, k] = np.nan
        out.s1k[j, k] = np.nan
    for a in range(3):
        for b in range(3):
            out.top[j, a, b] = np.nan


@njit(cache=True, nogil=True)
def _seed_outputs(out, b):
    """The outputs of seed b (views)."""
    return Outputs(
        out.error[b],
        out.signal[b],
        out.noise[b],
        out.noise_floor[b],
        out.s1x[b],
        out.s1k[b],
        out.sru[b],
        out.s1j[b],
        out.top[b],
    )


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _run_one_seed(tok, x, bulk, partials, status, stop_step, segs, params, t0, nsteps, out):
    r = x.shape[1]
    n = x.shape[0]
    nblk = partials.shape[0]
    gram = np.empty((r, r))
    scratch = _diag_scratch(r)
    expo = np.empty(r, dtype=np.int64)
    unew = np.empty((r, r), dtype=x.dtype)
    uhat = np.empty((r, r))
    st = status[0]
    for j in range(nsteps):
        t = t0 + j
        if st != RUNNING:
            _fill_nan(j, out)
            continue
        st = _diagnose(x, bulk, params, t, j, out, gram, scratch, expo)
        if st != RUNNING:
            stop_step[0] = t
            continue
        _next_top(x, segs, params.eta, gram, unew, uhat, expo)
        for blk in range(nblk):
            i0 = blk * BLOCK_ROWS
            i1 = min((blk + 1) * BLOCK_ROWS, n)
            _advance_block(tok, x, i0, i1, segs, params.eta, gram, uhat, partials[blk])
        _sum_partials(partials, bulk)
    status[0] = st


@njit(cache=True, parallel=True)
def run_seed_parallel(tok, state, segs, params, t0, nsteps, out):
    """Advance every seed of a batch by ``nsteps`` steps; seeds run in parallel.

    Parameters
    ----------
    tok : tuple or None
        :func:`rank_token` of r (selects the compiled specialization).
    state : BatchState
        Updated in place.
    segs : Segments
    params : Params
    t0 : int
        Step number of the first step of the block.
    nsteps : int
    out : Outputs
        Filled with the diagnostics of steps t0 .. t0 + nsteps - 1 (NaN after a run stopped).

    Best when the batch has at least as many seeds as threads (small and moderate d).
    """
    xs = state.xs
    bulk = state.bulk
    partials = state.partials
    status = state.status
    stop_step = state.stop_step
    for b in prange(xs.shape[0]):
        _run_one_seed(
            tok,
            xs[b],
            bulk[b],
            partials[b],
            status[b : b + 1],
            stop_step[b : b + 1],
            segs,
            params,
            t0,
            nsteps,
            _seed_outputs(out, b),
        )


@njit(cache=True, parallel=True)
def _advance_all_blocks(tok, xs, active, segs, eta, grams, uhats, partials):
    nseed = xs.shape[0]
    nblk = partials.shape[1]
    n = xs.shape[1]
    for item in prange(nseed * nblk):
        b = item // nblk
        blk = item % nblk
        if active[b]:
            i0 = blk * BLOCK_ROWS
            i1 = min((blk + 1) * BLOCK_ROWS, n)
            _advance_block(tok, xs[b], i0, i1, segs, eta, grams[b], uhats[b], partials[b, blk])


@njit(cache=True)
def run_row_parallel(tok, state, segs, params, t0, nsteps, out):
    """Same as :func:`run_seed_parallel` but the rows of each step are split across threads.

    Best for large d and few seeds. Bit-identical to the seed-parallel kernel (same blocks, same
    order of the block sums).
    """
    xs = state.xs
    nseed = xs.shape[0]
    r = xs.shape[2]
    grams = np.empty((nseed, r, r))
    uhats = np.empty((nseed, r, r))
    unew = np.empty((r, r), dtype=xs.dtype)
    expo = np.empty(r, dtype=np.int64)
    scratch = _diag_scratch(r)
    active = np.zeros(nseed, dtype=np.bool_)
    for j in range(nsteps):
        t = t0 + j
        for b in range(nseed):
            o = _seed_outputs(out, b)
            if state.status[b] != RUNNING:
                active[b] = False
                _fill_nan(j, o)
                continue
            st = _diagnose(xs[b], state.bulk[b], params, t, j, o, grams[b], scratch, expo)
            state.status[b] = st
            active[b] = st == RUNNING
            if st != RUNNING:
                state.stop_step[b] = t
            else:
                _next_top(xs[b], segs, params.eta, grams[b], unew, uhats[b], expo)
        _advance_all_blocks(tok, xs, active, segs, params.eta, grams, uhats, state.partials)
        for b in range(nseed):
            if active[b]:
                _sum_partials(state.partials[b], state.bulk[b])
