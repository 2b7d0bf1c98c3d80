"""Stage analysis of a GD trajectory (paper, section 4.2 and Theorem 6).

All quantities are computed from *every* step, streaming over blocks of steps, whatever the
recording policy keeps. NaN means *not determined*: never 0 or the last step.

Step numbers are integers (stored as float64 so that NaN can mark "not determined").

Rounding rule (one rule for every formula-defined index)
--------------------------------------------------------
The paper's t^* and t^sharp (eq. 14) are real. A formula-defined index is the first step at or
after the real value of its formula, ``ceil(formula)``:
t_k = t_init,k + T_{u_k} + ceil(t^*) and t_R = t_init,r + T_{u_r} + ceil(t^* + t^sharp).
For t_R this changes nothing the theorem says (property 5 is "for all integer t >= t_R", the same
steps); for t_k the bounds of property 4 only get looser; and t_init,k+1 = t_k + t_k^* indexes a
step, as eq. 15 needs.

Formula-defined indices after the last step
-------------------------------------------
t_k and t_R are definitions, not events: they are recorded as soon as the steps they are built
from (t_init,k and T_{u_k}) are determined, even when they lie after the run's last computed step
(compare with ``stop_step``). Event times (first_in_S, first_in_R, T_{u_k}, t_k^*, rise, learned,
t_eps) are NaN until observed, except at a converged stop (below).

Stop at convergence
-------------------
A run that stopped with status ``converged`` and whose last step is *settled* (in S and in R, every
signal within the learned tolerance and above Delta/2, all implied by
error <= min(Delta/4, delta lambda_r)) with an error at most :func:`settle_limit` (which needs
eta lambda_1 < 1) has its remaining literal chain completed without stepping on: each pending
T_{u_k} is 0, each pending t_k^* is the smallest s >= 0 with r q^s <= sqrt(Delta/8) sqrt(Delta/2)
(ceil(t^sharp), bound-dominated). The argument that this equals what the run continued to its
step limit reports is in ``docs/stages.md``. t_eps for an eps below the stop level stays NaN.
"""

from __future__ import annotations

import math

import numpy as np

from mfsim.datamodel import CONVERGED, FAILED_STATUSES
from mfsim.theory import contraction, membership_R, membership_S, t_sharp, t_star  # noqa: F401

__all__ = [
    "StageTracker",
    "analyze_stages",
    "membership_S",
    "membership_R",
    "t_star",
    "t_sharp",
    "bound_only_s",
    "settle_limit",
]


def bound_only_s(eta: float, Delta: float, r: int) -> int:  # noqa: N803
    """The smallest integer s >= 0 with r q^s <= sqrt(Delta/8) sqrt(Delta/2) = Delta/4.

    ceil(t^sharp) (eq. 14), evaluated with the same float64 expressions as the scan of eq. 15, so
    a bound-dominated t_k^* equals it to the step. Raises ValueError if q >= 1 (no such s).
    """
    q = np.float64(contraction(eta, Delta))
    if not q < 1.0:
        raise ValueError(f"q = 1 - eta Delta/6 = {q} must be < 1")
    rhs = math.sqrt(Delta / 8.0) * math.sqrt(Delta / 2.0)
    s = max(math.ceil(t_sharp(eta, Delta, r)) - 2, 0)
    while r * q ** np.float64(s) > rhs:
        s += 1
    return s


def settle_limit(eta, Delta, top_lambda, learned_tolerance) -> float:  # noqa: N803
    """Largest error at a converged stop from which the stage values are final (docs/stages.md).

    eps_settle = min(Delta/4, delta lambda_r, lambda_r/3, (1 - eta lambda_1)/(3 eta))
                 / (2 (1 + sqrt(r lambda_1 / lambda_r))),

    0 when eta lambda_1 >= 1 (the minimizers do not attract GD). From an iterate with
    ||Sigma_r - X X^T||_F <= eps_settle, every later error stays below min(Delta/4, delta lambda_r):
    all signals stay above Delta/2 and within the learned tolerance.
    """
    lam = np.asarray(top_lambda, dtype=np.float64)
    lambda_1, lambda_r, r = float(lam[0]), float(lam[-1]), lam.size
    if eta * lambda_1 >= 1.0:
        return 0.0
    levels = (Delta / 4.0, learned_tolerance * lambda_r, lambda_r / 3.0)
    attract = (1.0 - eta * lambda_1) / (3.0 * eta)
    return min(*levels, attract) / (2.0 * (1.0 + math.sqrt(r * lambda_1 / lambda_r)))


