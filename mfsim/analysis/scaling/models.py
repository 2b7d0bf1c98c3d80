"""The three models of a stage time versus d (const, log, power): least-squares point
estimates, predictions and goodness of fit, vectorized along leading (replicate) axes."""

from __future__ import annotations

import numpy as np

#: Models in parsimony order (ties in the cross-validated error go to the earlier model).
MODELS = ("const", "log", "power")
N_PARAMETERS = {"const": 1, "log": 2, "power": 2}


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


def _fit_parameters(log_d: np.ndarray, y: np.ndarray, power: bool = True) -> dict[str, np.ndarray]:
    """Point estimates of the three models along the last axis (points).

    ``power=False`` (some value <= 0 in the group): the power parameters are NaN.
    """
    positive = y > 0
    log_y = np.log(np.where(positive, y, 1.0))
    log_intercept, log_slope = _line_fit(log_d, y, np.ones_like(y))
    weight = positive.astype(float) if power else np.zeros_like(y)
    power_log_prefactor, power_exponent = _line_fit(log_d, log_y, weight)
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
