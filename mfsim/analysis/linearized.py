"""Small-signal theory applied to a sweep Dataset (figures and the report).

The theory itself (rise slopes, the predicted stage chain, the d from which the literal t_k^* is
measurable) is the leaf module :mod:`mfsim.small_signal`, so that the plan can warn before a run;
its names are re-exported here. Derivation in ``docs/transition.md``.
"""

from __future__ import annotations

import math

from mfsim.datamodel import stored_dimension_log10
from mfsim.small_signal import (
    Bulk,
    StagePrediction,
    applies_to,
    bulk_of,
    chi2_median,
    measurable_threshold,
    predict_stages,
    rise_slope,
    rise_slope_for,
    t_k_star_slope,
)
from mfsim.theory import t_star

__all__ = [
    "Bulk",
    "StagePrediction",
    "applies_to",
    "bulk_of",
    "rise_slope",
    "t_k_star_slope",
    "predict_stages",
    "predicted_rise",
    "measurable_threshold",
    "rise_slope_for",
    "chi2_median",
]


# --------------------------------------------------------------------------------------------
# Predictions for a sweep Dataset (used by the figures and the report)
# --------------------------------------------------------------------------------------------
_REFERENCE_D = 10**6


def _sweep_spectrum(ds, kappa: float, r: int):
    """The sweep's spectrum at the reference d, or None (family and parameters from the config)."""
    import yaml

    from mfsim.config.model import SpectrumSpec
    from mfsim.spectra import SpectrumError, spectrum

    text = ds.attrs.get("config")
    if not text:
        return None
    try:
        config = yaml.safe_load(text)
        section = SpectrumSpec.from_section(config["spectrum"])
        family, params = section.family, section.family_params()
        return spectrum(family, _REFERENCE_D, r=int(r), kappa=float(kappa), **params)
    except (SpectrumError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None


def predicted_rise(
    ds, kappa: float, r: int, eta: float, varpi: float, d_values, with_chain: bool = False
) -> dict:
    """Theory of the rise panels of one grid group.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset (its ``config`` attr names the spectrum family).
    kappa, r, eta, varpi : float
        The group's grid values.
    d_values : array_like
        d at which to evaluate the prediction (any size up to 10^300).
    with_chain : bool, default False
        Integrate long enough for the literal chain (t_k, t_k^*) as well as the rises.

    Returns
    -------
    dict
        ``slope`` (r,) from :func:`rise_slope` (the asymptotic slopes), ``rise`` (n_d, r),
        ``t_k_star`` and ``bound_dominated`` (n_d, r - 1) from :func:`predict_stages`,
        ``t_k_star_slope`` (r - 1,) from :func:`t_k_star_slope`; or ``{"reason": str}`` if the
        theory does not apply.
    """
    spec = _sweep_spectrum(ds, kappa, r)
    ok, reason = applies_to(spec)
    if not ok:
        return {"reason": reason}
    bulk = bulk_of(spec)
    level = bulk.saturation_level(int(r))
    log10_d = stored_dimension_log10(d_values)  # stored d: -log10 d beyond float64
    slope = rise_slope(eta, spec.top(int(r)), level)
    horizon = int(1.3 * float(slope.max()) * float(log10_d.max()) * math.log(10.0)) + 2000
    if with_chain:
        horizon += 2 * int(math.ceil(t_star(eta, spec.Delta, spec.lambda_1, int(r))) + 2000)
    pred = predict_stages(log10_d, spec.top(int(r)), bulk, eta=eta, varpi=varpi, n_steps=horizon)
    return {
        "slope": slope,
        "rise": pred.rise,
        "t_k_star": pred.t_k_star,
        "bound_dominated": pred.bound_dominated,
        # the chain's regime at the largest d decides which t_k sets the later slopes
        "t_k_star_slope": t_k_star_slope(
            eta,
            spec.top(int(r)),
            level,
            spec.Delta,
            pred.bound_dominated[-1],
            pred.t_k[-1] - math.ceil(t_star(eta, spec.Delta, spec.lambda_1, int(r)))
            > pred.rise[-1, :-1],
        ),
    }
