"""The stage analysis of :class:`mfsim.engine.stages.StageTracker`, one step at a time, compiled.

The lean reduced kernel (:mod:`mfsim.engine.reduced`) never materializes per-step diagnostics:
it feeds each step's values to :func:`consume_step`, which applies the tracker's rules (the same
float64 comparisons, in the same order), and :func:`finalize_stages` hands the result to the
tracker's own ``finalize`` (completion at convergence, learned, escape, plateau).

One extension, for d beyond float64's range: the scan of eq. 15 compares
r q^s <= sqrt(Delta/8) min(sigma_1(u_{k+1}), sqrt(Delta/2)); where either side is below 1e-300
(q^s or sigma_1^2(u_{k+1}) under float64's range) the comparison is made between natural
logarithms, ln r + s ln q <= ln sqrt(Delta/8) + min(ln sigma_1(u_{k+1}), ln sqrt(Delta/2)), with
sigma_1^2(u_{k+1}) taken from its exponent-carrying value. Where both sides are in range the float
comparison of the tracker is used, so the result is the tracker's to the step.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from mfsim.engine.stages import StageTracker

__all__ = ["StageState", "new_stage_state", "consume_step", "finalize_stages", "StageConstants"]

#: Per-run stage state (arrays with a leading run axis), the fields of the tracker.
StageState = namedtuple(
    "StageState",
    [
        "t_init",
        "T_u",
        "t_k",
        "t_k_star",
        "bound_dominated",
        "t_R",
        "first_in_S",
        "first_in_R",
        "t_eps",
        "rise",
        "last_fail",
        "holds_at_end",
        "last_valid",
        "settled_at_end",
        "error_at_end",
        "chain_k",
        "phase",
    ],
)

#: Constants of the analysis: ``top_lam`` (r,), ``epsilons`` (E,), ``Delta``, ``delta``
#: (learned tolerance), ``q``, ``offset_k``, ``offset_R`` (ints as float), ``lambda_1``.
StageConstants = namedtuple(
    "StageConstants",
    ["top_lam", "epsilons", "Delta", "delta", "q", "offset_k", "offset_R", "lambda_1"],
)

_LOG_LIMIT = 1e-300
_LN2 = math.log(2.0)


def new_stage_state(n_runs: int, r: int, n_eps: int) -> StageState:
    """The initial :class:`StageState` (NaN: not determined)."""
    nan = np.nan
    return StageState(
        np.full((n_runs, r), nan),
        np.full((n_runs, r), nan),
        np.full((n_runs, r), nan),
        np.full((n_runs, r), nan),
        np.zeros((n_runs, r), dtype=np.bool_),
        np.full(n_runs, nan),
        np.full(n_runs, nan),
        np.full(n_runs, nan),
        np.full((n_runs, n_eps), nan),
        np.full((n_runs, r), nan),
        np.full((n_runs, r), -1, dtype=np.int64),
        np.zeros((n_runs, r), dtype=np.bool_),
        np.full(n_runs, -1, dtype=np.int64),
        np.zeros(n_runs, dtype=np.bool_),
        np.full(n_runs, np.inf),
        np.zeros(n_runs, dtype=np.int64),
        np.zeros(n_runs, dtype=np.int64),
    )


def stage_constants(tracker: StageTracker) -> StageConstants:
    """The constants of a :class:`StageTracker`, for the compiled code."""
    return StageConstants(
        np.asarray(tracker.top_lambda, dtype=np.float64),
        np.asarray(tracker.epsilons, dtype=np.float64),
        float(tracker.Delta),
        float(tracker.delta),
        float(tracker.q),
        float(tracker.offset_k),
        float(tracker.offset_R),
        float(tracker.lambda_1),
    )


@njit(cache=True, nogil=True)
def _scan_holds(r, q, s, sig, sig_s, sig_p, cap, c8):
    """Eq. 15 at offset s: r q^s <= c8 min(sqrt(sig), cap) (logs where out of range)."""
    lhs = r * q**s
    next_sigma = math.sqrt(max(sig, 0.0))
    rhs = c8 * min(next_sigma, cap)
    if lhs >= _LOG_LIMIT and rhs >= _LOG_LIMIT:
        return lhs <= rhs, next_sigma >= cap
    ln_lhs = math.log(r) + s * math.log(q)
    sig_log = math.log(sig_s) + sig_p * _LN2 if sig_s > 0.0 else -np.inf
    ln_rhs = math.log(c8) + min(0.5 * sig_log, math.log(cap))
    return ln_lhs <= ln_rhs, next_sigma >= cap


@njit(cache=True, nogil=True)
def consume_step(st, b, c, t, error, signal, sig_s, sig_p, in_s, in_r):
    """Apply the tracker's rules to step t of run b.

    ``signal`` (r,) the signals as float64 (0 below float64's range); ``sig_s``, ``sig_p`` (r,)
    the same as sig_s 2**sig_p (exact at any d); ``in_s``, ``in_r`` memberships of S and R
    (only read while first_in_S / first_in_R are not determined and at the last step: the
    caller computes them then).
    """
    if not np.isfinite(error):
        return
    r = signal.shape[0]
    delta_gap = c.Delta
    st.last_valid[b] = t
    if in_s and np.isnan(st.first_in_S[b]):
        st.first_in_S[b] = t
    if in_r and np.isnan(st.first_in_R[b]):
        st.first_in_R[b] = t
    for e in range(c.epsilons.shape[0]):
        if np.isnan(st.t_eps[b, e]) and error <= c.epsilons[e]:
            st.t_eps[b, e] = t
    all_risen = True
    all_close = True
    for k in range(r):
        risen = signal[k] >= delta_gap / 2.0
        if risen and np.isnan(st.rise[b, k]):
            st.rise[b, k] = t
        close = abs(c.top_lam[k] - signal[k]) <= c.delta * c.top_lam[k]
        if not close:
            st.last_fail[b, k] = t
        st.holds_at_end[b, k] = close
        all_risen = all_risen and risen
        all_close = all_close and close
    st.error_at_end[b] = error
    st.settled_at_end[b] = in_s and in_r and all_risen and all_close
    cap = math.sqrt(delta_gap / 2.0)
    c8 = math.sqrt(delta_gap / 8.0)
    while st.phase[b] != 3:
        k = st.chain_k[b]
        if st.phase[b] == 0:
            if not in_s:
                return
            st.t_init[b, 0] = t
            st.phase[b] = 1
        elif st.phase[b] == 1:
            if t < st.t_init[b, k] or not signal[k] >= delta_gap / 2.0:
                return
            value = t - st.t_init[b, k]
            st.T_u[b, k] = value
            base = st.t_init[b, k] + value
            st.t_k[b, k] = base + c.offset_k
            if k == r - 1:
                st.t_R[b] = base + c.offset_R
                st.phase[b] = 3
            else:
                st.phase[b] = 2
        else:
            if t < st.t_k[b, k]:
                return
            s = t - st.t_k[b, k]
            holds, dominated = _scan_holds(
                r, c.q, s, signal[k + 1], sig_s[k + 1], sig_p[k + 1], cap, c8
            )
            if not holds:
                return
            st.t_k_star[b, k] = s
            st.bound_dominated[b, k] = dominated
            st.t_init[b, k + 1] = st.t_k[b, k] + s
            st.chain_k[b] = k + 1
            st.phase[b] = 1


def finalize_stages(tracker: StageTracker, st: StageState, status) -> dict:
    """The stage quantities of a finished batch: the compiled state loaded into ``tracker``
    (same field names), then the tracker's own ``finalize``."""
    tracker.t_init[:] = st.t_init
    tracker.T_u[:] = st.T_u
    tracker.t_k[:] = st.t_k
    tracker.t_k_star[:] = st.t_k_star
    tracker.bound_dominated[:] = st.bound_dominated
    tracker.t_R[:] = st.t_R
    tracker.first_in_S[:] = st.first_in_S
    tracker.first_in_R[:] = st.first_in_R
    tracker.t_eps[:] = st.t_eps
    tracker.rise[:] = st.rise
    tracker._last_fail[:] = st.last_fail
    tracker._holds_at_end[:] = st.holds_at_end
    tracker._last_valid[:] = st.last_valid
    tracker._settled_at_end[:] = st.settled_at_end
    tracker._error_at_end[:] = st.error_at_end
    tracker._k[:] = st.chain_k
    tracker._phase[:] = st.phase
    return tracker.finalize(status)
