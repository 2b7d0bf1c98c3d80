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
    used_in_fit, n_d_used, decisive = (arrays[k] for k in ("used_in_fit", "n_d_used", "decisive"))
    preferred, verdicts, caveats = (arrays[k] for k in ("preferred_model", "verdict", "caveat"))
    # the grid coordinates with their attrs, as the counts below carry them
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
    data = {}
    for p in _PARAMETERS:
        long_name, units = _PARAMETER_ATTRS[p]
        attrs = {"long_name": long_name, "description": f"{long_name} (point estimate)"}
        data[p] = (gdims, arrays[p].reshape(group_shape), {**attrs, "units": units})
        for suffix, side in (("_lo", "lower"), ("_hi", "upper")):
            text = f"{side} bootstrap percentile bound of {p}"
            data[p + suffix] = (
                gdims,
                arrays[p + suffix].reshape(group_shape),
                {"long_name": text, "description": text, "units": units},
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
    data["n_d_used"] = (
        gdims,
        n_d_used.reshape(group_shape),
        {"long_name": "d values fitted", "description": "number of d values that enter the fits"},
    )
    for name, (q, what) in _SEED_QUANTILE_ATTRS.items():
        data[name] = (
            gdims + ("d",),
            arrays[name].reshape(group_shape + (n_d,)),
            {
                "description": f"{what} over the seeds that reached the stage at this d "
                f"(bound-dominated values excluded): linear-interpolation quantile {q}; NaN "
                "if none reached",
                "units": "steps",
            },
        )
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
        {
            "description": "model with the lowest CV RMSE where the verdict allows it ('none' "
            "if not applicable or overridden by the verdict: attrs['precedence'])"
        },
    )
    data["verdict"] = (
        gdims,
        np.array(verdicts, dtype=str).reshape(group_shape),
        {
            "description": "verdict on growth with d over the sampled range of d; rule in the "
            "Dataset attrs"
        },
    )
    for name in _COUNTS:
        count = counts[name].transpose(*group_dims, "d")
        count.attrs = {"description": _COUNT_DESCRIPTIONS[name], "units": "1"}
        data[name] = count  # brings the non-index coords of the runs (Delta, lambda_k, ...)
    caveat = np.array(caveats, dtype=str).reshape(group_shape)
    data["caveat"] = (gdims, caveat, {"description": "what was excluded from the fit"})
    texts = {
        "verdict_sentence": "the verdict with the range of d it describes (fitted d values)",
        "verdict_detail": "the numbers behind the verdict, in words, over the fitted d",
        "case": "measured | bound-dominated | not reached | ... (which case the group is)",
        "case_text": "the case in words, with the d ranges and the reason",
    }
    for name, description in texts.items():
        text = np.array(arrays[name], dtype=str).reshape(group_shape)
        data[name] = (gdims, text, {"description": description})
    alpha_attrs = {
        "boxcox_alpha": "Box-Cox exponent alpha of y = a + b ((d^alpha - 1)/alpha - gamma ln "
        "ln d), gamma profiled over [0, 3] (per-d means)",
        "boxcox_alpha_lo": "lower end of the profile interval of boxcox_alpha (-inf: grid edge)",
        "boxcox_alpha_hi": "upper end of the profile interval of boxcox_alpha (inf: grid edge)",
        "detectable_alpha": "smallest alpha a power law needs to be detected with "
        f"{DETECTION_POWER:.0%} power (simulation under the fitted log law); NaN where the "
        "verdict does not use it",
    }
    for name, description in alpha_attrs.items():
        data[name] = (
            gdims,
            arrays[name].reshape(group_shape),
            {"description": description, "units": "1 / ln d"},
        )
    data["log_log_gamma"] = (
        gdims,
        arrays["log_log_gamma"].reshape(group_shape),
        {
            "description": "gamma of the best law a + b (ln d - gamma ln ln d), 0 <= gamma <= 3 "
            "(continuous), fitted to the per-d means (the Box-Cox family at alpha = 0); "
            "NaN where the rule has no correction (fewer than 5 d values, or d <= e)",
            "units": "1",
        },
    )
    # one Dataset built at once: each assignment to a Dataset re-aligns all its variables
    out = xr.Dataset(data, coords=coords)
    return out
