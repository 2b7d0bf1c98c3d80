"""The lean engine for reduced systems: r x r blocks, exponent-carrying rows, d of any size.

A reduced system (:func:`mfsim.engine.initialization.effective_system`) has a few rows: the top
r, up to ``EXPLICIT_ROWS`` explicit ones and r per flat level. One GD step (paper, eq. 9) is

    x_i <- (1 + eta lambda_i) x_i - eta x_i G,      G = X^T X = U^T U + H,

linear in each row given G. Every row is held as ``m_i 2**e_i`` (mantissa row, int exponent):
the update acts on the mantissa and leaves the exponent, which is renormalized (an exact power
of two) when the row leaves [2^-900, 2^900]. So nothing over- or underflows at any d: at
d = 10^1000 the top rows start near 10^-500. Terms below float64's range relative to the O(1)
entries of G (the top rows' contribution to G while they are tiny) are dropped by the float64
sums exactly as in the plain engine; the quantities that are themselves tiny (signals, noise,
noise floor, sigma_r^2(U), the top 3 x 3 Gram block) are computed from scaled rows and kept as
(mantissa, exponent) pairs.

Cost per step: the Gram sums, the update and the signals and error (O(n_rows r^2)); the
eigenvalues (sigma_1^2(X), sigma_1^2(K_k), sigma_1^2(J), sigma_r^2(U)) only on the steps where
they are used: recorded steps, the last step of a run, steps before the first entry into S,
and steps before the first entry into R at which every signal is at least Delta/4 (R needs
sigma_r^2(U) >= Delta/4, and sigma_r^2(U) <= min_k ||u_k||^2). The divergence test uses
sigma_1^2(X) <= tr G and computes sigma_1^2(X) only when the trace does not decide. The stage
analysis runs in the same loop (:mod:`mfsim.engine.reduced_stages`). Nothing is allocated per
step.

Equality with the plain engine: in float64's range every operation is the one of
:mod:`mfsim.engine.kernels` (same order of every sum; power-of-two scalings are exact), so the
diagnostics and stage times are the same bits (``tests/engine/test_reduced_kernel.py``).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange

from mfsim.datamodel import CONVERGED, DIVERGED, MAX_STEPS, NONFINITE, RUNNING
from mfsim.engine.graded import eig_max, exponent_of, sigma_min_sq_graded
from mfsim.engine.reduced_stages import consume_step

__all__ = ["ReducedState", "Records", "run_reduced_batch", "new_records", "RENORMALIZE_BITS"]

#: a row is renormalized when max |m_i| leaves [2^-RENORMALIZE_BITS, 2^RENORMALIZE_BITS]
RENORMALIZE_BITS = 900
#: a row with a non-zero exponent keeps max |m_i| in [2^-BAND_BITS, 2^BAND_BITS]
BAND_BITS = 64
# squares of mantissas in this range are normal with a margin (sums of r of them stay normal)
_NORMAL_SQ_LO = 2.0**-960
_NORMAL_SQ_HI = 2.0**960

_LN2 = math.log(2.0)
_RENORM_LO = 2.0**-RENORMALIZE_BITS
_RENORM_HI = 2.0**RENORMALIZE_BITS
_BAND_LO = 2.0**-BAND_BITS
_BAND_HI = 2.0**BAND_BITS

#: Per-batch state: ``mant`` (n_runs, n_rows, r), ``expo`` (n_runs, n_rows) int64, ``status``,
#: ``stop_step`` (n_runs,) int64.
ReducedState = namedtuple("ReducedState", ["mant", "expo", "status", "stop_step"])

#: Constants: ``growth`` (n_rows,) 1 + eta lambda_i; ``top_lam`` (r,); ``eta``, ``lam1``,
#: ``stop_error``, ``floor_factor`` (floats); ``max_steps`` (int); ``Delta``.
RunConstants = namedtuple(
    "RunConstants",
    ["growth", "top_lam", "eta", "lam1", "stop_error", "floor_factor", "max_steps", "Delta"],
)

#: Recorded diagnostics (NaN where not computed). Plain floats: ``error``, ``s1x``, ``s1j``
#: (n_runs, n_rec), ``s1k`` (n_runs, n_rec, r). Pairs value = mant 2**exp: ``signal``,
#: ``noise``, ``noise_floor`` (n_runs, n_rec, r) + int64 ``*_exp``; ``sru`` (n_runs, n_rec);
#: ``top`` (n_runs, n_heat, 3, 3). ``rec_of_step`` / ``heat_of_step``: index of a step in the
#: recorded / heat-map steps, -1 if not kept.
Records = namedtuple(
    "Records",
    [
        "error",
        "s1x",
        "s1j",
        "s1k",
        "signal",
        "signal_exp",
        "noise",
        "noise_exp",
        "noise_floor",
        "noise_floor_exp",
        "sru",
        "sru_exp",
        "top",
        "top_exp",
        "rec_of_step",
        "heat_of_step",
    ],
)


def new_records(n_runs: int, r: int, record_grid, heatmap_steps, steps: int) -> Records:
    """Empty :class:`Records` for the recorded and heat-map steps of a run of ``steps`` steps."""
    n_rec, n_heat = len(record_grid), len(heatmap_steps)
    rec_of_step = np.full(steps + 1, -1, dtype=np.int64)
    rec_of_step[np.asarray(record_grid, dtype=np.int64)] = np.arange(n_rec)
    heat_of_step = np.full(steps + 1, -1, dtype=np.int64)
    heat_of_step[np.asarray(heatmap_steps, dtype=np.int64)] = np.arange(n_heat)
    per_k = (n_runs, n_rec, r)
    return Records(
        np.full((n_runs, n_rec), np.nan),
        np.full((n_runs, n_rec), np.nan),
        np.full((n_runs, n_rec), np.nan),
        np.full(per_k, np.nan),
        np.full(per_k, np.nan),
        np.zeros(per_k, dtype=np.int64),
        np.full(per_k, np.nan),
        np.zeros(per_k, dtype=np.int64),
        np.full(per_k, np.nan),
        np.zeros(per_k, dtype=np.int64),
        np.full((n_runs, n_rec), np.nan),
        np.zeros((n_runs, n_rec), dtype=np.int64),
        np.full((n_runs, n_heat, 3, 3), np.nan),
        np.zeros((n_runs, n_heat, 3, 3), dtype=np.int64),
        rec_of_step,
        heat_of_step,
    )


# ---- one run


@njit(cache=True, nogil=True)
def _row_factors(expo, fac):
    """fac[i] = 2**expo[i] as a float (0 below the subnormal range): x_i = m_i fac[i]."""
    for i in range(expo.shape[0]):
        e = expo[i]
        fac[i] = 1.0 if e == 0 else (math.ldexp(1.0, e) if e >= -1074 else 0.0)


@njit(cache=True, nogil=True)
def _gram(m, fac, tok, utu, h, gram):
    """U^T U (top r rows), H = J^T J (rows >= r, upper triangle summed, mirrored) and
    G = U^T U + H, each entry a sum over rows in order from 0.0 (the plain engine's order)."""
    r = len(tok)
    n = m.shape[0]
    for p in range(r):
        for q in range(r):
            acc = 0.0
            for i in range(r):
                acc += (m[i, p] * fac[i]) * (m[i, q] * fac[i])
            utu[p, q] = acc
    for p in range(r):
        for q in range(p, r):
            acc = 0.0
            for i in range(r, n):
                acc += (m[i, p] * fac[i]) * (m[i, q] * fac[i])
            h[p, q] = acc
            h[q, p] = acc
    for p in range(r):
        for q in range(r):
            gram[p, q] = utu[p, q] + h[p, q]


@njit(cache=True, nogil=True)
def _signals(m, expo, tok, sig_s, sig_p, sig):
    """The signals ||u_k||^2 = sig_s[k] 2**sig_p[k], and as float (``sig``, 0 below range).

    Every row keeps max |m_k| in [2^-RENORMALIZE_BITS, 2^RENORMALIZE_BITS] with exponent 0, or
    in [2^-BAND_BITS, 2^BAND_BITS] with another exponent; where the sum of squares of the
    mantissa is normal the plain engine's scaled sum gives the same bits (a power-of-two
    scaling), so it is computed directly: no frexp, ldexp or log per step.
    """
    r = len(tok)
    for k in range(r):
        s = 0.0
        for p in range(r):
            s += m[k, p] * m[k, p]
        if expo[k] == 0 and not (s >= _NORMAL_SQ_LO and s <= _NORMAL_SQ_HI):
            s, p2 = _scaled_norm_sq(m, k, tok)
        else:
            p2 = 2 * expo[k]
        sig_s[k] = s
        sig_p[k] = p2
        sig[k] = s if p2 == 0 else math.ldexp(s, p2)


@njit(cache=True, nogil=True)
def _scaled_norm_sq(m, k, tok):
    """(s, p) with ||m_k||^2 = s 2**p, summed in the row scaled to max |.| in [0.5, 1) (the
    plain engine's order): for a row of exponent 0 whose squares leave the normal range."""
    r = len(tok)
    mx = 0.0
    for p in range(r):
        mx = max(mx, abs(m[k, p]))
    ex = exponent_of(mx)
    s = 0.0
    for p in range(r):
        v = math.ldexp(m[k, p], -ex)
        s += v * v
    return s, 2 * ex


@njit(cache=True, nogil=True)
def _scaled_rows(m, expo, tok, uhat, uexp):
    """u_k / 2**uexp[k] with max |.| in [0.5, 1) (exact), for the noise sums."""
    r = len(tok)
    for k in range(r):
        mx = 0.0
        for p in range(r):
            mx = max(mx, abs(m[k, p]))
        ex = exponent_of(mx)
        uexp[k] = ex + expo[k]
        for p in range(r):
            uhat[k, p] = math.ldexp(m[k, p], -ex)


@njit(cache=True, nogil=True)
def _error(m, fac, h, top_lam, tok, hq):
    """||Sigma_r - X X^T||_F from U and H (sum of non-negative pieces, the plain engine's order)."""
    r = len(tok)
    err2_top = 0.0
    for i in range(r):
        for k in range(r):
            dot = 0.0
            for p in range(r):
                dot += (m[i, p] * fac[i]) * (m[k, p] * fac[k])
            diff = (top_lam[i] if i == k else 0.0) - dot
            err2_top += diff * diff
    h_norm2 = 0.0
    for p in range(r):
        for q in range(r):
            h_norm2 += h[p, q] * h[p, q]
    cross = 0.0
    for k in range(r):
        quad = 0.0
        for p in range(r):
            acc = 0.0
            for q in range(r):
                acc += h[p, q] * (m[k, q] * fac[k])
            hq[p] = acc
            quad += (m[k, p] * fac[k]) * acc
        cross += max(quad, 0.0)
    return math.sqrt(err2_top + 2.0 * cross + h_norm2)


@njit(cache=True, nogil=True)
def _sigma1_sq_k(m, fac, h, tok, k, kk, work):
    """sigma_1^2(K_k): largest eigenvalue of H + sum_{k < i < r} u_i^T u_i."""
    r = len(tok)
    for p in range(r):
        for q in range(r):
            kk[p, q] = h[p, q]
    for i in range(k + 1, r):
        for p in range(r):
            for q in range(r):
                kk[p, q] += (m[i, p] * fac[i]) * (m[i, q] * fac[i])
    return eig_max(kk, work)


@njit(cache=True, nogil=True)
def _noise(m, fac, uhat, uexp, tok, k):
    """noise_k = (sum_{i > k} (x_i . u_k)^2)^(1/2) as (mantissa, exponent): the bulk rows then
    the top rows below k, each dot with the scaled u_k (the plain engine's order)."""
    r = len(tok)
    n = m.shape[0]
    nz = 0.0
    for i in range(r, n):
        dot = 0.0
        for p in range(r):
            dot += (m[i, p] * fac[i]) * uhat[k, p]
        nz += dot * dot
    for i in range(k + 1, r):
        dot = 0.0
        for p in range(r):
            dot += (m[i, p] * fac[i]) * uhat[k, p]
        nz += dot * dot
    return math.sqrt(nz), uexp[k]


@njit(cache=True, nogil=True)
def _top_gram(m, expo, tok, rec, b, j):
    """The top 3 x 3 block of X X^T as (mantissa, exponent) pairs."""
    r = len(tok)
    n = m.shape[0]
    for a in range(3):
        for c in range(3):
            if a < n and c < n:
                dot = 0.0
                for p in range(r):
                    dot += m[a, p] * m[c, p]
                rec.top[b, j, a, c] = dot
                rec.top_exp[b, j, a, c] = expo[a] + expo[c]


@njit(cache=True, nogil=True)
def _update(m, expo, fac, growth, eta, gram, tok, y):
    """x_i <- (1 + eta lambda_i) x_i - eta x_i G on the mantissas (exponent unchanged; the
    plain engine's expression), then renormalize the rows that left their band (``fac`` follows)."""
    r = len(tok)
    n = m.shape[0]
    for i in range(n):
        a = growth[i]
        mx = 0.0
        for q in range(r):
            acc_q = 0.0
            for p in range(r):
                acc_q += m[i, p] * gram[p, q]
            y[q] = a * m[i, q] - eta * acc_q
            mx = max(mx, abs(y[q]))
        for q in range(r):
            m[i, q] = y[q]
        if expo[i] == 0:
            if mx >= _RENORM_LO and mx <= _RENORM_HI:
                continue
        elif mx >= _BAND_LO and mx <= _BAND_HI:
            continue
        if mx > 0.0 and mx < np.inf:
            _renormalize(m, expo, fac, i, mx, tok)


@njit(cache=True, nogil=True)
def _renormalize(m, expo, fac, i, mx, tok):
    """Move row i to exponent 0 if it fits [2^-RENORMALIZE_BITS/2, 2^RENORMALIZE_BITS/2] there,
    else to max |m_i| in [0.5, 1): exact power-of-two scalings."""
    r = len(tok)
    ex = exponent_of(mx)
    total = expo[i] + ex
    shift = expo[i] if abs(total) <= RENORMALIZE_BITS // 2 else -ex
    if shift != 0:
        for q in range(r):
            m[i, q] = math.ldexp(m[i, q], shift)
        expo[i] -= shift
    e = expo[i]
    fac[i] = 1.0 if e == 0 else (math.ldexp(1.0, e) if e >= -1074 else 0.0)


@njit(cache=True, nogil=True)
def _full_diagnostics(m, expo, fac, h, gram, tok, s1k, work, kk, w, order, basis, diag):
    """diag = (sigma_1^2(X), sigma_1^2(J), sigma_r^2(U) as mantissa and exponent); sigma_1^2(K_k)
    into ``s1k``."""
    r = len(tok)
    diag[0] = eig_max(gram, work)
    diag[1] = eig_max(h, work)
    for k in range(r - 1):
        s1k[k] = _sigma1_sq_k(m, fac, h, tok, k, kk, work)
    s1k[r - 1] = diag[1]
    sru_s, sru_p = sigma_min_sq_graded(m[:r], expo[:r], r, w, order, basis)
    diag[2] = sru_s
    diag[3] = sru_p


@njit(cache=True, nogil=True)
def _in_s(s1x, s1k, c, tok):
    """X_t in S (eq. 13), the comparisons of :func:`mfsim.theory.membership_S`."""
    r = len(tok)
    ok = s1x <= 2.0 * c.lam1
    for k in range(r):
        ok = ok and s1k[k] <= c.top_lam[k] - 0.75 * c.Delta
    return ok


@njit(cache=True, nogil=True)
def _in_r(s1x, sru, s1j, c, tok):
    """X_t in R (eq. 10), the comparisons of :func:`mfsim.theory.membership_R`."""
    r = len(tok)
    return (
        (s1x <= 2.0 * c.lam1)
        and (sru >= c.Delta / 4.0)
        and (s1j <= c.top_lam[r - 1] - c.Delta / 2.0)
    )


@njit(cache=True, nogil=True)
def _record(rec, b, j, m, expo, fac, sig_s, sig_p, h, error, diag, s1k, c, tok):
    """Keep the diagnostics of a recorded step (index j of the records); ``diag`` holds
    (sigma_1^2(X), sigma_1^2(J), sigma_r^2(U) mantissa, its exponent)."""
    r = len(tok)
    uhat = np.empty((r, r))
    uexp = np.empty(r, dtype=np.int64)
    _scaled_rows(m, expo, tok, uhat, uexp)
    rec.error[b, j] = error
    rec.s1x[b, j] = diag[0]
    rec.s1j[b, j] = diag[1]
    rec.sru[b, j] = diag[2]
    rec.sru_exp[b, j] = int(diag[3])
    trace_h = 0.0
    for p in range(r):
        trace_h += h[p, p]
    for k in range(r):
        rec.s1k[b, j, k] = s1k[k]
        rec.signal[b, j, k] = sig_s[k]
        rec.signal_exp[b, j, k] = sig_p[k]
        nz, ne = _noise(m, fac, uhat, uexp, tok, k)
        rec.noise[b, j, k] = nz
        rec.noise_exp[b, j, k] = ne
    # noise_floor_k = F |u_k| ||K_k||_F, ||K_k||_F^2 = tr H + sum_{i > k} ||u_i||^2
    tail = trace_h
    for k in range(r - 1, -1, -1):
        rec.noise_floor[b, j, k] = c.floor_factor * math.sqrt(sig_s[k]) * math.sqrt(max(tail, 0.0))
        rec.noise_floor_exp[b, j, k] = sig_p[k] // 2
        tail += math.ldexp(sig_s[k], sig_p[k])


@njit(cache=True, nogil=True)
def _status(error, s1x, trace_g, c, t):
    """The plain engine's stop rules, in its order (NONFINITE, DIVERGED, CONVERGED, MAX_STEPS).
    ``s1x`` may be NaN when ``trace_g`` decides the divergence test (s1x <= tr G)."""
    if not np.isfinite(error) or not np.isfinite(trace_g):
        return NONFINITE
    if c.eta * trace_g >= 3.0 + c.eta * c.lam1:
        if not np.isfinite(s1x):
            return NONFINITE
        if c.eta * s1x >= 3.0 + c.eta * c.lam1:
            return DIVERGED
    if error <= c.stop_error:
        return CONVERGED
    if t >= c.max_steps:
        return MAX_STEPS
    return RUNNING


@njit(cache=True, nogil=True)
def _run_one(tok, b, state, c, sc, st, rec, t0, t1):
    """Steps t0 .. t1 - 1 of run b (stops at its first non-running status)."""
    m = state.mant[b]
    expo = state.expo[b]
    r = len(tok)
    n = m.shape[0]
    fac = np.empty(n)
    utu = np.empty((r, r))
    h = np.empty((r, r))
    gram = np.empty((r, r))
    work = np.empty((r, r))
    kk = np.empty((r, r))
    w = np.empty((r, r))
    basis = np.empty((r, r))
    order = np.empty(r, dtype=np.int64)
    sig_s = np.empty(r)
    sig_p = np.empty(r, dtype=np.int64)
    sig = np.empty(r)
    s1k = np.empty(r)
    hq = np.empty(r)
    y = np.empty(r)
    diag = np.empty(4)
    quarter = 0.25 * c.Delta * (1.0 - 1e-9)
    divergence_level = 3.0 + c.eta * c.lam1
    _row_factors(expo, fac)
    for t in range(t0, t1):
        if state.status[b] != RUNNING:
            return
        _gram(m, fac, tok, utu, h, gram)
        _signals(m, expo, tok, sig_s, sig_p, sig)
        error = _error(m, fac, h, c.top_lam, tok, hq)
        trace_g = 0.0
        for p in range(r):
            trace_g += gram[p, p]
        j = rec.rec_of_step[t]
        s1x = np.nan
        if c.eta * trace_g >= divergence_level and np.isfinite(trace_g):
            s1x = eig_max(gram, work)
        status = _status(error, s1x, trace_g, c, t)
        full = j >= 0 or status != RUNNING or np.isnan(st.first_in_S[b])
        if not full and np.isnan(st.first_in_R[b]):
            full = sig.min() >= quarter
        in_s = False
        in_r = False
        if full:
            _full_diagnostics(m, expo, fac, h, gram, tok, s1k, work, kk, w, order, basis, diag)
            in_s = _in_s(diag[0], s1k, c, tok)
            in_r = _in_r(diag[0], math.ldexp(diag[2], int(diag[3])), diag[1], c, tok)
            if j >= 0:
                _record(rec, b, j, m, expo, fac, sig_s, sig_p, h, error, diag, s1k, c, tok)
        hj = rec.heat_of_step[t]
        if hj >= 0:
            _top_gram(m, expo, tok, rec, b, hj)
        consume_step(st, b, sc, t, error, sig, sig_s, sig_p, in_s, in_r)
        if status != RUNNING:
            state.status[b] = status
            state.stop_step[b] = t
            return
        _update(m, expo, fac, c.growth, c.eta, gram, tok, y)


@njit(cache=True, parallel=True)
def run_reduced_batch(tok, state, c, sc, st, rec, t0, t1):
    """Advance every run of the batch over steps t0 .. t1 - 1 (runs in parallel).

    Parameters
    ----------
    tok : tuple
        ``(0,) * r``: r as a compile-time constant (one specialization per r).
    state : ReducedState
        Exponent-carrying rows and status, updated in place.
    c : RunConstants
    sc : mfsim.engine.reduced_stages.StageConstants
    st : mfsim.engine.reduced_stages.StageState
        Updated in place.
    rec : Records
        Filled at the recorded and heat-map steps.
    t0, t1 : int
        Step range; t1 <= max_steps + 1.
    """
    for b in prange(state.mant.shape[0]):
        _run_one(tok, b, state, c, sc, st, rec, t0, t1)
