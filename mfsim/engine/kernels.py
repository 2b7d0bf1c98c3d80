"""Compiled kernels: the fused GD step and the per-step Gram diagnostics.

One GD step (paper, eq. 9) on a diagonal Sigma, row by row::

    x_i <- (1 + eta lambda_i) x_i - eta x_i G,      G = X^T X  (r x r)

The kernel reads each row once, writes it once and, in the same pass, accumulates the Gram matrix
of the rows beyond the top r, ``H = J^T J``, which with the top rows ``U`` gives every diagnostic
of the next step (``G = U^T U + H``). No d x d matrix is ever formed.

Determinism: rows are summed in fixed blocks of ``BLOCK_ROWS`` and the block partial sums are added
in block order, whatever the number of threads and whichever kernel (seed-parallel or
row-parallel) runs. No fastmath, so no reassociation and no FMA contraction: results are
bit-identical across batch sizes, thread counts and machines with IEEE float64.

Speed (issue 7)
---------------
Each block is processed in chunks of ``_CHUNK_BYTES`` (L1-sized): first the update of every row of
the chunk (rows are independent: no loop-carried dependency, so LLVM pipelines and vectorizes this
pass across rows), then the Gram accumulation over the same rows while they are still in L1 (the
serial part, whose order is fixed). Two implementations of that block step, chosen by r inside the
compiled code (:func:`_advance_block`):

* ``r <= SPECIALIZED_MAX_R``: the rank is a compile-time constant. The kernel takes a *rank
  token*, the tuple ``(0,) * r``; its length is part of its numba type, so numba compiles one
  specialization per r, and LLVM sees literal-size r x r loops that it unrolls, with the scratch
  arrays on the stack (:func:`_square`) and the Gram accumulators in registers.
* larger r: runtime r, explicit 4 x 4 register tiles (4 rows x 4 columns of ``x G`` at a time,
  4 x 4 blocks of the Gram), with r padded to a multiple of 4 in the scratch arrays.

Both keep the arithmetic of the plain row-by-row loop exactly: every entry of ``x_i G`` is the sum
over p in ascending order starting from 0.0, every entry of a block partial Gram is the sum over
the block's rows in row order starting from 0.0 (no FMA contraction: no fastmath flag at all). The
diagnostics are the same computations (their scratch arrays are allocated once per kernel call
instead of several times per step, the u_i . u_k products are computed once, and sigma_1^2(K_r) is
sigma_1^2(J), computed once). Hence the results are bit-identical to the previous implementation:
checked on reference runs (figure1 d = 4000 x 4 seeds x 500 steps; linear kappa = 4, r = 2,
d = 50000; linear kappa = 30, r = 10, d = 3000; r = 1; r = 3; float32 storage; both layouts), and
against the plain loop in ``tests/engine/test_kernels.py``.

Compile time: the first call compiles every specialization (a few seconds each, once per storage
dtype and layout); ``cache=True`` keeps them on disk for later processes.

Note: numba's ``float()`` of a float32 is float32, so elements are widened with ``np.float64()``:
with float32 storage the iterate is rounded to float32 after every step, but Gram products and
diagnostics are float64 (a float32 product of two tiny entries would underflow to 0 and hide a
signal that the iterate still holds).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

BLOCK_ROWS = 16384

# the rank is a compile-time constant for r <= SPECIALIZED_MAX_R (one compiled kernel per r),
# runtime (tiled kernel) above
SPECIALIZED_MAX_R = 10

# rows of a chunk: update pass, then Gram pass over the same rows while they are in L1
_CHUNK_BYTES = 8192

# run status codes (CF flag_values); RUNNING only inside the engine
RUNNING, CONVERGED, MAX_STEPS, DIVERGED, NONFINITE = -1, 0, 1, 2, 3
STATUS_MEANINGS = "converged max_steps diverged nonfinite"


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

# the rank tokens of the compile-time-r kernels (globals: frozen as constants)
_T1 = (0,) * 1
_T2 = (0,) * 2
_T3 = (0,) * 3
_T4 = (0,) * 4
_T5 = (0,) * 5
_T6 = (0,) * 6
_T7 = (0,) * 7
_T8 = (0,) * 8
_T9 = (0,) * 9
_T10 = (0,) * 10


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
def _eig_min(a, m):
    """``sym_eigvalsh(a)[0]`` without allocating: the smallest non-NaN (NaN if none)."""
    n = a.shape[0]
    for p in range(n):
        for q in range(n):
            m[p, q] = a[p, q]
    _jacobi(m)
    best = np.nan
    for i in range(n):
        v = m[i, i]
        if not np.isnan(v) and (np.isnan(best) or v < best):
            best = v
    return best


# --------------------------------------------------------------------------------------------
# the fused step
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _segment_of(row, seg_start, seg_count):
    """Index of the segment that holds ``row``."""
    s = 0
    while row >= seg_start[s] + seg_count[s]:
        s += 1
    return s


@njit(cache=True, nogil=True)
def _chunk_rows(r):
    return max(_CHUNK_BYTES // (8 * r), 8)


# ---- compile-time r (rank token): literal-size loops, unrolled, accumulators in registers


@njit(cache=True, nogil=True, inline="always")
def _gram_rows_static(tok, xc, k0, k1, acc):
    """acc[p, q] += x_kp x_kq (q >= p) for the rows k0..k1-1 of the flat row-major chunk ``xc``.

    One chain per entry, rows in order: the fixed summation order of the determinism rules.
    Reads the stored value: for float32 storage the Gram must see the rounded iterate.
    """
    r = _rank(tok)
    for k in range(k0, k1):
        for p in range(r):
            xp = np.float64(xc[k * r + p])
            for q in range(p, r):
                acc[p, q] += xp * np.float64(xc[k * r + q])


@njit(cache=True, nogil=True)
def _advance_block_static(
    tok, x, i0, i1, seg_first, seg_inc, seg_start, seg_count, eta, gram, partial
):
    r = _rank(tok)
    g = _square(tok)
    acc = _square(tok)
    y = _vector(tok)
    for p in range(r):
        for q in range(r):
            g[p, q] = gram[p, q]
            acc[p, q] = 0.0
    xf = x.reshape(x.shape[0] * r)
    chunk = _chunk_rows(r)
    s = _segment_of(i0, seg_start, seg_count)
    c0 = i0
    while c0 < i1:
        while c0 >= seg_start[s] + seg_count[s]:
            s += 1
        c1 = min(i1, seg_start[s] + seg_count[s], c0 + chunk)
        first = seg_first[s]
        inc = seg_inc[s]
        base = c0 - seg_start[s]
        xc = xf[c0 * r : c1 * r]
        m = c1 - c0
        # update pass: independent rows (vectorized across rows)
        for k in range(m):
            lam = first + inc * float(base + k)
            a = 1.0 + eta * lam
            for q in range(r):
                acc_q = 0.0
                for p in range(r):
                    acc_q += xc[k * r + p] * g[p, q]
                y[q] = a * xc[k * r + q] - eta * acc_q
            for q in range(r):
                xc[k * r + q] = y[q]
        # Gram pass over the same rows (rows < r are U, not part of H)
        _gram_rows_static(tok, xc, min(max(r - c0, 0), m), m, acc)
        c0 = c1
    for p in range(r):
        for q in range(r):
            partial[p, q] = acc[p, q] if q >= p else acc[q, p]


@njit(cache=True, nogil=True)
def _rest_gram_block_static(tok, x, i0, i1, partial):
    r = _rank(tok)
    acc = _square(tok)
    for p in range(r):
        for q in range(r):
            acc[p, q] = 0.0
    if i1 > i0:
        xc = x.reshape(x.shape[0] * r)[i0 * r : i1 * r]
        _gram_rows_static(tok, xc, 0, i1 - i0, acc)
    for p in range(r):
        for q in range(r):
            partial[p, q] = acc[p, q] if q >= p else acc[q, p]


# ---- runtime r: 4 x 4 register tiles (r padded to a multiple of 4 in the scratch arrays)


@njit(cache=True, nogil=True)
def _update_rows_tiled(xc, m, r, rp, first, inc, base, eta, gp, ybuf):
    """x_k <- a_k x_k - eta x_k G for the rows k < m of the flat chunk ``xc``.

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
            lam = first + inc * float(base + k + j)
            a = 1.0 + eta * lam
            bj = (k + j) * r
            for q in range(r):
                xc[bj + q] = a * xc[bj + q] - eta * ybuf[j, q]
        k += 4
    while k < m:
        lam = first + inc * float(base + k)
        a = 1.0 + eta * lam
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
def _advance_block_tiled(x, i0, i1, seg_first, seg_inc, seg_start, seg_count, eta, gram, partial):
    r = x.shape[1]
    rp = (r + 3) // 4 * 4
    gp = np.zeros((r, rp))
    acc = np.zeros((rp, rp))
    ybuf = np.empty((4, rp))
    for p in range(r):
        for q in range(r):
            gp[p, q] = gram[p, q]
    xf = x.reshape(x.shape[0] * r)
    chunk = _chunk_rows(r)
    s = _segment_of(i0, seg_start, seg_count)
    c0 = i0
    while c0 < i1:
        while c0 >= seg_start[s] + seg_count[s]:
            s += 1
        c1 = min(i1, seg_start[s] + seg_count[s], c0 + chunk)
        m = c1 - c0
        xc = xf[c0 * r : c1 * r]
        _update_rows_tiled(xc, m, r, rp, seg_first[s], seg_inc[s], c0 - seg_start[s], eta, gp, ybuf)
        _gram_rows_tiled(xc, min(max(r - c0, 0), m), m, r, rp, acc)
        c0 = c1
    for p in range(r):
        for q in range(r):
            partial[p, q] = acc[p, q] if q >= p else acc[q, p]


