"""Small-signal (linearized) theory of the rise times and of the literal t_k^* for bulks of
flat levels.

The linearization (a prediction, checked against runs) is in ``docs/transition.md``.
Setting: Sigma = diag(lambda_1, ..., lambda_r, bulk), GD ``X <- X + eta (Sigma - X X^T) X``
from ``X_0 = varpi N_0`` (entries N(0, 1/d)). Every row ``x_i`` of X evolves linearly given
the r x r Gram matrix ``G = X^T X``,

    x_i <- x_i ((1 + eta lambda_i) I - eta G),

so while the top rows ``u_k`` are small, ``G`` is the bulk's Gram matrix. For a bulk of flat
levels (the ``flat`` family: one level; ``staircase``: several) whose top level
``lambda_{r+1}`` has multiplicity >= r, the bulk's Gram matrix saturates at
``lambda_{r+1} I`` after a transient whose length does not depend on d, and then ``u_k`` grows
by the factor ``rho_k = 1 + eta (lambda_k - lambda_{r+1})`` per step in the directions not
taken by the signals already risen. ``||u_k||^2`` starts near ``varpi^2 (r - k + 1) / d``, so
reaching ``Delta / 2`` takes ``ln d / (2 ln rho_k)`` steps plus a d-independent part:

    d rise_k / d ln d = 1 / (2 ln(1 + eta (lambda_k - lambda_{r+1}))).

:func:`rise_slope` is this closed form. :func:`predict_stages` integrates the per-direction
scalar model (one signal direction and the bulk levels in that direction, exact row updates,
in log space so that d up to 10^300 is fine) to predict the rise times with their
d-independent offsets, and follows the paper's chain (section 4.2, eqs. 14-15) to predict
t_k, t_k^* and whether t_k^* is bound-dominated; :func:`measurable_threshold` gives the
smallest d at which the literal t_k^* is no longer bound-dominated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mfsim.spectrum_ties import distinct_gap
from mfsim.theory import contraction, t_star

__all__ = [
    "Bulk",
    "ChainEstimate",
    "StagePrediction",
    "applies_to",
    "bulk_of",
    "chain_estimate",
    "chi2_median",
    "diverges_at_start",
    "measurable_log10_d",
    "measurable_threshold",
    "predict_stages",
    "rise_slope",
    "rise_slope_for",
    "sigma1_initial",
    "signal_levels",
    "t_k_star_slope",
]


@dataclass(frozen=True)
class Bulk:
    """Bulk eigenvalues as flat levels.

    Attributes
    ----------
    values : tuple of float
        Level eigenvalues, decreasing; ``values[0]`` is lambda_{r+1}.
    fractions : tuple of float
        Multiplicity of each level divided by d (they sum to (d - r) / d).
    multiplicities : tuple of float
        Multiplicity of each level at the d the bulk was built for.
    """

    values: tuple[float, ...]
    fractions: tuple[float, ...]
    multiplicities: tuple[float, ...] = ()

    def saturation_level(self, r: int) -> float:
        """The largest level of multiplicity >= r: the value at which the bulk Gram matrix
        saturates (levels above it hold fewer than r rows and grow like slow extra signals).

        Raises
        ------
        ValueError
            If no level has multiplicity >= r (or the multiplicities are unknown: then the top
            level is returned).
        """
        if not self.multiplicities:
            return self.values[0]
        for value, count in zip(self.values, self.multiplicities, strict=True):
            if count >= r:
                return value
        raise ValueError(f"no bulk level has multiplicity >= r = {r}")


def bulk_of(spectrum, n_levels_per_ramp: int = 64) -> Bulk:
    """The bulk (eigenvalues after the top r) of a :class:`mfsim.spectra.Spectrum` as levels.

    Constant segments are levels as they are; a segment with a non-zero increment (the
    ``linear`` family's ramp) is split into ``n_levels_per_ramp`` equal-count levels at their
    mean value, an approximation that the prediction then inherits.

    Parameters
    ----------
    spectrum : mfsim.spectra.Spectrum
        Any family; only ``segments``, ``d`` and ``r`` are used.
    n_levels_per_ramp : int, default 64
        Levels per non-constant segment.

    Returns
    -------
    Bulk
    """
    d, r = spectrum.d, spectrum.r
    values, counts = [], []
    skip = r
    for seg in spectrum.segments:
        count = int(seg.count)
        take = min(skip, count)
        skip -= take
        first, count = seg.first + seg.increment * take, count - take
        if count <= 0:
            continue
        if seg.increment == 0 or count == 1:
            values.append(float(first))
            counts.append(count)
            continue
        edges = np.linspace(0, count, min(n_levels_per_ramp, count) + 1)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            mid = 0.5 * (lo + hi - 1.0)
            values.append(float(first + seg.increment * mid))
            counts.append(hi - lo)
    return Bulk(
        tuple(values), tuple(float(c) / float(d) for c in counts), tuple(float(c) for c in counts)
    )


def rise_slope(eta: float, top_lambda, bulk_top: float) -> np.ndarray:
    """Small-signal slope of rise_k against ln d, k = 1..r (``docs/transition.md``, eq. R).

    Parameters
    ----------
    eta : float
        Step size.
    top_lambda : array_like, shape (r,)
        lambda_1 .. lambda_r.
    bulk_top : float
        lambda_{r+1}, the largest bulk eigenvalue (its multiplicity must be >= r).

    Returns
    -------
    numpy.ndarray, shape (r,)
        ``1 / (2 ln(1 + eta (lambda_k - lambda_{r+1})))`` in steps per unit of ln d.

    Raises
    ------
    ValueError
        If some ``lambda_k <= lambda_{r+1}`` or ``eta (lambda_k - lambda_{r+1})`` makes the
        growth factor non-positive.
    """
    gaps = np.asarray(top_lambda, dtype=float) - float(bulk_top)
    if np.any(gaps <= 0) or eta <= 0:
        raise ValueError(f"need eta > 0 and lambda_k > lambda_(r+1) = {bulk_top}, got {gaps}")
    return 1.0 / (2.0 * np.log1p(eta * gaps))


def t_k_star_slope(
    eta: float,
    top_lambda,
    bulk_top: float,
    Delta: float,  # noqa: N803
    bound_dominated=None,
    init_later=None,
) -> np.ndarray:
    """Small-signal slope of the measured (not bound-dominated) literal t_k^* against ln d.

    Where ``t_k^*`` is not bound-dominated, eq. (15) is met before ``u_{k+1}`` rises, i.e.
    ``r q^s = sqrt(Delta/8) sigma_1(u_{k+1, t_k + s})`` with ``sigma_1(u_{k+1})`` growing by
    ``rho_{k+1}`` per step, which gives ``t_k^* ~ (rise_{k+1} - t_k) ln rho_{k+1} /
    (ln rho_{k+1} - ln q)`` plus a constant (``docs/transition.md``, eq. T), so

        d t_k^* / d ln d = (S_{k+1} - T_k) ln rho_{k+1} / (ln rho_{k+1} - ln q),

    with ``T_k`` the slope of ``t_k = max(t_init,k, rise_k) + ceil(t^*)``: ``S_k`` where
    ``u_k`` rises after ``t_init,k``, else the slope of ``t_init,k = t_{k-1} + t_{k-1}^*``,
    i.e. ``T_{k-1}`` plus that of ``t_{k-1}^*`` (0 when bound-dominated). Which of the two is
    later depends on the d range (flat r = 3: ``t_init,2`` is later up to d ~ 1e450), so the
    regime is an input.

    Parameters
    ----------
    eta, top_lambda, bulk_top
        As in :func:`rise_slope` (``bulk_top``: the saturation level).
    Delta : float
        Eigengap (sets q = 1 - eta Delta / 6).
    bound_dominated : sequence of bool, optional
        For k = 1..r-1, whether t_k^* is bound-dominated in the d range considered; default:
        none is.
    init_later : sequence of bool, optional
        For k = 1..r-1, whether ``t_init,k`` comes after ``rise_k`` in that range; default:
        never (``t_k = rise_k + ceil(t^*)``).

    Returns
    -------
    numpy.ndarray, shape (r - 1,)
        Slopes in steps per unit of ln d (0 where bound-dominated).
    """
    slopes = rise_slope(eta, top_lambda, bulk_top)
    log_rho = np.log1p(eta * (np.asarray(top_lambda, dtype=float) - bulk_top))
    log_q = math.log(contraction(eta, Delta))
    r = slopes.size
    bound = np.zeros(r - 1, dtype=bool) if bound_dominated is None else np.asarray(bound_dominated)
    later = np.zeros(r - 1, dtype=bool) if init_later is None else np.asarray(init_later)
    out = np.zeros(r - 1)
    t_init = 0.0  # t_init,1 = first step in S, independent of d
    for k in range(r - 1):
        t_k = t_init if later[k] else slopes[k]
        measured = (slopes[k + 1] - t_k) * log_rho[k + 1] / (log_rho[k + 1] - log_q)
        out[k] = 0.0 if bound[k] else measured
        t_init = t_k + out[k]
    return out


def rise_slope_for(spectrum, eta: float) -> np.ndarray:
    """:func:`rise_slope` for a Spectrum (flat-level bulk, e.g. ``flat`` or ``staircase``)."""
    bulk = bulk_of(spectrum)
    return rise_slope(eta, spectrum.top(spectrum.r), bulk.saturation_level(spectrum.r))


#: A bulk level with fewer rows than this at the reference d has a fixed multiplicity (its
#: fraction of d shrinks as 1/d); larger levels are a fixed fraction of d.
_FIXED_MULTIPLICITY = 1000


def _rise_scalar(
    log_d: np.ndarray,
    lam: float,
    bulk: Bulk,
    eta: float,
    varpi: float,
    m: int,
    n_steps: int,
) -> np.ndarray:
    """Trajectory of ln ||u_k||^2 of the per-direction scalar model, shape (n_d, n_steps + 1).

    The direction w of ``u_k`` carries ``s = ||u_k||^2`` and the bulk levels' mass ``b_j`` in w
    (Gram entry ``w^T B_j^T B_j w``): ``s <- s (1 + eta (lambda_k - s - sum b))^2``,
    ``b_j <- b_j (1 + eta (mu_j - s - sum b))^2``; ``s_0 = varpi^2 median(chi^2_m) / d`` (the
    initial ``u_k`` projected on the ``m = r - k + 1`` directions not taken by earlier signals;
    the rise time decreases with ``s_0``, so the median ``s_0`` gives the median rise time,
    which is what the model is compared with: :func:`chi2_median`),
    ``b_j0 = varpi^2 f_j`` for a level whose multiplicity grows with d, ``varpi^2 c_j / d`` for
    one of fixed multiplicity ``c_j < r`` (a single row such as the staircase's lambda_{r+1}).
    ``s`` is carried as ``ln s`` (d up to 10^300; ``e^{ln s}`` underflows to 0 only where it is
    negligible next to ``b``).
    """
    mu = np.asarray(bulk.values)
    fractions = np.asarray(bulk.fractions)[None, :]
    counts = np.asarray(bulk.multiplicities or [np.inf] * mu.size)[None, :]
    fixed = counts < _FIXED_MULTIPLICITY
    b = varpi**2 * np.where(fixed, counts * np.exp(-log_d)[:, None], fractions)
    log_s0 = 2.0 * math.log(varpi) + math.log(chi2_median(m)) - log_d
    out = np.empty((log_d.size, n_steps + 1))
    out[:, 0] = log_s0
    log_s = log_s0.copy()
    for t in range(n_steps):
        s = np.exp(np.maximum(log_s, -700.0))
        total = s + b.sum(axis=1)
        log_s = log_s + 2.0 * np.log(np.abs(1.0 + eta * (lam - total)))
        b = b * (1.0 + eta * (mu[None, :] - total[:, None])) ** 2
        out[:, t + 1] = log_s
    return out


def chi2_median(m: int) -> float:
    """Median of chi^2 with ``m`` degrees of freedom: ``2 P^{-1}(m/2, 1/2)``, with ``P^{-1}`` the
    inverse of the regularized lower incomplete gamma function (0.4549 for m = 1).

    Used instead of ``e^{E ln chi^2_m}`` (``E ln chi^2_m = psi(m/2) + ln 2``): predictions are
    compared with medians over seeds, and ``ln median - E ln chi^2_1 = 0.48``, a bias of
    0.48 S_k steps (about 12 at S = 25) in the rise time otherwise.
    """
    # imported here: the fits import this module and need no scipy (0.2 s per job)
    from scipy.special import gammaincinv

    return 2.0 * float(gammaincinv(m / 2.0, 0.5))


@dataclass(frozen=True)
class StagePrediction:
    """Predicted stage times of the scalar model (float steps, NaN = not within n_steps).

    Attributes
    ----------
    d : numpy.ndarray, shape (n_d,)
        d as a store holds it: 10^log10_d, and -log10_d from 10^308 on (d beyond float64,
        ``docs/design.md``), never +inf.
    rise : numpy.ndarray, shape (n_d, r)
    t_k, t_k_star : numpy.ndarray, shape (n_d, r - 1)
    bound_dominated : numpy.ndarray of bool, shape (n_d, r - 1)
    rise_slope : numpy.ndarray, shape (r,)
        :func:`rise_slope`.
    """

    d: np.ndarray
    rise: np.ndarray
    t_k: np.ndarray
    t_k_star: np.ndarray
    bound_dominated: np.ndarray
    rise_slope: np.ndarray


def predict_stages(
    log10_d,
    top_lambda,
    bulk: Bulk,
    *,
    eta: float,
    varpi: float,
    n_steps: int = 40_000,
    t_init_1: float = 0.0,
) -> StagePrediction:
    """Predicted rise_k, t_k, t_k^* and the bound-dominated flag at each d (scalar model).

    Parameters
    ----------
    log10_d : array_like, shape (n_d,)
        log10 of the dimensions (any size up to 10^300).
    top_lambda : array_like, shape (r,)
        lambda_1 .. lambda_r; ``Delta = min(lambda_k - lambda_{k+1})`` with lambda_{r+1} the
        top bulk level.
    bulk : Bulk
        Bulk levels (:func:`bulk_of`).
    eta, varpi : float
        Step size and initialization scale.
    n_steps : int, default 40000
        Horizon of the model trajectories.
    t_init_1 : float, default 0
        First step in S (eq. 13); 0 when ``varpi^2`` is well below ``lambda_r - 3 Delta / 4``.

    Returns
    -------
    StagePrediction

    Notes
    -----
    The chain follows section 4.2: ``t_k = t_init,k + T_{u_k} + ceil(t^*)`` with
    ``t_init,k + T_{u_k} = max(t_init,k, rise_k)`` (the signal stays above ``Delta / 2`` once
    risen), ``t_k^* = min{s >= 0: r q^s <= sqrt(Delta/8) min(sigma_1(u_{k+1, t_k + s}),
    sqrt(Delta/2))}`` (eq. 15), bound-dominated when the min is attained by ``sqrt(Delta/2)``,
    ``t_init,k+1 = t_k + t_k^*``. Signal k is modelled along its own direction, which earlier
    signals do not enter (their directions are orthogonal once risen), so the prediction
    ignores the coupling terms that the full dynamics has near the rises; its accuracy is
    measured against ``mfsim.simulate`` in ``docs/transition.md``.
    """
    log_d = np.asarray(log10_d, dtype=float) * math.log(10.0)
    lam = np.asarray(top_lambda, dtype=float)
    r = lam.size
    levels = np.concatenate([lam, [bulk.values[0]]])
    Delta = distinct_gap(levels)  # noqa: N806 - over the distinct gaps (ties: docs/stages.md)
    threshold = Delta / 2.0
    t_s = t_star(eta, Delta, lam[0], r)
    q = contraction(eta, Delta)
    steps = np.arange(n_steps + 1, dtype=float)
    n_d = log_d.size
    rise = np.full((n_d, r), np.nan)
    t_k = np.full((n_d, max(r - 1, 0)), np.nan)
    t_k_star = np.full_like(t_k, np.nan)
    bound = np.zeros(t_k.shape, dtype=bool)
    cap = math.sqrt(Delta / 2.0)
    # trajectories of a block of d values at a time: about 10^7 floats
    chunk = max(1, 10_000_000 // (r * (n_steps + 1)))
    for start in range(0, n_d, chunk):
        part = slice(start, min(start + chunk, n_d))
        traj = np.stack(
            [_rise_scalar(log_d[part], lam[k], bulk, eta, varpi, r - k, n_steps) for k in range(r)],
            axis=1,
        )  # (chunk, r, n_steps + 1) of ln ||u_k||^2
        above = traj >= math.log(threshold)
        rise[part] = np.where(above.any(-1), np.argmax(above, axis=-1), np.nan)
        for i_local, i in enumerate(range(part.start, part.stop)):
            t_init = float(t_init_1)
            for k in range(r - 1):
                if not np.isfinite(rise[i, k]):
                    break
                tk = max(t_init, rise[i, k]) + math.ceil(t_s)
                if tk > n_steps:
                    break
                t_k[i, k] = tk
                s = steps[int(tk) :] - tk
                sigma_next = np.exp(0.5 * traj[i_local, k + 1, int(tk) :])
                rhs = math.sqrt(Delta / 8.0) * np.minimum(sigma_next, cap)
                hit = np.flatnonzero(r * q**s <= rhs)
                if not hit.size:
                    break
                j = hit[0]
                t_k_star[i, k] = s[j]
                bound[i, k] = sigma_next[j] >= cap
                t_init = tk + s[j]
    return StagePrediction(
        d=_stored_d(np.asarray(log10_d, dtype=float)),
        rise=rise,
        t_k=t_k,
        t_k_star=t_k_star,
        bound_dominated=bound,
        rise_slope=rise_slope(eta, lam, bulk.saturation_level(r)),
    )


def _stored_d(log10_d: np.ndarray) -> np.ndarray:
    """10^log10_d, or -log10_d where d >= 10^308 (the stores' rule for d beyond float64)."""
    return np.where(log10_d < 308, 10.0 ** np.minimum(log10_d, 308), -log10_d)


def measurable_threshold(
    top_lambda,
    bulk: Bulk,
    *,
    eta: float,
    varpi: float,
    log10_d_max: float = 300.0,
    resolution: float = 0.5,
    n_steps: int = 40_000,
) -> np.ndarray:
    """Smallest log10 d from which the predicted literal t_k^* is not bound-dominated.

    Parameters
    ----------
    top_lambda, bulk, eta, varpi, n_steps
        As in :func:`predict_stages`.
    log10_d_max : float, default 300
        Largest log10 d scanned.
    resolution : float, default 0.5
        Grid spacing in log10 d of the scan (from 1).

    Returns
    -------
    numpy.ndarray, shape (r - 1,)
        log10 of the threshold per k = 1..r-1 (the first grid value from which every larger
        grid value is not bound-dominated); ``inf`` if not reached by ``log10_d_max``.
    """
    grid = np.arange(1.0, log10_d_max + resolution / 2, resolution)
    pred = predict_stages(grid, top_lambda, bulk, eta=eta, varpi=varpi, n_steps=n_steps)
    out = np.full(pred.t_k_star.shape[1], np.inf)
    for k in range(out.size):
        measured = np.isfinite(pred.t_k_star[:, k]) & ~pred.bound_dominated[:, k]
        bad = np.flatnonzero(~measured)
        if bad.size == 0:
            out[k] = grid[0]
        elif bad[-1] + 1 < grid.size:
            out[k] = grid[bad[-1] + 1]
    return out


def applies_to(spec) -> tuple[bool, str]:
    """Whether the flat-level theory applies to a spectrum, and why not.

    It needs a bulk of flat levels whose top level lambda_{r+1} has multiplicity >= r (so the
    bulk Gram matrix can saturate at lambda_{r+1} I).
    """
    if spec is None:
        return False, "spectrum family of the sweep unknown"
    if "gap" in dict(spec.params):  # one slope per group does not exist: mfsim.analysis.regimes
        return False, "the eigengap depends on d (spectrum.gap): predicted d by d (regimes)"
    for seg in _bulk_segments(spec):
        if seg.increment != 0 and seg.count > 1:
            break
        if seg.count >= spec.r:
            return True, ""
    return False, (
        f"the {spec.name} bulk has no flat level of multiplicity >= r above its ramps: the bulk "
        "Gram matrix does not saturate in a d-independent time"
    )


def _bulk_segments(spec):
    skip = spec.r
    for seg in spec.segments:
        if skip >= seg.count:
            skip -= seg.count
            continue
        yield type(seg)(seg.first + seg.increment * skip, seg.increment, seg.count - skip)
        skip = 0


# --------------------------------------------------------------------------------------------
# The chain in closed form (fast enough for the plan's warnings)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainEstimate:
    """The stage chain of section 4.2 with pure exponential rises (float steps).

    Attributes
    ----------
    rise : numpy.ndarray, shape (r,)
        ``ln(Delta d / (2 varpi^2 (r - k + 1))) / (2 ln rho_k)`` (0 when already above).
    t_k, t_k_star : numpy.ndarray, shape (r - 1,)
    bound_dominated : numpy.ndarray of bool, shape (r - 1,)
    t_R : float
        ``max(t_init,r, rise_r) + ceil(t^* + t^sharp)`` (property 5).
    """

    rise: np.ndarray
    t_k: np.ndarray
    t_k_star: np.ndarray
    bound_dominated: np.ndarray
    t_R: float  # noqa: N815 - the paper's symbol


def chain_estimate(
    log10_d: float,
    top_lambda,
    bulk_top: float,
    *,
    eta: float,
    varpi: float,
) -> ChainEstimate:
    """The literal chain (section 4.2, eqs. 14-15) with each signal rising as a pure exponential.

    ``||u_k||^2`` starts at ``varpi^2 (r - k + 1) / d`` and grows by ``rho_k^2`` per step,
    ``rho_k = 1 + eta (lambda_k - lambda_{r+1})`` (:func:`rise_slope`); the d-independent
    transient of :func:`predict_stages` is left out. ``t_k = max(t_init,k, rise_k) + ceil(t^*)``;
    ``t_k^*`` solves eq. 15 with ``sigma_1(u_{k+1}, t) = sqrt(Delta/2) rho_{k+1}^(t - rise_{k+1})``
    below the cap and is bound-dominated (``ceil(t^sharp)``) when ``u_{k+1}`` has risen by
    ``t_k + ceil(t^sharp)``; ``t_init,k+1 = t_k + t_k^*``. Closed form, any d (log10 d given).

    Parameters
    ----------
    log10_d : float
        log10 of the dimension.
    top_lambda : array_like, shape (r,)
        lambda_1 .. lambda_r.
    bulk_top : float
        The bulk level the signals compete with (the saturation level of a flat-level bulk).
    eta, varpi : float
        Step size and initialization scale.

    Returns
    -------
    ChainEstimate

    Notes
    -----
    Accuracy: for the flat family at kappa = 5, eta = 0.1 it puts the first d at which t_k^* is
    not bound-dominated within a few decades of :func:`measurable_threshold` (checked in
    ``tests/test_small_signal.py``); the prediction, not a bound.
    """
    lam = np.asarray(top_lambda, dtype=float)
    r = lam.size
    Delta = distinct_gap(np.concatenate([lam, [bulk_top]]))  # noqa: N806 - distinct gaps
    log_rho = np.log1p(eta * (lam - bulk_top))
    log_q = math.log(contraction(eta, Delta))
    ceil_star = math.ceil(t_star(eta, Delta, float(lam[0]), r))
    t_sharp_real = math.log(Delta / (4 * r)) / log_q
    ceil_sharp = math.ceil(t_sharp_real)
    m = r - np.arange(r)  # directions not taken by earlier signals
    log_ratio = math.log(Delta / 2.0) + log10_d * math.log(10.0) - 2 * math.log(varpi) - np.log(m)
    rise = np.maximum(log_ratio, 0.0) / (2.0 * log_rho)
    t_k = np.zeros(max(r - 1, 0))
    t_k_star = np.zeros_like(t_k)
    bound = np.zeros(t_k.shape, dtype=bool)
    t_init = 0.0
    for k in range(r - 1):
        t_k[k] = max(t_init, rise[k]) + ceil_star
        behind = rise[k + 1] - t_k[k]  # steps u_{k+1} still needs after t_k
        bound[k] = behind <= ceil_sharp
        if bound[k]:
            t_k_star[k] = ceil_sharp
        else:
            # r q^s = (Delta / 4) rho^(s - behind), i.e. s ln q = t^sharp ln q + (s - behind) ln rho
            rho = log_rho[k + 1]
            t_k_star[k] = math.ceil((t_sharp_real * log_q - behind * rho) / (log_q - rho))
        t_init = t_k[k] + t_k_star[k]
    t_R = max(t_init, float(rise[-1])) + math.ceil(
        t_star(eta, Delta, float(lam[0]), r) + t_sharp_real
    )  # noqa: N806
    return ChainEstimate(rise, t_k, t_k_star, bound, t_R)


def measurable_log10_d(
    top_lambda,
    bulk_top: float,
    *,
    eta: float,
    varpi: float,
    log10_d_max: float = 1000.0,
    resolution: float = 0.5,
) -> np.ndarray:
    """Smallest log10 d from which the literal t_k^* is predicted not bound-dominated.

    :func:`measurable_threshold` from the closed-form chain (:func:`chain_estimate`), found by
    bisection (the chain is bound-dominated below the threshold and not above it: the rise of
    signal k+1 outgrows t_k + ceil(t^sharp) with ln d): about a millisecond instead of
    seconds, for the plan's warnings.

    Parameters
    ----------
    top_lambda, bulk_top, eta, varpi
        As in :func:`chain_estimate`.
    log10_d_max : float, default 1000
        Largest log10 d scanned.
    resolution : float, default 0.5
        The threshold is rounded up to the grid ``1 + j * resolution``.

    Returns
    -------
    numpy.ndarray, shape (r - 1,)
        log10 of the threshold per k = 1..r-1; ``inf`` if not reached by `log10_d_max`.
    """

    def bound(x: float) -> np.ndarray:
        return chain_estimate(x, top_lambda, bulk_top, eta=eta, varpi=varpi).bound_dominated

    r_minus_1 = len(np.atleast_1d(top_lambda)) - 1
    out = np.full(r_minus_1, np.inf)
    at_max, at_min = bound(log10_d_max), bound(1.0)
    for k in range(r_minus_1):
        if at_max[k]:
            continue
        if not at_min[k]:
            out[k] = 1.0
            continue
        lo, hi = 1.0, float(log10_d_max)  # bound at lo, not at hi
        while hi - lo > resolution / 2:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if bound(mid)[k] else (lo, mid)
        out[k] = min(1.0 + math.ceil((hi - 1.0) / resolution) * resolution, log10_d_max)
    return out


def diverges_at_start(eta, lambda_1, sigma1_X0):  # noqa: N803
    """Whether GD is predicted to diverge from its first steps: ``eta sigma_1^2(X_0) > 2 +
    eta lambda_1``.

    Along the top singular direction of X_0, ``sigma <- sigma (1 + eta (lambda - sigma^2))``
    (the scalar model, lambda <= lambda_1 the eigenvalue in that direction); the factor is
    below -1 once ``eta sigma^2 > 2 + eta lambda``, so sigma grows every step from then on
    until ``eta sigma^2 >= 3 + eta lambda_1``, the engine's divergence status. A prediction of
    the scalar model (stricter than Theorem 6's sufficient condition
    ``sigma_1(X_0) <= 1 / sqrt(3 eta)``, :func:`mfsim.theory.divergence_limit_sigma1`);
    checked against ``mfsim.simulate`` on both sides in ``tests/test_small_signal.py``.
    Elementwise.
    """
    return eta * np.square(sigma1_X0) > 2.0 + eta * lambda_1


def sigma1_initial(varpi, d, r):
    """Predicted sigma_1(X_0) of ``X_0 = varpi N_0`` (N_0 i.i.d. N(0, 1/d), d x r):
    ``varpi (1 + sqrt(r / d))``, the largest singular value of a tall Gaussian matrix
    (Marchenko-Pastur edge; fluctuations of order ``varpi d^(-2/3)``). Elementwise."""
    return varpi * (1.0 + np.sqrt(np.asarray(r, dtype=float) / np.asarray(d, dtype=float)))


#: Dimension at which :func:`signal_levels` builds a spectrum (only its top eigenvalues and the
#: bulk's levels as fractions of d are used).
REFERENCE_D = 10**6
#: Flat levels a bulk ramp is split into by :func:`signal_levels` (the ``staircase`` family's
#: default; the linear bulk at d <= 10^5, not beyond: docs/transition.md).
RAMP_LEVELS = 32


def signal_levels(family: str, r: int, kappa=None, **params):
    """The top r eigenvalues and the bulk level the signals compete with, for a family.

    Parameters
    ----------
    family : str
        A family of :func:`mfsim.spectra.spectrum`.
    r : int
        Rank.
    kappa : float, optional
        Condition number (families that take one).
    **params
        The family's parameters (``lambda_1``, ``bulk_bottom``, ``levels``, ``eigenvalues``).

    Returns
    -------
    tuple or None
        ``(top, level)``: lambda_1..lambda_r (tuple of float) and the saturation level of the
        bulk taken as flat levels (a ramp split into :data:`RAMP_LEVELS` equal-count levels, as
        the ``staircase`` family does), built at d = :data:`REFERENCE_D` (a custom spectrum at
        its own d); None when the spectrum cannot be built, no level holds r rows, or some
        lambda_k <= the level (no signal to rise).
    """
    from mfsim.spectra import SpectrumError, spectrum

    d = None if family == "custom" else REFERENCE_D
    try:
        spec = spectrum(family, d, r=r, kappa=kappa, **params)
        level = bulk_of(spec, RAMP_LEVELS).saturation_level(r)
    except (SpectrumError, ValueError, TypeError):
        return None
    top = tuple(float(v) for v in spec.top(r))
    if min(top) <= level:
        return None
    return top, float(level)
