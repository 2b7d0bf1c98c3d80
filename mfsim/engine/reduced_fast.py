"""The reduced kernel's step loop with the stage analysis skipped where it provably does nothing.

:func:`mfsim.engine.reduced._run_one` calls the stop rules and the stage analysis
(:func:`mfsim.engine.reduced_stages.consume_step`) on every step. Most steps of a long run
(eta = Delta / (100 lambda_1^2) needs about 10^6 of them at d = 10^300) change nothing there but
the "value at the last step" fields. Here each step first runs cheap tests that decide, exactly,
that the step is *quiet*:

* the run keeps running: error and tr G finite, eta tr G below the divergence level (so
  sigma_1^2(X) <= tr G is too), error above ``stop_error``, t below the step limit;
* no full diagnostics are due (the per-run kernel's rule, unchanged);
* no t_eps is set: error above every undetermined epsilon; no rise is set: every signal without
  a rise is below Delta/2;
* the stage chain does not move: in phase 1 signal k is below Delta/2 (or t < t_init,k); in
  phase 2 (the scan of eq. 15 at offset s = t - t_k) either s is before t_k, or the scan
  cannot hold. The scan compares r q^s with sqrt(Delta/8) min(sigma_1(u_{k+1}), sqrt(Delta/2))
  (:func:`mfsim.engine.reduced_stages._scan_holds`); it cannot hold while
  ln r + s ln q > ln sqrt(Delta/8) + ln sqrt(Delta/2) + 1e-9 (the left side above the largest
  right side; the margin is far above the rounding of pow, log and the product s ln q, about
  1e-13 at s = 10^7), nor while sigma_1^2(u_{k+1}) < (r q^{s_W} / sqrt(Delta/8))^2 (1 - 1e-6)
  for every step up to s_W (the left side decreases in s; the threshold is recomputed every
  :data:`mfsim.engine.reduced_quiet.SCAN_WINDOW` steps and used only when it is at least
  1e-290, so that it is a normal float).

Stretches of quiet steps run in :func:`mfsim.engine.reduced_quiet.quiet_stretch`, which writes
the tracker's per-step fields at the end of a stretch (last valid step, last step each signal
was not within the learned tolerance, whether it is at the end, error at the end, settled at the
end = False as in the per-run kernel on a step without full diagnostics); every other step runs
the per-run kernel's own functions, here. Every floating-point operation that produces
a stored number is the per-run kernel's, so the results are the same bits
(``tests/engine/test_reduced_fast.py``); the tests above only decide which code path runs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mfsim.datamodel import RUNNING
from mfsim.engine.graded import eig_max
from mfsim.engine.reduced import (
    BAND_BITS,
    RENORMALIZE_BITS,
    _error,
    _full_diagnostics,
    _gram,
    _in_r,
    _in_s,
    _record,
    _renormalize,
    _row_factors,
    _signals,
    _status,
    _top_gram,
    _update,
)
from mfsim.engine.reduced_quiet import quiet_stretch
from mfsim.engine.reduced_stages import consume_step

__all__ = ["run_reduced_fast"]

_RENORM_LO = 2.0**-RENORMALIZE_BITS
_RENORM_HI = 2.0**RENORMALIZE_BITS
_BAND_LO = 2.0**-BAND_BITS
_BAND_HI = 2.0**BAND_BITS


@njit(cache=True, nogil=True)
def _band_rule(m, expo, fac, i, tok):
    """The per-run kernel's renormalization rule for row i (its max, its comparisons)."""
    r = len(tok)
    mx = 0.0
    for q in range(r):
        mx = max(mx, abs(m[i, q]))
    if expo[i] == 0:
        if mx >= _RENORM_LO and mx <= _RENORM_HI:
            return
    elif mx >= _BAND_LO and mx <= _BAND_HI:
        return
    if mx > 0.0 and mx < np.inf:
        _renormalize(m, expo, fac, i, mx, tok)


@njit(cache=True, nogil=True)
def _run_one_fast(tok, b, state, c, sc, st, rec, t0, t1):
    """Steps t0 .. t1 - 1 of run b: :func:`mfsim.engine.reduced._run_one` with quiet steps
    short-cut (the same bits)."""
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
    scan = np.array([-1.0, 0.0])
    quiet_work = (
        utu,
        h,
        gram,
        sig_s,
        sig_p,
        sig,
        y,
        np.empty(r, dtype=np.int64),
        np.empty(r, dtype=np.bool_),
    )
    _row_factors(expo, fac)
    if state.status[b] != RUNNING:
        return
    t = t0
    while t < t1:
        t, renormalize = quiet_stretch(
            tok, b, m, expo, fac, c, sc, st, rec, t, t1, quiet_work, scan
        )
        if renormalize:
            for i in range(n):
                _band_rule(m, expo, fac, i, tok)
            continue
        if t >= t1:
            return
        _gram(m, fac, tok, utu, h, gram)
        _signals(m, expo, tok, sig_s, sig_p, sig)
        error = _error(m, fac, h, c.top_lam, tok, hq)
        trace_g = 0.0
        for p in range(r):
            trace_g += gram[p, p]
        j = rec.rec_of_step[t]
        hj = rec.heat_of_step[t]
        quarter = 0.25 * c.Delta * (1.0 - 1e-9)
        divergence_level = 3.0 + c.eta * c.lam1
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
        if hj >= 0:
            _top_gram(m, expo, tok, rec, b, hj)
        consume_step(st, b, sc, t, error, sig, sig_s, sig_p, in_s, in_r)
        if status != RUNNING:
            state.status[b] = status
            state.stop_step[b] = t
            return
        _update(m, expo, fac, c.growth, c.eta, gram, tok, y)
        t += 1


@njit(cache=True, parallel=True)
def run_reduced_fast(tok, state, c, sc, st, rec, t0, t1):
    """Advance every run of the batch over steps t0 .. t1 - 1 (runs in parallel): the
    arguments and results of :func:`mfsim.engine.reduced.run_reduced_batch`, bit for bit,
    with the quiet steps short-cut."""
    for b in prange(state.mant.shape[0]):
        _run_one_fast(tok, b, state, c, sc, st, rec, t0, t1)
