"""The quiet steps of the short-cut reduced kernel, as one call-free loop.

:mod:`mfsim.engine.reduced_fast` states which steps are quiet (the stage analysis and the stop
rules provably do nothing but write their per-step fields) and why the tests are exact. This
module runs a stretch of quiet steps: Gram matrix, signals, error, the quiet tests and the row
update, each the arithmetic of :mod:`mfsim.engine.reduced` (same expressions, same order),
inlined into one loop that calls no compiled function taking arrays (such calls cost more
than the r x r arithmetic of a step). The loop returns at the first step that is not quiet,
before touching anything (the caller runs that step through the general path), or right after
an update that moved a row out of its exponent band (the caller applies the renormalization
rule to every row, which the per-run kernel applies row by row in the same update: a row's
update reads only that row and G, so the result is the same), or on a signal whose sum of
squares leaves the normal range (the per-run kernel's rescaled path).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mfsim.engine.reduced import BAND_BITS, RENORMALIZE_BITS

__all__ = ["quiet_stretch", "SCAN_WINDOW"]

#: steps over which one threshold of the eq. 15 scan filter is used
SCAN_WINDOW = 4096
#: margins of the scan filters (see :mod:`mfsim.engine.reduced_fast`)
_LOG_MARGIN = 1e-9
_SIGNAL_MARGIN = 1e-6
_THRESHOLD_FLOOR = 1e-290
_RENORM_LO = 2.0**-RENORMALIZE_BITS
_RENORM_HI = 2.0**RENORMALIZE_BITS
_BAND_LO = 2.0**-BAND_BITS
_BAND_HI = 2.0**BAND_BITS
_NORMAL_SQ_LO = 2.0**-960
_NORMAL_SQ_HI = 2.0**960


@njit(cache=True, nogil=True, inline="always")
def _gram(m, fac, tok, utu, h, gram):
    """:func:`mfsim.engine.reduced._gram`, inlined; a bulk row of factor 1 skips the two
    multiplications by 1.0 (exact: x * 1.0 == x)."""
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
                f = fac[i]
                if f == 1.0:
                    acc += m[i, p] * m[i, q]
                else:
                    acc += (m[i, p] * f) * (m[i, q] * f)
            h[p, q] = acc
            h[q, p] = acc
    for p in range(r):
        for q in range(r):
            gram[p, q] = utu[p, q] + h[p, q]


@njit(cache=True, nogil=True, inline="always")
def _signals(m, expo, tok, sig_s, sig_p, sig):
    """:func:`mfsim.engine.reduced._signals` where no rescaling is needed; False (nothing
    written that the caller keeps) where a row of exponent 0 has a sum of squares outside the
    normal range."""
    r = len(tok)
    for k in range(r):
        s = 0.0
        for p in range(r):
            s += m[k, p] * m[k, p]
        if expo[k] == 0 and not (s >= _NORMAL_SQ_LO and s <= _NORMAL_SQ_HI):
            return False
        p2 = 2 * expo[k]
        sig_s[k] = s
        sig_p[k] = p2
        sig[k] = s if p2 == 0 else math.ldexp(s, p2)
    return True


@njit(cache=True, nogil=True, inline="always")
def _error(m, fac, h, top_lam, tok):
    """:func:`mfsim.engine.reduced._error`, inlined."""
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
            quad += (m[k, p] * fac[k]) * acc
        cross += max(quad, 0.0)
    return math.sqrt(err2_top + 2.0 * cross + h_norm2)


@njit(cache=True, nogil=True, inline="always")
def _update(m, expo, growth, eta, gram, tok, y):
    """The row update of :func:`mfsim.engine.reduced._update`; True if some row may have left
    its band (some |entry| below the lower edge in every column, or one not below the upper
    edge): the caller then applies the renormalization rule."""
    r = len(tok)
    n = m.shape[0]
    need = False
    for i in range(n):
        a = growth[i]
        lo = _RENORM_LO if expo[i] == 0 else _BAND_LO
        hi = _RENORM_HI if expo[i] == 0 else _BAND_HI
        below = True
        above = False
        for q in range(r):
            acc_q = 0.0
            for p in range(r):
                acc_q += m[i, p] * gram[p, q]
            v = a * m[i, q] - eta * acc_q
            y[q] = v
            below &= abs(v) < lo
            above |= not abs(v) <= hi
        for q in range(r):
            m[i, q] = y[q]
        need |= below | above
    return need


@njit(cache=True, nogil=True, inline="always")
def _scan_quiet(s, sig_next, r, q, ln_r, ln_q, c8, scan_lo, scan):
    """True if the eq. 15 scan at offset s cannot hold (the filters of
    :mod:`mfsim.engine.reduced_fast`; ``ln_r``, ``ln_q`` = ln r, ln q); ``scan`` holds (s_W,
    threshold), refreshed here."""
    if not q < 1.0:
        return False
    if ln_r + s * ln_q > scan_lo:
        return True
    if not s <= scan[0]:
        s_w = s + SCAN_WINDOW
        lhs = r * q**s_w / c8
        scan[0] = s_w
        scan[1] = lhs * lhs * (1.0 - _SIGNAL_MARGIN)
    return scan[1] >= _THRESHOLD_FLOOR and sig_next < scan[1]


@njit(cache=True, nogil=True)
def quiet_stretch(tok, b, m, expo, fac, c, sc, st, rec, t, t1, work, scan):
    """Run the quiet steps of run b from step t on (before t1).

    ``work`` = (utu, h, gram, sig_s, sig_p, sig, y, last_fail, holds) scratch; ``scan`` (2,)
    the eq. 15 filter window (kept by the caller across calls). Returns (t', renormalize): t'
    is the first step not taken (not quiet, or t1); ``renormalize`` is True if the update of
    step t' - 1 moved a row out of its band (the caller applies the renormalization rule to
    every row).

    The run's stage state does not change on a quiet step (only the per-step fields, written
    back at the end), so what the quiet test reads of it is read once here: the largest
    undetermined epsilon, which signals have no rise yet, the chain's phase, k, t_init,k, t_k.
    """
    utu, h, gram, sig_s, sig_p, sig, y, last_fail, holds = work
    r = len(tok)
    if np.isnan(st.first_in_S[b]):
        return t, False
    no_r_yet = np.isnan(st.first_in_R[b])
    rec_of_step = rec.rec_of_step
    heat_of_step = rec.heat_of_step
    growth = c.growth
    top_lam = c.top_lam
    eta = c.eta
    stop_error = c.stop_error
    max_steps = c.max_steps
    quarter = 0.25 * c.Delta * (1.0 - 1e-9)
    divergence_level = 3.0 + c.eta * c.lam1
    half = sc.Delta / 2.0
    c8 = math.sqrt(sc.Delta / 8.0)
    scan_lo = math.log(c8) + math.log(math.sqrt(sc.Delta / 2.0)) + _LOG_MARGIN
    q = sc.q
    ln_r = math.log(r)
    ln_q = math.log(q) if q > 0.0 else -np.inf
    delta = sc.delta
    stage_top = sc.top_lam
    eps_max = -np.inf
    for e in range(sc.epsilons.shape[0]):
        if np.isnan(st.t_eps[b, e]):
            eps_max = max(eps_max, sc.epsilons[e])
    rise_open = 0
    for k in range(r):
        if np.isnan(st.rise[b, k]):
            rise_open |= 1 << k
    phase = st.phase[b]
    chain_k = st.chain_k[b]
    t_init_k = st.t_init[b, chain_k]
    t_k_k = st.t_k[b, chain_k]
    for k in range(r):
        last_fail[k] = st.last_fail[b, k]
    start = t
    error = np.nan
    renormalize = False
    while t < t1:
        if rec_of_step[t] >= 0 or heat_of_step[t] >= 0:
            break
        _gram(m, fac, tok, utu, h, gram)
        if not _signals(m, expo, tok, sig_s, sig_p, sig):
            break
        if no_r_yet:
            low = sig[0]
            for k in range(1, r):
                low = min(low, sig[k])
            if low >= quarter:
                break
        err = _error(m, fac, h, top_lam, tok)
        trace_g = 0.0
        for p in range(r):
            trace_g += gram[p, p]
        if not (
            np.isfinite(err)
            and np.isfinite(trace_g)
            and eta * trace_g < divergence_level
            and not err <= stop_error
            and t < max_steps
            and not err <= eps_max
        ):
            break
        moved = False
        for k in range(r):
            moved |= ((rise_open >> k) & 1) == 1 and sig[k] >= half
        if moved:
            break
        if phase == 1:
            if not (t < t_init_k or not sig[chain_k] >= half):
                break
        elif phase == 2 and not t < t_k_k:
            if not _scan_quiet(t - t_k_k, sig[chain_k + 1], r, q, ln_r, ln_q, c8, scan_lo, scan):
                break
        for k in range(r):
            close = abs(stage_top[k] - sig[k]) <= delta * stage_top[k]
            if not close:
                last_fail[k] = t
            holds[k] = close
        error = err
        t += 1
        if _update(m, expo, growth, eta, gram, tok, y):
            renormalize = True
            break
    if t > start:
        st.last_valid[b] = t - 1
        for k in range(r):
            st.last_fail[b, k] = last_fail[k]
            st.holds_at_end[b, k] = holds[k]
        st.error_at_end[b] = error
        st.settled_at_end[b] = False
    return t, renormalize
