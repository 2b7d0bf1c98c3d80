"""Stage analysis of a GD trajectory (paper, section 4.2 and Theorem 6).

All quantities are computed from *every* step, streaming over blocks of steps, whatever the
recording policy keeps. A quantity the run did not reach is NaN, never 0 or the last step.

Step numbers are integers (stored as float64 so that NaN can mark "not reached"). The paper's t^*
(eq. 14) is real; t_k = t_init,k + T_{u_k} + ceil(t^*) is rounded up so that it indexes a step
(the bounds of property 4 only get looser).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["StageTracker", "analyze_stages", "membership_S", "membership_R", "t_star", "t_sharp"]


def contraction(eta: float, Delta: float) -> float:  # noqa: N803 - paper's symbol
    """q = 1 - eta Delta / 6, the rate in (14), (15) and property 4 of Theorem 6."""
    return 1.0 - eta * Delta / 6.0


def t_star(eta: float, Delta: float, lambda_1: float, r: int) -> float:  # noqa: N803
    """t^* = log(Delta^2 / (8 lambda_1^3 + 144 r^2 lambda_1)) / log(1 - eta Delta/6)  (eq. 14)."""
    return math.log(Delta**2 / (8 * lambda_1**3 + 144 * r**2 * lambda_1)) / math.log(
        contraction(eta, Delta)
    )


def t_sharp(eta: float, Delta: float, r: int) -> float:  # noqa: N803
    """t^sharp = log(Delta / (4 r)) / log(1 - eta Delta/6)  (eq. 14)."""
    return math.log(Delta / (4 * r)) / math.log(contraction(eta, Delta))


def membership_S(sigma1_sq_X, sigma1_sq_K, top_lambda, lambda_1, Delta):  # noqa: N802, N803
    """X_t in S (eq. 13): sigma_1^2(X) <= 2 lambda_1 and sigma_1^2(K_k) <= lambda_k - 3 Delta/4.

    ``sigma1_sq_K`` has the k axis last; ``top_lambda`` holds lambda_1..lambda_r.
    """
    ok_k = np.all(sigma1_sq_K <= np.asarray(top_lambda) - 0.75 * Delta, axis=-1)
    return (sigma1_sq_X <= 2.0 * lambda_1) & ok_k


def membership_R(sigma1_sq_X, sigmar_sq_U, sigma1_sq_J, lambda_1, lambda_r, Delta):  # noqa: N802, N803
    """X_t in R (eq. 10): sigma_1^2(X) <= 2 lambda_1, sigma_r^2(U) >= Delta/4,
    sigma_1^2(J) <= lambda_r - Delta/2."""
    return (
        (sigma1_sq_X <= 2.0 * lambda_1)
        & (sigmar_sq_U >= Delta / 4.0)
        & (sigma1_sq_J <= lambda_r - Delta / 2.0)
    )


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
    * t_k = t_init,k + T_{u_k} + ceil(t^*)  (t^* from eq. 14);
    * t_k^* = min{s >= 0 integer : r q^s <= sqrt(Delta/8) min(sigma_1(u_{k+1, t_k+s}),
      sqrt(Delta/2))}, q = 1 - eta Delta/6 (eq. 15); t_init,k+1 = t_k + t_k^*;
    * t_R = t_init,r + T_{u_r} + t^* + t^sharp (property 5).

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
                self.T_u[b, k] = t0 + j - self.t_init[b, k]
                if k == r - 1:
                    self.t_R[b] = self.t_init[b, k] + self.T_u[b, k] + self.t_star + self.t_sharp
                    self._phase[b] = 3
                    return
                self.t_k[b, k] = self.t_init[b, k] + self.T_u[b, k] + math.ceil(self.t_star)
                self._phase[b] = 2
            else:  # scan t_k^* (eq. 15) from t_k on
                start = int(self.t_k[b, k]) - t0
                if start >= n_steps:
                    return
                start = max(start, 0)
                s = steps[start:] - self.t_k[b, k]
                next_sigma = np.sqrt(np.maximum(signal[start:, k + 1], 0.0))
                cap = math.sqrt(self.Delta / 2.0)
                lhs = r * self.q**s
                rhs = math.sqrt(self.Delta / 8.0) * np.minimum(next_sigma, cap)
                j = _first(lhs <= rhs)
                if j < 0:
                    return
                self.t_k_star[b, k] = s[j]
                self.bound_dominated[b, k] = next_sigma[j] >= cap
                self.t_init[b, k + 1] = self.t_k[b, k] + s[j]
                self._k[b] = k + 1
                self._phase[b] = 1

    def finalize(self, status=None) -> dict:
        """The stage quantities as arrays, keyed by the Dataset variable names.

        ``status`` (optional, per run): runs that diverged or went non-finite get every stage
        quantity NaN (their trajectory has no stages to speak of).
        """
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
            failed = np.isin(np.asarray(status), (2, 3))
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