def _first(mask: np.ndarray, start: int = 0) -> int:
    """First index >= start where mask is true, or -1."""
    hits = np.flatnonzero(mask[start:])
    return int(hits[0]) + start if hits.size else -1


class StageTracker:
    """Streaming stage analysis for a batch of runs.

    Parameters
    ----------
    n_runs, r : int
    top_lambda : array (r,)
        lambda_1 .. lambda_r.
    Delta, eta : float
    epsilons : sequence of float
        Accuracy levels for ``t_eps``.
    learned_tolerance : float
        delta in the definition of ``learned``.

    Notes
    -----
    Literal Theorem 6 chain (section 4.2), per run:

    * t_init,1 = min{t : X_t in S} (eq. 13);
    * T_{u_k} = min{t >= 0 : sigma_1^2(u_{k, t + t_init,k}) >= Delta/2};
    * t_k = t_init,k + T_{u_k} + ceil(t^*) for every k <= r (t^* from eq. 14; property 2);
    * t_k^* = min{s >= 0 integer : r q^s <= sqrt(Delta/8) min(sigma_1(u_{k+1, t_k+s}),
      sqrt(Delta/2))}, q = 1 - eta Delta/6 (eq. 15), k < r; t_init,k+1 = t_k + t_k^*;
    * t_R = t_init,r + T_{u_r} + ceil(t^* + t^sharp) (property 5).

    Since min(.) <= sqrt(Delta/2), (15) cannot hold before s = t^sharp: t_k^* >= ceil(t^sharp).
    When the min is attained by sqrt(Delta/2) at s = t_k^* (the next signal is already above
    Delta/2), t_k^* = ceil(t^sharp) whatever the dynamics: ``t_k_star_bound_dominated`` is set.

    Empirical quantities, free of the paper's constants:
    ``rise_k`` = min{t : sigma_1^2(u_k) >= Delta/2};
    ``learned_k`` = first step after which |lambda_k - sigma_1^2(u_k)| <= delta lambda_k holds to
    the end of the run; ``escape_k`` = rise_{k+1} - rise_k; ``plateau_k`` = rise_{k+1} - learned_k.
    """

    def __init__(self, n_runs, r, top_lambda, Delta, eta, epsilons, learned_tolerance=0.01):  # noqa: N803
        self.n, self.r = n_runs, r
        self.top_lambda = np.asarray(top_lambda, dtype=np.float64)[:r]
        self.Delta, self.eta = Delta, eta
        self.lambda_1 = float(self.top_lambda[0])
        self.epsilons = np.asarray(epsilons, dtype=np.float64)
        self.delta = learned_tolerance
        self.q = contraction(eta, Delta)
        self.t_star = t_star(eta, Delta, self.lambda_1, r)
        self.t_sharp = t_sharp(eta, Delta, r)
        self.offset_k = math.ceil(self.t_star)
        self.offset_R = math.ceil(self.t_star + self.t_sharp)
        self.s_sharp = bound_only_s(eta, Delta, r)
        nan = np.full
        self.t_init = nan((n_runs, r), np.nan)
        self.T_u = nan((n_runs, r), np.nan)
        self.t_k = nan((n_runs, r), np.nan)
        self.t_k_star = nan((n_runs, r), np.nan)
        self.bound_dominated = np.zeros((n_runs, r), dtype=bool)
        self.t_R = nan(n_runs, np.nan)
        self.first_in_S = nan(n_runs, np.nan)
        self.first_in_R = nan(n_runs, np.nan)
        self.t_eps = nan((n_runs, len(self.epsilons)), np.nan)
        self.rise = nan((n_runs, r), np.nan)
        self._last_fail = np.full((n_runs, r), -1, dtype=np.int64)
        self._holds_at_end = np.zeros((n_runs, r), dtype=bool)
        self._last_valid = np.full(n_runs, -1, dtype=np.int64)
        # the last computed step is settled: in S and R, every signal risen and learned
        self._settled_at_end = np.zeros(n_runs, dtype=bool)
        self._error_at_end = np.full(n_runs, np.inf)
        self.settle_limit = settle_limit(eta, Delta, self.top_lambda, learned_tolerance)
        # chain state per run: current k (0-based) and phase
        self._k = np.zeros(n_runs, dtype=np.int64)
        self._phase = np.zeros(n_runs, dtype=np.int64)  # 0 wait S, 1 wait T_u, 2 scan t_k^*, 3 done

    def update(self, t0, signal, error, sigma1_sq_X, sigma1_sq_K, sigmar_sq_U, sigma1_sq_J):  # noqa: N803
        """Consume steps t0 .. t0+T-1 of every run.

        Arrays have shape (n_runs, T) or (n_runs, T, r); NaN marks steps after a run stopped.
        """
        valid = np.isfinite(error)
        in_s = membership_S(sigma1_sq_X, sigma1_sq_K, self.top_lambda, self.lambda_1, self.Delta)
        in_r = membership_R(
            sigma1_sq_X, sigmar_sq_U, sigma1_sq_J, self.lambda_1, self.top_lambda[-1], self.Delta
        )
        in_s &= valid
        in_r &= valid
        risen = (signal >= self.Delta / 2.0) & valid[..., None]
        close = np.abs(self.top_lambda - signal) <= self.delta * self.top_lambda
        close &= valid[..., None]
        steps = t0 + np.arange(error.shape[1])
        for b in range(self.n):
            vb = np.flatnonzero(valid[b])
            if vb.size == 0:
                continue
            self._last_valid[b] = t0 + vb[-1]
            _set_first(self.first_in_S, b, in_s[b], t0)
            _set_first(self.first_in_R, b, in_r[b], t0)
            for e, eps in enumerate(self.epsilons):
                _set_first(self.t_eps[b], e, valid[b] & (error[b] <= eps), t0)
            for k in range(self.r):
                _set_first(self.rise[b], k, risen[b, :, k], t0)
                fails = np.flatnonzero(valid[b] & ~close[b, :, k])
                if fails.size:
                    self._last_fail[b, k] = t0 + fails[-1]
                self._holds_at_end[b, k] = close[b, vb[-1], k]
            last = vb[-1]
            self._error_at_end[b] = error[b, last]
            self._settled_at_end[b] = (
                in_s[b, last] and in_r[b, last] and risen[b, last].all() and close[b, last].all()
            )
            self._advance_chain(b, t0, steps, in_s[b], risen[b], signal[b])

    def _advance_chain(self, b, t0, steps, in_s, risen, signal):
        r, n_steps = self.r, steps.size
        while self._phase[b] != 3:
            k = self._k[b]
            if self._phase[b] == 0:  # t_init,1: first entry into S
                j = _first(in_s)
                if j < 0:
                    return
                self.t_init[b, 0] = t0 + j
                self._phase[b] = 1
            elif self._phase[b] == 1:  # T_{u_k}
                start = int(self.t_init[b, k]) - t0
                j = _first(risen[:, k], max(start, 0))
                if j < 0:
                    return
                self._set_T_u(b, k, t0 + j - self.t_init[b, k])
                if self._phase[b] == 3:
                    return
            else:  # scan t_k^* (eq. 15) from t_k on
                start = int(self.t_k[b, k]) - t0
                if start >= n_steps:
                    return
                start = max(start, 0)
                s = steps[start:] - self.t_k[b, k]
                next_sigma = np.sqrt(np.maximum(signal[start:, k + 1], 0.0))
                cap = math.sqrt(self.Delta / 2.0)
                lhs = r * np.float64(self.q) ** s
                rhs = math.sqrt(self.Delta / 8.0) * np.minimum(next_sigma, cap)
                j = _first(lhs <= rhs)
                if j < 0:
                    return
                self._set_t_k_star(b, k, s[j], next_sigma[j] >= cap)

    def _set_T_u(self, b, k, value):  # noqa: N802 - the paper's symbol
        """T_{u_k} found: t_k (every k), then t_R (k = r) or the scan of t_k^* (k < r)."""
        self.T_u[b, k] = value
        base = self.t_init[b, k] + value
        self.t_k[b, k] = base + self.offset_k
        if k == self.r - 1:
            self.t_R[b] = base + self.offset_R
            self._phase[b] = 3
        else:
            self._phase[b] = 2

    def _set_t_k_star(self, b, k, value, bound_dominated):
        self.t_k_star[b, k] = value
        self.bound_dominated[b, k] = bound_dominated
        self.t_init[b, k + 1] = self.t_k[b, k] + value
        self._k[b] = k + 1
        self._phase[b] = 1

    def _complete_at_convergence(self, b):
        """Finish the literal chain of a settled converged run without stepping on.

        From the stop on every signal stays above Delta/2 (``docs/stages.md``), so a pending
        T_{u_k} (its t_init,k lies after the stop, else the rise was seen) is 0, and a pending
        t_k^* (t_k + s_sharp lies after the stop, else eq. 15 held at a computed step) is
        s_sharp with the min of eq. 15 attained by sqrt(Delta/2).
        """
        while self._phase[b] in (1, 2):
            k = self._k[b]
            if self._phase[b] == 1:
                self._set_T_u(b, k, 0.0)
            else:
                self._set_t_k_star(b, k, float(self.s_sharp), True)

    def finalize(self, status=None) -> dict:
        """The stage quantities as arrays, keyed by the Dataset variable names.

        ``status`` (optional, per run): runs that diverged or went non-finite get every stage
        quantity NaN (their trajectory has no stages to speak of); runs that converged with a
        settled last step and eta lambda_1 < 1 get their literal chain completed (module notes).
        Call once, after the last ``update``.
        """
        if status is not None:
            settled = self._settled_at_end & (self._error_at_end <= self.settle_limit)
            for b in np.flatnonzero((np.asarray(status) == CONVERGED) & settled):
                self._complete_at_convergence(b)
        learned = np.where(
            self._holds_at_end & (self._last_valid[:, None] >= 0), self._last_fail + 1.0, np.nan
        )
        escape = np.full((self.n, self.r), np.nan)
        plateau = np.full((self.n, self.r), np.nan)
        escape[:, :-1] = self.rise[:, 1:] - self.rise[:, :-1]
        plateau[:, :-1] = self.rise[:, 1:] - learned[:, :-1]
        out = {
            "t_init": self.t_init,
            "T_u": self.T_u,
            "t_k": self.t_k,
            "t_k_star": self.t_k_star,
            "t_k_star_bound_dominated": self.bound_dominated,
            "t_R": self.t_R,
            "first_in_S": self.first_in_S,
            "first_in_R": self.first_in_R,
            "t_eps": self.t_eps,
            "rise": self.rise,
            "learned": learned,
            "escape": escape,
            "plateau": plateau,
        }
        out = {name: np.array(val) for name, val in out.items()}
        if status is not None:
            failed = np.isin(np.asarray(status), FAILED_STATUSES)
            for val in out.values():
                if val.dtype == bool:
                    val[failed] = False
                else:
                    val[failed] = np.nan
        return out


def _set_first(target, index, mask, t0):
    """Record the first true step of ``mask`` (offset t0) into target[index] if not yet set."""
    if np.isnan(target[index]):
        j = _first(mask)
        if j >= 0:
            target[index] = t0 + j


def analyze_stages(
    signal,
    error,
    sigma1_sq_X,
    sigma1_sq_K,
    sigmar_sq_U,
    sigma1_sq_J,
    *,  # noqa: N803
    top_lambda,
    Delta,
    eta,
    epsilons=(1e-2,),
    learned_tolerance=0.01,
    status=None,
):
    """Stage analysis of whole trajectories, e.g. hand-built ones.

    Same code path as the engine's streaming analysis, fed in one block. Arrays are shaped
    (runs, steps), and (runs, steps, r) for ``signal`` and ``sigma1_sq_K``.
    """
    arrays = [
        np.asarray(a, dtype=np.float64)
        for a in (signal, error, sigma1_sq_X, sigma1_sq_K, sigmar_sq_U, sigma1_sq_J)
    ]
    n, _, r = arrays[0].shape
    tracker = StageTracker(n, r, top_lambda, Delta, eta, epsilons, learned_tolerance)
    tracker.update(0, *arrays)
    return tracker.finalize(status)
