"""Scaling of stage times with the dimension d: fits, bootstrap intervals and verdicts.

For every group of sweep grid points that differ only in ``d`` (and for every signal index
``k`` or accuracy level ``eps`` of the quantity) the seeds are replicates, and three models of a
stage time ``y`` as a function of ``d`` are fitted:

* ``const``: ``y = m``,
* ``log``:   ``y = a + b log d``,
* ``power``: ``y = c d^alpha`` (least squares of ``log y`` on ``log d``).

Intervals come from a bootstrap over seeds within each ``d``; models are compared by
leave-one-d-out cross-validated prediction error; a documented rule turns this into a verdict on
the paper's Transition Assumption ``t_k^* = O(log d)``. See ``docs/scaling.md``.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "MODELS",
    "STAGE_QUANTITIES",
    "VERDICTS",
    "VERDICT_RULE",
    "classify_runs",
    "fit_all",
    "fit_quantities",
    "fit_scaling",
    "fits_for",
    "stage_table",
]

#: Models in parsimony order (ties in the cross-validated error go to the earlier model).
MODELS = ("const", "log", "power")
N_PARAMETERS = {"const": 1, "log": 2, "power": 2}

#: Stage quantities of the sweep Dataset (float step numbers, NaN = not reached).
STAGE_QUANTITIES = ("t_k_star", "escape", "plateau", "rise", "learned", "t_eps")
#: Quantities that are only defined for ``k < r`` (they involve signal ``k + 1``).
BELOW_R_QUANTITIES = frozenset({"t_k_star", "escape", "plateau"})
BOUND_FLAG_SUFFIX = "_bound_dominated"
RUN_DIMS = ("d", "seed")
PER_STEP_DIMS = ("step", "heatmap_step")
CURVE_VARS = ("curve", "curve_lo", "curve_hi")
#: Separator between quantity and variable name in :func:`fit_all` output.
SEP = "__"

STATUS_NO_RUN = -1
STATUS_DIVERGED = (2, 3)  # diverged, nonfinite

VERDICT_FASTER = "grows faster than log d"
VERDICT_DECREASING = "decreases with d"
VERDICT_LOG = "consistent with O(log d)"
VERDICT_FLAT = "no detectable growth with d"
VERDICT_INCONCLUSIVE = "inconclusive"
VERDICT_NOT_ENOUGH = "not enough data"
VERDICT_UNDEFINED = "not defined"
VERDICT_NO_RUNS = "no runs"
VERDICTS = (
    VERDICT_FASTER,
    VERDICT_DECREASING,
    VERDICT_LOG,
    VERDICT_FLAT,
    VERDICT_INCONCLUSIVE,
    VERDICT_NOT_ENOUGH,
    VERDICT_UNDEFINED,
    VERDICT_NO_RUNS,
)

#: The verdict rule, in the order it is applied (also shown in the HTML report).
VERDICT_RULE = (
    f'"{VERDICT_NO_RUNS}" if the group has no runs; "{VERDICT_UNDEFINED}" if the quantity does '
    "not exist for this k (k > r; k = r for t_k_star, escape, plateau)",
    f'"{VERDICT_NOT_ENOUGH}" if fewer than min_d distinct d values have at least min_seeds '
    f'reached runs (only those d values enter the fits); "{VERDICT_INCONCLUSIVE}" if no model '
    "could be cross-validated",
    "preferred model = lowest leave-one-d-out CV RMSE (exact ties to the simpler: const, log, "
    "power); it is decisive if, for every other model, the bootstrap interval of its CV RMSE "
    "minus the preferred model's lies above 0",
    f'"{VERDICT_FASTER}" if power is preferred, decisive, and the interval of alpha lies above '
    f'0; "{VERDICT_DECREASING}" if power is preferred, decisive, and the interval of alpha lies '
    "below 0",
    f'"{VERDICT_FLAT}" if the interval of the log slope b covers 0 and const is preferred or '
    "the preferred model is not decisive",
    f'"{VERDICT_LOG}" otherwise',
)

_PARAMETERS = ("log_intercept", "log_slope", "power_prefactor", "power_exponent", "const_mean")
_PARAMETER_ATTRS = {
    "log_intercept": ("intercept a of y = a + b log d", "steps"),
    "log_slope": ("slope b of y = a + b log d", "steps"),
    "power_prefactor": ("prefactor c of y = c d^alpha", "steps"),
    "power_exponent": ("exponent alpha of y = c d^alpha", "1"),
    "const_mean": ("mean m of y = m", "steps"),
}
_MODEL_VARS = {
    "cv_rmse": "leave-one-d-out cross-validated RMSE on the y scale",
    "cv_rmse_lo": "lower bootstrap percentile bound of cv_rmse",
    "cv_rmse_hi": "upper bootstrap percentile bound of cv_rmse",
    "cv_excess": "cv_rmse minus cv_rmse of the preferred model",
    "cv_excess_lo": "lower bootstrap percentile bound of cv_excess (paired over replicates)",
    "cv_excess_hi": "upper bootstrap percentile bound of cv_excess (paired over replicates)",
    "cv_win_fraction": "fraction of bootstrap replicates in which the model has the lowest cv_rmse",
    "r2": "coefficient of determination on the model's fitting scale (y; log y for power)",
    "resid_sd": "residual standard deviation on the model's fitting scale",
    "aic": "AIC on the y scale (Gaussian errors; lognormal for power); secondary",
}
_COUNTS = ("n_runs", "n_reached", "n_not_reached", "n_bound_dominated", "n_undefined", "n_diverged")
_COUNT_DESCRIPTIONS = {
    "n_runs": "existing runs (status != -1)",
    "n_reached": "runs with a finite value that enters the fit (not bound-dominated)",
    "n_not_reached": "existing runs where the stage was not reached (NaN); not fitted",
    "n_bound_dominated": "t_k_star values where the geometric bound dominates; not fitted",
    "n_undefined": "existing runs where the quantity is not defined for this k",
    "n_diverged": "existing runs with status diverged (2) or nonfinite (3); informational",
}


# --------------------------------------------------------------------------------------------
# Classification of runs
# --------------------------------------------------------------------------------------------
#: count variable -> per-run flag of :func:`classify_runs` (counted over seeds)
_RUN_COUNTS = {
    "n_runs": "exists",
    "n_reached": "reached",
    "n_not_reached": "not_reached",
    "n_bound_dominated": "bound_dominated",
    "n_undefined": "undefined",
    "n_diverged": "diverged",
}


def _as_bool(da: xr.DataArray) -> xr.DataArray:
    """Boolean view of a flag variable; missing (NaN/None) entries become False."""
    if da.dtype == bool:
        return da
    if np.issubdtype(da.dtype, np.number):
        return da.fillna(0) != 0
    values = np.asarray(da.values, dtype=object)
    flat = [bool(v) if not pd.isna(v) else False for v in values.ravel()]
    return da.copy(data=np.array(flat, dtype=bool).reshape(values.shape))


def _undefined_mask(value: xr.DataArray, quantity: str) -> xr.DataArray:
    """True where the quantity does not exist for signal index ``k`` (given rank ``r``)."""
    if "k" not in value.dims or "r" not in value.coords:
        return xr.DataArray(False)
    k, r = value["k"], value["r"]
    return (k >= r) if quantity in BELOW_R_QUANTITIES else (k > r)


def classify_runs(ds: xr.Dataset, quantity: str) -> xr.Dataset:
    """Classify every (grid point, seed, k/eps) entry of a stage quantity.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset (``docs/design.md``) with the stage variable ``quantity`` having dims
        ``d`` and ``seed``; ``status`` and, for ``t_k_star``, ``t_k_star_bound_dominated`` are
        used when present.
    quantity : str
        Name of the stage variable, e.g. ``"escape"``.

    Returns
    -------
    xarray.Dataset
        With the dims of ``ds[quantity]``: ``value`` (float) and boolean masks ``exists``
        (status != -1), ``reached`` (finite, defined, not bound-dominated: the values that are
        fitted), ``not_reached`` (NaN among existing defined runs), ``bound_dominated``,
        ``undefined`` (existing runs where the quantity is not defined for this k) and
        ``diverged`` (status 2 or 3).

    Notes
    -----
    Among existing runs the masks ``reached``, ``not_reached``, ``bound_dominated`` and
    ``undefined`` partition the entries, so
    ``n_runs = n_reached + n_not_reached + n_bound_dominated + n_undefined``.
    ``diverged`` overlaps with them: a stage reached before a run diverged is a genuine stage
    time and is kept. A quantity is undefined for ``k > r`` and, for ``t_k_star``, ``escape``
    and ``plateau`` (which involve signal ``k + 1``), for ``k >= r``. Without a ``status``
    variable every grid cell counts as an existing run.
    """
    if quantity not in ds.data_vars:
        raise KeyError(f"{quantity!r} is not a variable of the Dataset ({sorted(ds.data_vars)})")
    value = ds[quantity]
    missing = [dim for dim in RUN_DIMS if dim not in value.dims]
    if missing:
        raise ValueError(f"{quantity!r} lacks the run dims {missing}; dims are {value.dims}")
    per_step = [dim for dim in PER_STEP_DIMS if dim in value.dims]
    if per_step:
        raise ValueError(f"{quantity!r} is a per-step variable (dims {per_step}), not a stage")
    value = value.compute().astype(float)
    finite = np.isfinite(value)

    if "status" in ds.data_vars:
        status = ds["status"].compute()
        exists = status.notnull() & (status != STATUS_NO_RUN)
        diverged = exists & status.isin(list(STATUS_DIVERGED))
    else:
        exists = xr.DataArray(True)
        diverged = xr.DataArray(False)

    flag_name = quantity + BOUND_FLAG_SUFFIX
    if flag_name in ds.data_vars:
        bound = _as_bool(ds[flag_name].compute()) & finite
    else:
        if quantity == "t_k_star":
            warnings.warn(
                f"{flag_name!r} is missing: no t_k_star value is treated as bound-dominated",
                stacklevel=2,
            )
        bound = xr.DataArray(False)

    undefined = _undefined_mask(value, quantity)
    defined_run = exists & ~undefined
    masks = {
        "exists": exists,
        "reached": defined_run & finite & ~bound,
        "not_reached": defined_run & ~finite,
        "bound_dominated": defined_run & bound,
        "undefined": exists & undefined,
        "diverged": diverged,
    }
    orphan = int((finite & ~exists).sum())
    if orphan:
        warnings.warn(
            f"{orphan} finite {quantity!r} values sit in grid cells without a run "
            "(status == -1); they are ignored",
            stacklevel=2,
        )
    out = xr.Dataset({"value": value})
    for name, mask in masks.items():
        out[name] = xr.broadcast(mask, value)[0].transpose(*value.dims)
    return out


# --------------------------------------------------------------------------------------------
# Least squares fits (vectorized along leading axes)
# --------------------------------------------------------------------------------------------
def _line_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line ``y = intercept + slope x`` along the last axis, 0/1 weights ``w``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sw = w.sum(-1)
        mean_x = (w * x).sum(-1) / sw
        mean_y = (w * y).sum(-1) / sw
        dx = x - mean_x[..., None]
        sxx = (w * dx * dx).sum(-1)
        sxy = (w * dx * (y - mean_y[..., None])).sum(-1)
        slope = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)
        intercept = mean_y - slope * mean_x
    return intercept, slope


def _fit_parameters(log_d: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Point estimates of the three models along the last axis (points)."""
    positive = y > 0
    log_y = np.log(np.where(positive, y, 1.0))
    log_intercept, log_slope = _line_fit(log_d, y, np.ones_like(y))
    power_log_prefactor, power_exponent = _line_fit(log_d, log_y, positive.astype(float))
    return {
        "log_intercept": log_intercept,
        "log_slope": log_slope,
        "power_prefactor": np.exp(power_log_prefactor),
        "power_exponent": power_exponent,
        "const_mean": y.mean(-1),
    }