@njit(cache=True, nogil=True)
def _rest_gram_block_tiled(x, i0, i1, partial):
    r = x.shape[1]
    rp = (r + 3) // 4 * 4
    acc = np.zeros((rp, rp))
    if i1 > i0:
        xc = x.reshape(x.shape[0] * r)[i0 * r : i1 * r]
        _gram_rows_tiled(xc, 0, i1 - i0, r, rp, acc)
    for p in range(r):
        for q in range(r):
            partial[p, q] = acc[p, q] if q >= p else acc[q, p]


# ---- dispatch on r


@njit(cache=True, nogil=True)
def _advance_block(x, i0, i1, r, seg_first, seg_inc, seg_start, seg_count, eta, gram, partial):
    """Update rows i0..i1-1 of one iterate in place; set ``partial`` to y^T y of its rows >= r.

    r = 1 .. SPECIALIZED_MAX_R (keep the branches in sync): compile-time r; otherwise tiled.
    """
    args = (x, i0, i1, seg_first, seg_inc, seg_start, seg_count, eta, gram, partial)
    if r == 1:
        _advance_block_static(_T1, *args)
    elif r == 2:
        _advance_block_static(_T2, *args)
    elif r == 3:
        _advance_block_static(_T3, *args)
    elif r == 4:
        _advance_block_static(_T4, *args)
    elif r == 5:
        _advance_block_static(_T5, *args)
    elif r == 6:
        _advance_block_static(_T6, *args)
    elif r == 7:
        _advance_block_static(_T7, *args)
    elif r == 8:
        _advance_block_static(_T8, *args)
    elif r == 9:
        _advance_block_static(_T9, *args)
    elif r == 10:
        _advance_block_static(_T10, *args)
    else:
        _advance_block_tiled(*args)


