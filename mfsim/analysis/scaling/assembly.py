"""Assembly of the per-group results into the scaling Dataset, with the variables' attrs."""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.analysis.scaling.models import MODELS
from mfsim.analysis.scaling.power_analysis import DETECTION_POWER
from mfsim.analysis.scaling.runs import _COUNT_DESCRIPTIONS, _COUNTS

CURVE_VARS = ("curve", "curve_lo", "curve_hi")

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


#: Seed quantiles per (group, d): name -> (level, what it is).
_SEED_QUANTILE_ATTRS = {
    "median": (0.5, "median"),
    "quantile_90": (0.9, "90% quantile"),
    "quantile_99": (0.99, "99% quantile"),
}


def _bounds(parameter: str) -> tuple[str, str, str]:
    return parameter, parameter + "_lo", parameter + "_hi"


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

    def per_group(name, extra_dims=(), extra_shape=(), attrs=None):
        values = np.asarray(arrays[name])
        if values.dtype == object or isinstance(arrays[name], list):
            values = np.array(arrays[name], dtype=str)
        return (gdims + extra_dims, values.reshape(group_shape + extra_shape), attrs or {})

    data = {}
    data.update(_parameter_vars(per_group))
    data.update(_model_vars(per_group, curve_d.size))
    data.update(_per_d_vars(per_group, counts, group_dims, runs.sizes["d"]))
    data.update(_verdict_vars(per_group))
    # one Dataset built at once: each assignment to a Dataset re-aligns all its variables
    return xr.Dataset(data, coords=_coords(runs, group_dims, curve_d))


def _coords(runs: xr.Dataset, group_dims: list[str], curve_d: np.ndarray) -> dict:
    """The grid coordinates with their attrs (as the counts carry them), model, d, d_curve."""
    coords = {dim: runs[dim].variable for dim in group_dims}
    coords.update(
        {
            "model": ("model", np.array(MODELS), {"description": "models of y versus d"}),
            "d": runs["d"].variable,
            "d_curve": (
                "d_curve",
                curve_d,
                {"description": "log-spaced d values of the fitted curves", "units": "1"},
            ),
        }
    )
    return coords


def _parameter_vars(per_group) -> dict:
    """Point estimates of the model parameters and their bootstrap bounds."""
    data = {}
    for p in _PARAMETERS:
        long_name, units = _PARAMETER_ATTRS[p]
        attrs = {"long_name": long_name, "description": f"{long_name} (point estimate)"}
        data[p] = per_group(p, attrs={**attrs, "units": units})
        for suffix, side in (("_lo", "lower"), ("_hi", "upper")):
            text = f"{side} bootstrap percentile bound of {p}"
            attrs = {"long_name": text, "description": text, "units": units}
            data[p + suffix] = per_group(p + suffix, attrs=attrs)
    return data


def _model_vars(per_group, n_curve: int) -> dict:
    """Per-model cross validation and goodness of fit, and the fitted curves."""
    n_models = len(MODELS)
    data = {
        name: per_group(name, ("model",), (n_models,), {"description": description})
        for name, description in _MODEL_VARS.items()
    }
    curve_attrs = {
        "description": "fitted curve (point estimate) and pointwise bootstrap bounds",
        "units": "steps",
    }
    for name in CURVE_VARS:
        data[name] = per_group(name, ("model", "d_curve"), (n_models, n_curve), curve_attrs)
    return data


def _per_d_vars(per_group, counts: xr.Dataset, group_dims: list[str], n_d: int) -> dict:
    """Per (group, d): used_in_fit, the seed quantiles and the counts of the runs."""
    data = {
        "used_in_fit": per_group(
            "used_in_fit",
            ("d",),
            (n_d,),
            {"description": "d value has >= min_seeds reached runs and enters the fits"},
        )
    }
    for name, (q, what) in _SEED_QUANTILE_ATTRS.items():
        attrs = {
            "description": f"{what} over the seeds that reached the stage at this d "
            f"(bound-dominated values excluded): linear-interpolation quantile {q}; NaN "
            "if none reached",
            "units": "steps",
        }
        data[name] = per_group(name, ("d",), (n_d,), attrs)
    for name in _COUNTS:
        count = counts[name].transpose(*group_dims, "d")
        count.attrs = {"description": _COUNT_DESCRIPTIONS[name], "units": "1"}
        data[name] = count  # brings the non-index coords of the runs (Delta, lambda_k, ...)
    return data


#: Per-group variables of the verdict: name -> (description, units or None).
_VERDICT_VARS = {
    "n_d_used": ("number of d values that enter the fits", None),
    "decisive": (
        "the shown preferred model beats every other model in CV RMSE by a margin whose "
        "bootstrap interval excludes 0 (cv_excess_lo > 0), and the verdict allows it to be "
        "decisive (attrs['precedence'])",
        None,
    ),
    "preferred_model": (
        "model with the lowest CV RMSE where the verdict allows it ('none' if not applicable "
        "or overridden by the verdict: attrs['precedence'])",
        None,
    ),
    "verdict": (
        "verdict on growth with d over the sampled range of d; rule in the Dataset attrs",
        None,
    ),
    "verdict_sentence": ("the verdict with the range of d it describes (fitted d values)", None),
    "verdict_detail": ("the numbers behind the verdict, in words, over the fitted d", None),
    "case": ("measured | bound-dominated | not reached | ... (which case the group is)", None),
    "case_text": ("the case in words, with the d ranges and the reason", None),
    "caveat": ("what was excluded from the fit, and a CV preference the verdict overrides", None),
    "boxcox_alpha": (
        "Box-Cox exponent alpha of y = a + b ((d^alpha - 1)/alpha - gamma ln ln d), gamma "
        "profiled over [0, 3] (per-d means)",
        "1 / ln d",
    ),
    "boxcox_alpha_lo": (
        "lower end of the profile interval of boxcox_alpha (-inf: grid edge)",
        "1 / ln d",
    ),
    "boxcox_alpha_hi": (
        "upper end of the profile interval of boxcox_alpha (inf: grid edge)",
        "1 / ln d",
    ),
    "detectable_alpha": (
        f"smallest alpha a power law needs to be detected with {DETECTION_POWER:.0%} power "
        "(simulation under the fitted log law); NaN where the verdict does not use it",
        "1 / ln d",
    ),
    "log_log_gamma": (
        "gamma of the best law a + b (ln d - gamma ln ln d), 0 <= gamma <= 3 (continuous), "
        "fitted to the per-d means (the Box-Cox family at alpha = 0); NaN where the rule has "
        "no correction (fewer than 5 d values, or d <= e)",
        "1",
    ),
}


def _verdict_vars(per_group) -> dict:
    """Per-group variables of the verdict, its wording and the Box-Cox evidence."""
    data = {}
    for name, (description, units) in _VERDICT_VARS.items():
        attrs = {"description": description} | ({"units": units} if units else {})
        if name == "n_d_used":
            attrs["long_name"] = "d values fitted"
        data[name] = per_group(name, attrs=attrs)
    return data
