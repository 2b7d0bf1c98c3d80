"""The fit of one group (grid points differing only in d): models, bootstrap, CV, Box-Cox."""

from __future__ import annotations

import warnings

import numpy as np

from mfsim.analysis.scaling.bootstrap import _bootstrap_indices, _percentiles
from mfsim.analysis.scaling.boxcox import _level_summary, boxcox_interval
from mfsim.analysis.scaling.cross_validation import _cross_validate, _preferred_index
from mfsim.analysis.scaling.models import MODELS, _fit_parameters, _goodness, _predict

_PARAMETERS = ("log_intercept", "log_slope", "power_prefactor", "power_exponent", "const_mean")


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
    # c d^alpha cannot describe values <= 0: then the power model is left out altogether
    # (not fitted on a subset), so every model that is compared uses the same points
    power_fitted = result["n_nonpositive"] == 0
    result["power_fitted"] = power_fitted
    point = _fit_parameters(x, y, power_fitted)
    idx = _bootstrap_indices([y_i.size for y_i in ys], n_boot, rng)
    boot = _fit_parameters(x[idx], y[idx], power_fitted)
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

        cv = _cross_validate(x[None, :], y[None, :], blocks, power_fitted)[0]
        cv_boot = _cross_validate(x[idx], y[idx], blocks, power_fitted)
        best = int(_preferred_index(cv))
        winners = _preferred_index(cv_boot)
        result["cv_rmse"] = cv
        result["cv_rmse_lo"], result["cv_rmse_hi"] = _percentiles(cv_boot, q, axis=0)
        result["cv_win_fraction"] = np.array([np.mean(winners == m) for m in range(len(MODELS))])
        excess = np.full((3, len(MODELS)), np.nan)
        if best >= 0:
            excess[0] = cv - cv[best]
            excess[1:] = _percentiles(cv_boot - cv_boot[:, [best]], q, axis=0)
            others = [m for m in range(len(MODELS)) if m != best and np.isfinite(cv[m])]
            result["decisive"] = bool(np.all(excess[1, others] > 0))
        else:
            result["decisive"] = False
        result["cv_excess"], result["cv_excess_lo"], result["cv_excess_hi"] = excess
    result["preferred"] = MODELS[best] if best >= 0 else None
    if best >= 0:
        result["decisive_over"] = {
            MODELS[m] for m in range(len(MODELS)) if m != best and excess[1, m] > 0
        }
    else:
        result["decisive_over"] = set()
    result["curves"] = curves
    result["goodness"] = _goodness(x, y, point)
    if levels.size >= 3:
        summary = _level_summary(x, y, blocks)
        result["summary"] = summary
        result.update(boxcox_interval(summary, confidence))
    return result