@njit(cache=True, nogil=True)
def _rest_gram_block(x, i0, i1, r, partial):
    """Gram of the rows i0..i1-1 (same order of sums as :func:`_advance_block`)."""
    args = (x, i0, i1, partial)
    if r == 1:
        _rest_gram_block_static(_T1, *args)
    elif r == 2:
        _rest_gram_block_static(_T2, *args)
    elif r == 3:
        _rest_gram_block_static(_T3, *args)
    elif r == 4:
        _rest_gram_block_static(_T4, *args)
    elif r == 5:
        _rest_gram_block_static(_T5, *args)
    elif r == 6:
        _rest_gram_block_static(_T6, *args)
    elif r == 7:
        _rest_gram_block_static(_T7, *args)
    elif r == 8:
        _rest_gram_block_static(_T8, *args)
    elif r == 9:
        _rest_gram_block_static(_T9, *args)
    elif r == 10:
        _rest_gram_block_static(_T10, *args)
    else:
        _rest_gram_block_tiled(*args)


@njit(cache=True, nogil=True)
def rest_gram_blocks(x, r, partials):
    """Block partial Grams of rows >= r (no update): used for the initial H."""
    x = np.ascontiguousarray(x)
    n = x.shape[0]
    for blk in range(partials.shape[0]):
        i0 = max(blk * BLOCK_ROWS, r)
        i1 = max(min((blk + 1) * BLOCK_ROWS, n), i0)
        _rest_gram_block(x, i0, i1, r, partials[blk])


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