def _predict(params: dict[str, np.ndarray], model: str, log_d: np.ndarray) -> np.ndarray:
    """Model prediction on the original scale; parameter arrays broadcast against ``log_d``."""
    if model == "const":
        return params["const_mean"] + 0.0 * log_d
    if model == "log":
        return params["log_intercept"] + params["log_slope"] * log_d
    return params["power_prefactor"] * np.exp(params["power_exponent"] * log_d)


def _goodness(log_d: np.ndarray, y: np.ndarray, params: dict) -> dict[str, dict[str, float]]:
    """R^2 and residual SD (each model on its own scale) and Gaussian AIC on the y scale."""
    n = y.size
    out = {"r2": {}, "resid_sd": {}, "aic": {}}
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        for model in ("const", "log"):
            ss_res = float(np.sum((y - _predict(params, model, log_d)) ** 2))
            p = N_PARAMETERS[model]
            out["r2"][model] = 1.0 - ss_res / ss_tot if ss_tot > 0 else np.nan
            out["resid_sd"][model] = np.sqrt(ss_res / (n - p)) if n > p else np.nan
            out["aic"][model] = _gaussian_aic(ss_res, n, p)
        positive = y > 0
        log_y, x = np.log(y[positive]), log_d[positive]
        n_pos = log_y.size
        pred = np.log(params["power_prefactor"]) + params["power_exponent"] * x
        ss_res = float(np.sum((log_y - pred) ** 2))
        ss_tot_log = float(np.sum((log_y - log_y.mean()) ** 2)) if n_pos else np.nan
        out["r2"]["power"] = 1.0 - ss_res / ss_tot_log if ss_tot_log > 0 else np.nan
        out["resid_sd"]["power"] = np.sqrt(ss_res / (n_pos - 2)) if n_pos > 2 else np.nan
        # lognormal likelihood of y = Gaussian likelihood of log y times the Jacobian 1/y
        out["aic"]["power"] = (
            _gaussian_aic(ss_res, n, 2) + 2.0 * float(np.sum(log_y)) if n_pos == n else np.nan
        )
    return out


def _gaussian_aic(ss_res: float, n: int, n_params: int) -> float:
    """AIC of a Gaussian model with ML variance ``ss_res / n`` (variance counted as parameter)."""
    if n <= 0 or not ss_res > 0:
        return np.nan
    return n * np.log(2.0 * np.pi * ss_res / n) + n + 2.0 * (n_params + 1)


def _cross_validate(x: np.ndarray, y: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Leave-one-d-out CV RMSE on the original y scale, batched over leading replicates.

    Parameters
    ----------
    x, y : numpy.ndarray
        Shape (n_rep, n): ``log d`` and the values of each replicate.
    blocks : numpy.ndarray
        Shape (n,): the d index (fold) of each point position; the same for all replicates.

    Returns
    -------
    numpy.ndarray
        Shape (n_rep, len(MODELS)). Each fold holds out all points of one d, fits on the others
        and predicts the held-out points; ``RMSE = sqrt(mean over folds of the fold MSE)``, so
        every d counts equally. NaN if a model cannot be fitted in some fold or there are fewer
        than 2 folds.
    """
    folds = np.unique(blocks)
    rmse = np.full((x.shape[0], len(MODELS)), np.nan)
    if folds.size < 2:
        return rmse
    mse = np.empty((x.shape[0], len(MODELS), folds.size))
    for j, fold in enumerate(folds):
        held = blocks == fold
        params = _fit_parameters(x[:, ~held], y[:, ~held])
        params = {name: value[:, None] for name, value in params.items()}
        for m, model in enumerate(MODELS):
            pred = _predict(params, model, x[:, held])
            mse[:, m, j] = np.mean((y[:, held] - pred) ** 2, axis=-1)
    return np.sqrt(mse.mean(axis=-1))


def _preferred_index(cv_rmse: np.ndarray) -> np.ndarray:
    """Index of the model with the lowest CV RMSE along the last axis (-1 if none finite).

    Exact ties (relative 1e-12) go to the simpler model, i.e. the earlier one in ``MODELS``.
    """
    finite = np.isfinite(cv_rmse)
    filled = np.where(finite, cv_rmse, np.inf)
    best = filled.min(axis=-1, keepdims=True)
    ties = finite & (filled <= best * (1.0 + 1e-12))
    return np.where(finite.any(axis=-1), np.argmax(ties, axis=-1), -1)


def _covers_zero(interval: tuple[float, float]) -> bool:
    return bool(interval[0] <= 0.0 <= interval[1])


def _verdict(
    n_d_used: int, min_d: int, preferred: str | None, decisive: bool, ci: dict[str, tuple]
) -> str:
    """Apply :data:`VERDICT_RULE` to a group that has runs and where the quantity is defined."""
    if n_d_used < min_d:
        return VERDICT_NOT_ENOUGH
    if preferred is None:
        return VERDICT_INCONCLUSIVE
    alpha_lo, alpha_hi = ci["power_exponent"]
    if preferred == "power" and decisive and alpha_lo > 0:
        return VERDICT_FASTER
    if preferred == "power" and decisive and alpha_hi < 0:
        return VERDICT_DECREASING
    if _covers_zero(ci["log_slope"]) and (preferred == "const" or not decisive):
        return VERDICT_FLAT
    return VERDICT_LOG


# --------------------------------------------------------------------------------------------
# One group
# --------------------------------------------------------------------------------------------
def _percentiles(a: np.ndarray, q: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``numpy.nanpercentile``, with the fast ``numpy.percentile`` when there is no NaN."""
    if np.isnan(a).any():
        return np.nanpercentile(a, q, axis=axis)
    return np.percentile(a, q, axis=axis)


def _bootstrap_indices(sizes: list[int], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (n_boot, sum(sizes)) resampling with replacement within each block (one d)."""
    idx = np.empty((n_boot, int(sum(sizes))), dtype=np.intp)
    start = 0
    for size in sizes:
        idx[:, start : start + size] = start + rng.integers(0, size, size=(n_boot, size))
        start += size
    return idx


def _fit_group(
    log_d: np.ndarray,
    values: np.ndarray,
    reached: np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int,
    confidence: float,
    min_seeds: int,
    curve_log_d: np.ndarray,
) -> dict:
    """Fit one group: ``values``/``reached`` have shape (n_d, n_seed), ``log_d`` shape (n_d,)."""
    n_reached = reached.sum(axis=1)
    used = n_reached >= min_seeds
    result: dict = {"used_in_fit": used, "n_d_used": int(used.sum())}
    levels = np.flatnonzero(used)
    if levels.size == 0:
        return result
    ys = [values[i, reached[i]] for i in levels]
    blocks = np.concatenate([np.full(y_i.size, i) for i, y_i in zip(levels, ys, strict=True)])
    x = log_d[blocks]
    y = np.concatenate(ys)

    result["n_nonpositive"] = int(np.sum(y <= 0))
    point = _fit_parameters(x, y)
    idx = _bootstrap_indices([y_i.size for y_i in ys], n_boot, rng)
    boot = _fit_parameters(x[idx], y[idx])
    q = 100.0 * np.array([(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in _PARAMETERS:
            result[name] = float(point[name])
            result[name + "_lo"], result[name + "_hi"] = _percentiles(boot[name], q)
        curves = {}
        boot_columns = {name: value[:, None] for name, value in boot.items()}
        for model in MODELS:
            lo, hi = _percentiles(_predict(boot_columns, model, curve_log_d[None, :]), q, axis=0)
            curves[model] = (_predict(point, model, curve_log_d), lo, hi)

        cv = _cross_validate(x[None, :], y[None, :], blocks)[0]
        cv_boot = _cross_validate(x[idx], y[idx], blocks)
        best = int(_preferred_index(cv))
        winners = _preferred_index(cv_boot)
        result["cv_rmse"] = cv
        result["cv_rmse_lo"], result["cv_rmse_hi"] = _percentiles(cv_boot, q, axis=0)
        result["cv_win_fraction"] = np.array([np.mean(winners == m) for m in range(len(MODELS))])
        excess = np.full((3, len(MODELS)), np.nan)
        if best >= 0:
            excess[0] = cv - cv[best]
            excess[1:] = _percentiles(cv_boot - cv_boot[:, [best]], q, axis=0)
            others = [m for m in range(len(MODELS)) if m != best]
            result["decisive"] = bool(np.all(excess[1, others] > 0))
        else:
            result["decisive"] = False
        result["cv_excess"], result["cv_excess_lo"], result["cv_excess_hi"] = excess
    result["preferred"] = MODELS[best] if best >= 0 else None
    result["curves"] = curves
    result["goodness"] = _goodness(x, y, point)
    return result


def _group_rng(seed: int, key: tuple) -> np.random.Generator:
    """Generator for one group: depends on ``seed`` and the group's coordinates only."""
    return np.random.default_rng([int(seed), zlib.crc32(repr(key).encode())])


def _scalar(value):
    return value.item() if hasattr(value, "item") else value


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def fit_scaling(
    ds: xr.Dataset,
    quantity: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    min_d: int = 3,
    min_seeds: int = 2,
    confidence: float = 0.95,
    n_curve: int = 60,
) -> xr.Dataset:
    """Fit stage time versus d for every group of grid points that differ only in d.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset (``docs/design.md``). ``ds[quantity]`` must have dims ``d`` and ``seed``;
        its other dims (``kappa, varpi, varpi_exponent, eta, r`` and ``k`` or ``eps``) define
        the groups.
    quantity : str
        Stage variable to fit, e.g. ``"t_k_star"``, ``"escape"``, ``"t_eps"``.
    n_boot : int, default 1000
        Bootstrap replicates.
    seed : int, default 0
        Seed of the bootstrap; each group uses ``numpy.random.default_rng([seed,
        crc32(group coordinates)])``, so results are reproducible and independent of which
        other groups are in ``ds``.
    min_d : int, default 3
        Minimum number of usable d values (below: verdict ``"not enough data"``).
    min_seeds : int, default 2
        A d value is usable, and enters the fits, if it has at least this many reached runs.
    confidence : float, default 0.95
        Level of the percentile bootstrap intervals.
    n_curve : int, default 60
        Number of log-spaced d values (``d_curve``) on which fitted curves and their pointwise
        bootstrap bands are stored (for plots).

    Returns
    -------
    xarray.Dataset
        Dims: the group dims, ``model`` (``const, log, power``), ``d``, ``d_curve``.
        Parameters ``log_intercept, log_slope, power_prefactor, power_exponent,
        const_mean`` with ``_lo``/``_hi`` interval bounds; per model
        ``cv_rmse`` (+ ``_lo``/``_hi``), ``cv_excess`` (+ ``_lo``/``_hi``),
        ``cv_win_fraction``, ``r2``, ``resid_sd``, ``aic``;
        ``curve``, ``curve_lo``, ``curve_hi`` (model, d_curve); ``preferred_model``,
        ``verdict``, ``caveat`` (str), ``decisive`` (bool), ``n_d_used``; per (group, d) the
        counts ``n_runs, n_reached, n_not_reached, n_bound_dominated, n_undefined,
        n_diverged`` and the bool ``used_in_fit``. The attrs record the quantity and all
        settings.

    Notes
    -----
    With ``x = log d`` and the reached values ``y_{ij}`` (d index ``i``, seed ``j``) of the d
    values in use, the models are fitted by ordinary least squares on all points:

    * log: ``y = a + b x``, minimising ``sum (y - a - b x)^2``;
    * power: ``log y = log c + alpha x`` on the points with ``y > 0``, i.e. ``y = c d^alpha``
      (a median curve under multiplicative noise; no retransformation/smearing correction,
      see ``docs/scaling.md``);
    * const: ``y = m`` with ``m`` the mean.

    **Bootstrap.** Seeds are replicates: each replicate resamples, for every d separately, the
    ``n_i`` reached values of that d with replacement (so every d keeps its ``n_i`` points) and
    refits all models. Intervals are percentile intervals
    ``[q_{(1-confidence)/2}, q_{(1+confidence)/2}]`` of the replicates; curve bands are
    pointwise percentiles of the replicate curves. With few seeds per d percentile intervals
    are somewhat too narrow (the resampling variance carries a factor ``(n_i - 1) / n_i``).

    **Goodness of fit.** ``r2`` is ``1 - SS_res / SS_tot`` on the scale the model was fitted
    on (y for log, log y for power; 0 for const by definition); ``resid_sd`` is
    ``sqrt(SS_res / (n - p))`` on the same scale.

    **Model comparison.** Leave-one-d-out cross validation: for each d in use, fit on the other
    d values, predict the held-out seeds at that d on the original y scale (power predicts
    ``c d^alpha``) and take the fold MSE; ``cv_rmse = sqrt(mean over folds of MSE)``, every d
    weighted equally. This measures what the Transition Assumption is about, predicting the
    stage time at an unseen d. The same CV is repeated on every bootstrap replicate (folds are
    whole d values, so resampled duplicates never straddle training and test set), giving
    intervals for ``cv_rmse``, for the paired difference ``cv_excess = cv_rmse(model) -
    cv_rmse(preferred)`` and the share of replicates each model wins (``cv_win_fraction``).
    The preferred model is ``decisive`` if ``cv_excess_lo > 0`` for every other model.

    AIC is not used to choose: the power model is fitted to ``log y``, and a likelihood of
    ``log y`` is not comparable with a likelihood of ``y``. The stored ``aic`` is secondary
    information, all on the y scale: Gaussian errors for const and log,
    ``n log(2 pi SS_res / n) + n + 2 (p + 1)``, and lognormal errors for power, the log-scale
    AIC plus the Jacobian term ``2 sum log y`` (NaN if some ``y <= 0``); it depends on these
    error models, CV does not.

    **Verdict.** Applied in this order (:data:`VERDICT_RULE`):

    1. ``"no runs"``; ``"not defined"`` (k > r; k = r for t_k_star, escape, plateau);
    2. ``"not enough data"`` if fewer than ``min_d`` d values have ``>= min_seeds`` reached
       runs; ``"inconclusive"`` if no model could be cross-validated;
    3. ``"grows faster than log d"`` if power is preferred, decisive and ``alpha_lo > 0``;
       ``"decreases with d"`` if power is preferred, decisive and ``alpha_hi < 0``;
    4. ``"no detectable growth with d"`` if ``b_lo <= 0 <= b_hi`` and const is preferred or
       the preferred model is not decisive;
    5. ``"consistent with O(log d)"`` otherwise (log preferred; power preferred but not
       decisive or with ``alpha`` covering 0; const preferred with ``b`` excluding 0).

    Decisiveness is required for "grows faster than log d" because ``a + b log d`` has a
    positive log-log slope (``alpha`` excludes 0 for any growing data), so "power has the
    lower CV error" alone flips with noise: on noisy synthetic log-d data the plain argmin
    picks power in 18-26% of the data sets, the rule above in none of 600 (see
    ``docs/scaling.md``). The verdict describes the sampled range of d only: a power law with
    a small exponent and ``a + b log d`` can be indistinguishable over a few decades.

    **Missing values.** NaN (not reached), bound-dominated ``t_k_star`` values (flag
    ``t_k_star_bound_dominated``) and d values with fewer than ``min_seeds`` reached runs are
    never fitted and never filled; they are counted per (group, d) and summarised in
    ``caveat``. Not-reached runs are censored observations (the stage may come after
    ``max_steps``), so the fit describes the reached runs and is biased low where they occur.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    if min_d < 2 or min_seeds < 1:
        raise ValueError("need min_d >= 2 and min_seeds >= 1")

    runs = classify_runs(ds, quantity).sortby("d")
    group_dims = [dim for dim in runs["value"].dims if dim not in RUN_DIMS]
    runs = runs.transpose(*group_dims, *RUN_DIMS)
    d_values = np.asarray(runs["d"].values, dtype=float)
    if np.any(d_values <= 0):
        raise ValueError("d values must be positive")
    log_d = np.log(d_values)
    curve_d = np.geomspace(d_values.min(), d_values.max(), n_curve)
    curve_log_d = np.log(curve_d)

    counts = xr.Dataset(
        {name: runs[flag].sum("seed") for name, flag in _RUN_COUNTS.items()}
    ).astype(np.int64)

    group_shape = tuple(runs.sizes[dim] for dim in group_dims)
    n_groups = int(np.prod(group_shape, dtype=np.int64))
    n_d, n_seed = d_values.size, runs.sizes["seed"]
    values = runs["value"].values.reshape(n_groups, n_d, n_seed)
    reached = runs["reached"].values.reshape(n_groups, n_d, n_seed)
    per_d = {name: counts[name].values.reshape(n_groups, n_d) for name in _COUNTS}
    n_runs = per_d["n_runs"].sum(axis=1)
    n_undefined = per_d["n_undefined"].sum(axis=1)

    n_models = len(MODELS)
    arrays = {name: np.full(n_groups, np.nan) for p in _PARAMETERS for name in _bounds(p)}
    for name in _MODEL_VARS:
        arrays[name] = np.full((n_groups, n_models), np.nan)
    for name in CURVE_VARS:
        arrays[name] = np.full((n_groups, n_models, n_curve), np.nan)
    used_in_fit = np.zeros((n_groups, n_d), dtype=bool)
    n_d_used = np.zeros(n_groups, dtype=np.int64)
    decisive = np.zeros(n_groups, dtype=bool)
    preferred, verdicts, caveats = [], [], []

    coords = [np.asarray(runs[dim].values) for dim in group_dims]
    for g in range(n_groups):
        position = np.unravel_index(g, group_shape) if group_dims else ()
        key = tuple(
            (dim, _scalar(c[i])) for dim, c, i in zip(group_dims, coords, position, strict=True)
        )
        if n_runs[g] == 0 or n_undefined[g] == n_runs[g]:
            preferred.append("none")
            verdicts.append(VERDICT_NO_RUNS if n_runs[g] == 0 else VERDICT_UNDEFINED)
            caveats.append("")
            continue
        res = _fit_group(
            log_d,
            values[g],
            reached[g],
            rng=_group_rng(seed, key),
            n_boot=n_boot,
            confidence=confidence,
            min_seeds=min_seeds,
            curve_log_d=curve_log_d,
        )
        used_in_fit[g] = res["used_in_fit"]
        n_d_used[g] = res["n_d_used"]
        caveats.append(
            _caveat(
                per_d["n_runs"][g],
                per_d["n_not_reached"][g],
                per_d["n_bound_dominated"][g],
                used_in_fit[g],
                min_seeds,
                res.get("n_nonpositive", 0),
            )
        )
        if "cv_rmse" not in res:
            preferred.append("none")
            verdicts.append(VERDICT_NOT_ENOUGH)
            continue
        for p in _PARAMETERS:
            for name in _bounds(p):
                arrays[name][g] = res[name]
        for name in _MODEL_VARS:
            source = res["goodness"][name] if name in ("r2", "resid_sd", "aic") else res[name]
            arrays[name][g] = [source[m] for m in MODELS] if isinstance(source, dict) else source
        for m, model in enumerate(MODELS):
            for name, curve in zip(CURVE_VARS, res["curves"][model], strict=True):
                arrays[name][g, m] = curve
        ci = {p: (res[p + "_lo"], res[p + "_hi"]) for p in _PARAMETERS}
        verdict = _verdict(res["n_d_used"], min_d, res["preferred"], res["decisive"], ci)
        enough = verdict != VERDICT_NOT_ENOUGH and res["preferred"] is not None
        preferred.append(res["preferred"] if enough else "none")
        decisive[g] = res["decisive"] and enough
        verdicts.append(verdict)

    arrays.update(
        used_in_fit=used_in_fit,
        n_d_used=n_d_used,
        decisive=decisive,
        preferred_model=preferred,
        verdict=verdicts,
        caveat=caveats,
    )
    out = _assemble(runs, group_dims, counts, arrays, curve_d)
    out.attrs = {
        "quantity": quantity,
        "models": ", ".join(MODELS),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "confidence": float(confidence),
        "min_d": int(min_d),
        "min_seeds": int(min_seeds),
        "bootstrap": "resample seeds with replacement within each d; percentile intervals",
        "model_selection": "leave-one-d-out cross-validated RMSE on the original scale "
        "(AIC is not comparable between the log-y power fit and the y-scale fits)",
        "verdict_rule": "\n".join(f"{i + 1}. {rule}" for i, rule in enumerate(VERDICT_RULE)),
    }
    return out


def _bounds(parameter: str) -> tuple[str, str, str]:
    return parameter, parameter + "_lo", parameter + "_hi"


def _caveat(
    n_runs: np.ndarray,
    n_not: np.ndarray,
    n_bound: np.ndarray,
    used: np.ndarray,
    min_seeds: int,
    n_nonpositive: int,
) -> str:
    """Short text on what was excluded from the fit of one group (empty if nothing)."""
    parts = []
    unused = int(np.sum((n_runs > 0) & ~used))
    if n_not.sum():
        parts.append(f"{int(n_not.sum())} runs did not reach the stage (censored, not fitted)")
    if n_bound.sum():
        parts.append(f"{int(n_bound.sum())} bound-dominated values excluded")
    if unused:
        parts.append(f"{unused} d values with < {min_seeds} reached runs not fitted")
    if n_nonpositive:
        parts.append(f"{n_nonpositive} values <= 0 not used by the power fit")
    return "; ".join(parts)


def _assemble(
    runs: xr.Dataset,
    group_dims: list[str],
    counts: xr.Dataset,
    arrays: dict[str, np.ndarray],
    curve_d: np.ndarray,
) -> xr.Dataset:
    """Reshape the per-group arrays (leading axis: flattened groups) into the output Dataset."""
    gdims = tuple(group_dims)
    group_shape = tuple(runs.sizes[dim] for dim in group_dims)
    used_in_fit, n_d_used, decisive = (arrays[k] for k in ("used_in_fit", "n_d_used", "decisive"))
    preferred, verdicts, caveats = (arrays[k] for k in ("preferred_model", "verdict", "caveat"))
    coords = {dim: runs[dim].values for dim in group_dims}
    coords.update({"model": np.array(MODELS), "d": runs["d"].values, "d_curve": curve_d})
    data = {}
    for p in _PARAMETERS:
        long_name, units = _PARAMETER_ATTRS[p]
        data[p] = (gdims, arrays[p].reshape(group_shape), {"long_name": long_name, "units": units})
        for suffix, side in (("_lo", "lower"), ("_hi", "upper")):
            data[p + suffix] = (
                gdims,
                arrays[p + suffix].reshape(group_shape),
                {"long_name": f"{side} bootstrap percentile bound of {p}", "units": units},
            )
    for name, description in _MODEL_VARS.items():
        data[name] = (
            gdims + ("model",),
            arrays[name].reshape(group_shape + (len(MODELS),)),
            {"description": description},
        )
    for name in ("curve", "curve_lo", "curve_hi"):
        data[name] = (
            gdims + ("model", "d_curve"),
            arrays[name].reshape(group_shape + (len(MODELS), curve_d.size)),
            {
                "description": "fitted curve (point estimate) and pointwise bootstrap bounds",
                "units": "steps",
            },
        )
    n_d = runs.sizes["d"]
    data["used_in_fit"] = (
        gdims + ("d",),
        used_in_fit.reshape(group_shape + (n_d,)),
        {"description": "d value has >= min_seeds reached runs and enters the fits"},
    )
    data["n_d_used"] = (gdims, n_d_used.reshape(group_shape), {"long_name": "d values fitted"})
    data["decisive"] = (
        gdims,
        decisive.reshape(group_shape),
        {
            "description": "the preferred model beats every other model in CV RMSE by a margin "
            "whose bootstrap interval excludes 0 (cv_excess_lo > 0)"
        },
    )
    data["preferred_model"] = (
        gdims,
        np.array(preferred, dtype=str).reshape(group_shape),
        {"description": "model with the lowest CV RMSE ('none' if not applicable)"},
    )
    data["verdict"] = (
        gdims,
        np.array(verdicts, dtype=str).reshape(group_shape),
        {"description": "verdict on growth with d; rule in the Dataset attrs"},
    )
    out = xr.Dataset(data, coords=coords)
    for name in _COUNTS:
        out[name] = counts[name].transpose(*group_dims, "d")
        out[name].attrs = {"description": _COUNT_DESCRIPTIONS[name], "units": "1"}
    caveat = np.array(caveats, dtype=str).reshape(group_shape)
    out["caveat"] = (gdims, caveat, {"description": "what was excluded from the fit"})
    return out


def fit_quantities(fits: xr.Dataset) -> list[str]:
    """Quantities present in a :func:`fit_scaling` or :func:`fit_all` result."""
    if "quantity" in fits.attrs:
        return [fits.attrs["quantity"]]
    return [q for q in fits.attrs.get("quantities", "").split(", ") if q]


def fits_for(fits: xr.Dataset, quantity: str) -> xr.Dataset:
    """The :func:`fit_scaling`-style result of one quantity from a fit result.

    Parameters
    ----------
    fits : xarray.Dataset
        Output of :func:`fit_scaling` (returned as is if it is for ``quantity``) or of
        :func:`fit_all` (variables ``"<quantity>__<name>"``).
    quantity : str
        Stage quantity.

    Returns
    -------
    xarray.Dataset
        Variables without the prefix, only the coordinates they use, attrs of the fit.
    """
    if fits.attrs.get("quantity") == quantity:
        return fits
    prefix = quantity + SEP
    names = [name for name in fits.data_vars if str(name).startswith(prefix)]
    if not names:
        raise KeyError(f"no fit for {quantity!r}; available: {fit_quantities(fits)}")
    sub = fits[names].rename({name: name[len(prefix) :] for name in names})
    sub.attrs = {k: v for k, v in fits.attrs.items() if k != "quantities"}
    sub.attrs["quantity"] = quantity
    return sub


def fit_all(ds: xr.Dataset, quantities: Iterable[str] = STAGE_QUANTITIES, **kwargs) -> xr.Dataset:
    """Run :func:`fit_scaling` for several stage quantities and merge the results.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    quantities : iterable of str
        Stage variables to fit; names missing from ``ds`` are skipped with a warning and listed
        in the attr ``missing_quantities``.
    **kwargs
        Passed to :func:`fit_scaling` (``n_boot``, ``seed``, ``min_d``, ...).

    Returns
    -------
    xarray.Dataset
        One Dataset with variables ``"<quantity>__<name>"`` (e.g. ``escape__verdict``), because
        the quantities do not share dims (``t_eps`` has ``eps`` where the others have ``k``);
        a common ``quantity`` dim would broadcast each fit over the other's index. Attrs:
        ``quantities`` (comma separated) and the fit settings. Use :func:`fits_for` to get one
        quantity back. Strings are stored as fixed-width unicode, so the result can be written
        with ``to_netcdf``.

    Notes
    -----
    Every quantity is fitted exactly as :func:`fit_scaling` documents (same ``seed``; the
    bootstrap stream of a group depends on ``seed`` and the group coordinates only).
    """
    parts, missing = [], []
    for quantity in quantities:
        if quantity not in ds.data_vars:
            missing.append(quantity)
            continue
        fit = fit_scaling(ds, quantity, **kwargs)
        parts.append((quantity, fit.rename({v: f"{quantity}{SEP}{v}" for v in fit.data_vars})))
    if missing:
        warnings.warn(f"quantities not in the Dataset, not fitted: {missing}", stacklevel=2)
    if not parts:
        raise KeyError("none of the requested quantities is in the Dataset")
    merged = xr.merge(
        [part for _, part in parts], compat="no_conflicts", combine_attrs="override", join="outer"
    )
    attrs = {k: v for k, v in parts[0][1].attrs.items() if k != "quantity"}
    attrs["quantities"] = ", ".join(q for q, _ in parts)
    attrs["missing_quantities"] = ", ".join(missing)
    merged.attrs = attrs
    return merged


def stage_table(ds: xr.Dataset, quantities: Iterable[str] = STAGE_QUANTITIES) -> pd.DataFrame:
    """Median and IQR over seeds of each stage quantity, per grid point and k (or eps).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    quantities : iterable of str
        Stage variables (missing ones are skipped).

    Returns
    -------
    pandas.DataFrame
        Long format, one row per (quantity, grid point, k or eps): columns ``quantity``, the
        grid dims, ``d``, ``k`` and/or ``eps`` (NaN where not applicable), ``median``, ``q25``,
        ``q75``, ``iqr`` (over the reached, non-bound-dominated seeds), and the counts
        ``n_runs``, ``n_reached``, ``n_not_reached``, ``n_bound_dominated``, ``n_diverged``.

    Notes
    -----
    ``iqr = q75 - q25`` with linear-interpolation quantiles. Rows for grid cells without runs
    and for (k, r) where the quantity is not defined are omitted. Statistics are NaN if no seed
    reached the stage; the counts say why.
    """
    frames = []
    for quantity in quantities:
        if quantity not in ds.data_vars:
            continue
        runs = classify_runs(ds, quantity)
        kept = runs["value"].where(runs["reached"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            quartiles = kept.quantile([0.25, 0.5, 0.75], dim="seed", skipna=True)
        table = xr.Dataset(
            {
                "median": quartiles.sel(quantile=0.5, drop=True),
                "q25": quartiles.sel(quantile=0.25, drop=True),
                "q75": quartiles.sel(quantile=0.75, drop=True),
                **{name: runs[flag].sum("seed") for name, flag in _RUN_COUNTS.items()},
            }
        )
        table["iqr"] = table["q75"] - table["q25"]
        frame = table.to_dataframe().reset_index()
        frame = frame[(frame["n_runs"] > 0) & (frame["n_undefined"] == 0)]
        frame = frame.drop(columns="n_undefined")
        frame.insert(0, "quantity", quantity)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    stats = ["median", "q25", "q75", "iqr"]
    count_columns = ["n_runs", "n_reached", "n_not_reached", "n_bound_dominated", "n_diverged"]
    index = [c for c in ("d", "k", "eps") if c in out.columns]
    grid = [c for c in out.columns if c not in stats + count_columns + index + ["quantity"]]
    keys = ["quantity", *grid, *index]
    out = out[keys + stats + count_columns]
    order = {q: i for i, q in enumerate(dict.fromkeys(out["quantity"]))}
    out = out.sort_values(keys, key=lambda c: c.map(order) if c.name == "quantity" else c)
    out = out.reset_index(drop=True)
    for column in count_columns:
        out[column] = out[column].astype(np.int64)
    if "k" in out.columns:
        out["k"] = out["k"].astype("Int64")
    return out