# --------------------------------------------------------------------------------------------
# per-step diagnostics
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _diag_scratch(r):
    """Scratch of :func:`_diagnose`, allocated once per kernel call (not per step)."""
    return np.empty((5, r, r))


@njit(cache=True, nogil=True)
def _diagnose(
    x,
    h,
    top_lam,
    eta,
    lam1,
    stop_error,
    t,
    max_steps,
    j,
    out_error,
    out_signal,
    out_noise,
    out_s1x,
    out_s1k,
    out_sru,
    out_s1j,
    out_top,
    gram,
    scratch,
):
    """Diagnostics of the current iterate (row j of the outputs); returns a status code.

    Every quantity is built from U (top r rows) and H = J^T J as sums of non-negative pieces:
    ||Sigma_r - X X^T||_F^2 = ||Lambda_r - U U^T||_F^2 + 2 sum_i u_i H u_i^T + ||H||_F^2.
    Also fills ``gram`` = U^T U + H for the next update. ``scratch``: (5, r, r) work space.
    """
    r = h.shape[0]
    n = x.shape[0]
    utu = scratch[0]
    dots = scratch[1]  # dots[i, k] = u_i . u_k
    kk = scratch[2]
    work = scratch[3]
    hq = scratch[4, 0]  # u_k H for the current k
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
    for p in range(r):
        for q in range(r):
            h_norm2 += h[p, q] * h[p, q]
    s1j = _eig_max(h, work)
    for k in range(r):
        # quadratic form u_k H u_k^T (>= 0; clamp the rounding of a PSD form)
        quad = 0.0
        for p in range(r):
            acc = 0.0
            for q in range(r):
                acc += h[p, q] * np.float64(x[k, q])
            hq[p] = acc
            quad += np.float64(x[k, p]) * acc
        quad = max(quad, 0.0)
        cross += quad
        sig = 0.0
        for p in range(r):
            sig += np.float64(x[k, p]) * np.float64(x[k, p])
        out_signal[j, k] = sig
        # noise_k^2 = u_k H u_k^T + sum_{i>k} (u_i . u_k)^2   (K_k = rows k+1..d)
        nz = quad
        for i in range(k + 1, r):
            nz += dots[i, k] * dots[i, k]
        out_noise[j, k] = np.sqrt(nz)
        # sigma_1^2(K_k): largest eigenvalue of H + sum_{i>k} u_i^T u_i (just H for k = r - 1)
        if k == r - 1:
            out_s1k[j, k] = s1j
        else:
            for p in range(r):
                for q in range(r):
                    kk[p, q] = h[p, q]
            for i in range(k + 1, r):
                for p in range(r):
                    for q in range(r):
                        kk[p, q] += np.float64(x[i, p]) * np.float64(x[i, q])
            out_s1k[j, k] = _eig_max(kk, work)
    error = np.sqrt(err2_top + 2.0 * cross + h_norm2)
    out_error[j] = error
    s1x = _eig_max(gram, work)
    out_s1x[j] = s1x
    out_sru[j] = max(_eig_min(utu, work), 0.0)
    out_s1j[j] = s1j
    for a in range(3):
        for b in range(3):
            if a < n and b < n:
                dot = 0.0
                for p in range(r):
                    dot += np.float64(x[a, p]) * np.float64(x[b, p])
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
def _run_one_seed(
    x,
    h,
    seg_first,
    seg_inc,
    seg_start,
    seg_count,
    top_lam,
    eta,
    lam1,
    stop_error,
    t0,
    nsteps,
    max_steps,
    status,
    stop_step,
    partials,
    out_error,
    out_signal,
    out_noise,
    out_s1x,
    out_s1k,
    out_sru,
    out_s1j,
    out_top,
):
    r = h.shape[0]
    n = x.shape[0]
    nblk = partials.shape[0]
    gram = np.empty((r, r))
    scratch = _diag_scratch(r)
    st = status[0]
    for j in range(nsteps):
        t = t0 + j
        if st != RUNNING:
            _fill_nan(
                j, out_error, out_signal, out_noise, out_s1x, out_s1k, out_sru, out_s1j, out_top
            )
            continue
        st = _diagnose(
            x,
            h,
            top_lam,
            eta,
            lam1,
            stop_error,
            t,
            max_steps,
            j,
            out_error,
            out_signal,
            out_noise,
            out_s1x,
            out_s1k,
            out_sru,
            out_s1j,
            out_top,
            gram,
            scratch,
        )
        if st != RUNNING:
            stop_step[0] = t
            continue
        for blk in range(nblk):
            _advance_block(
                x,
                blk * BLOCK_ROWS,
                min((blk + 1) * BLOCK_ROWS, n),
                r,
                seg_first,
                seg_inc,
                seg_start,
                seg_count,
                eta,
                gram,
                partials[blk],
            )
        _sum_partials(partials, h)
    status[0] = st


@njit(cache=True, parallel=True)
def run_seed_parallel(
    xs,
    hs,
    seg_first,
    seg_inc,
    seg_start,
    seg_count,
    top_lam,
    eta,
    lam1,
    stop_error,
    t0,
    nsteps,
    max_steps,
    status,
    stop_step,
    partials,
    out_error,
    out_signal,
    out_noise,
    out_s1x,
    out_s1k,
    out_sru,
    out_s1j,
    out_top,
):
    """Advance every seed of a batch by ``nsteps`` steps; seeds run in parallel.

    Best when the batch has at least as many seeds as threads (small and moderate d).
    """
    for b in prange(xs.shape[0]):
        _run_one_seed(
            xs[b],
            hs[b],
            seg_first,
            seg_inc,
            seg_start,
            seg_count,
            top_lam,
            eta,
            lam1,
            stop_error,
            t0,
            nsteps,
            max_steps,
            status[b : b + 1],
            stop_step[b : b + 1],
            partials[b],
            out_error[b],
            out_signal[b],
            out_noise[b],
            out_s1x[b],
            out_s1k[b],
            out_sru[b],
            out_s1j[b],
            out_top[b],
        )


@njit(cache=True, parallel=True)
def _advance_all_blocks(xs, active, seg_first, seg_inc, seg_start, seg_count, eta, grams, partials):
    nseed = xs.shape[0]
    nblk = partials.shape[1]
    n = xs.shape[1]
    r = xs.shape[2]
    for item in prange(nseed * nblk):
        b = item // nblk
        blk = item % nblk
        if active[b]:
            _advance_block(
                xs[b],
                blk * BLOCK_ROWS,
                min((blk + 1) * BLOCK_ROWS, n),
                r,
                seg_first,
                seg_inc,
                seg_start,
                seg_count,
                eta,
                grams[b],
                partials[b, blk],
            )


@njit(cache=True)
def run_row_parallel(
    xs,
    hs,
    seg_first,
    seg_inc,
    seg_start,
    seg_count,
    top_lam,
    eta,
    lam1,
    stop_error,
    t0,
    nsteps,
    max_steps,
    status,
    stop_step,
    partials,
    out_error,
    out_signal,
    out_noise,
    out_s1x,
    out_s1k,
    out_sru,
    out_s1j,
    out_top,
):
    """Same as :func:`run_seed_parallel` but the rows of each step are split across threads.

    Best for large d and few seeds. Bit-identical to the seed-parallel kernel (same blocks, same
    order of the block sums).
    """
    nseed = xs.shape[0]
    r = hs.shape[1]
    grams = np.empty((nseed, r, r))
    scratch = _diag_scratch(r)
    active = np.zeros(nseed, dtype=np.bool_)
    for j in range(nsteps):
        t = t0 + j
        for b in range(nseed):
            if status[b] != RUNNING:
                active[b] = False
                _fill_nan(
                    j,
                    out_error[b],
                    out_signal[b],
                    out_noise[b],
                    out_s1x[b],
                    out_s1k[b],
                    out_sru[b],
                    out_s1j[b],
                    out_top[b],
                )
                continue
            st = _diagnose(
                xs[b],
                hs[b],
                top_lam,
                eta,
                lam1,
                stop_error,
                t,
                max_steps,
                j,
                out_error[b],
                out_signal[b],
                out_noise[b],
                out_s1x[b],
                out_s1k[b],
                out_sru[b],
                out_s1j[b],
                out_top[b],
                grams[b],
                scratch,
            )
            status[b] = st
            active[b] = st == RUNNING
            if st != RUNNING:
                stop_step[b] = t
        _advance_all_blocks(
            xs, active, seg_first, seg_inc, seg_start, seg_count, eta, grams, partials
        )
        for b in range(nseed):
            if active[b]:
                _sum_partials(partials[b], hs[b])
