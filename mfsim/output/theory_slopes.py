"""Small-signal predictions of the log slopes beside the fitted ones, one row per group and k.

Used by the report's theory table and by the overlay figures
(:mod:`mfsim.output.overlays`); the predictions come from
:func:`mfsim.analysis.linearized.predicted_rise` (no fitted parameter).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.analysis.scaling import VERDICT_NO_RUNS, VERDICT_UNDEFINED, fit_quantities, fits_for
from mfsim.output.style import scalar

__all__ = ["PREDICTED_QUANTITIES", "theory_rows"]

#: Quantities with a small-signal prediction: rise_k, and the literal t_k^* where measured.
PREDICTED_QUANTITIES = ("rise", "t_k_star")
_OMITTED = (VERDICT_UNDEFINED, VERDICT_NO_RUNS)


def _plain(value) -> str:
    value = scalar(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def theory_rows(sweep_ds: xr.Dataset, fits: xr.Dataset) -> list[dict]:
    """Small-signal predictions beside the fitted log slopes (rise_k; measured literal t_k^*).

    The predicted slope is the least-squares slope against ln d of the scalar-model prediction
    (:func:`mfsim.analysis.linearized.predicted_rise`) at the d values the fit used, so it
    includes the finite-d transient; ``asymptotic`` is the closed form (rise: eq. R, t_k^*:
    eq. T of ``docs/transition.md``).

    Parameters
    ----------
    sweep_ds : xarray.Dataset
        The sweep (its ``config`` attr names the spectrum family).
    fits : xarray.Dataset
        Output of :func:`mfsim.analysis.scaling.fit_all` (or ``fit_scaling``).

    Returns
    -------
    list of dict
        Keys ``quantity, group, coords, k, predicted, asymptotic, fitted, lo, hi, inside``
        (``group`` the varying group coordinates as text, ``coords`` every group coordinate
        as a dict; numbers in steps per unit of ln d), or ``reason`` (str) instead of the
        numbers where the theory does not apply.
    """
    out = []
    for quantity in PREDICTED_QUANTITIES:
        if quantity in fit_quantities(fits):
            out += _quantity_rows(sweep_ds, fits_for(fits, quantity), quantity)
    return out


def _quantity_rows(sweep_ds: xr.Dataset, fit: xr.Dataset, quantity: str) -> list[dict]:
    dims = [dim for dim in fit["verdict"].dims if dim != "k"]
    stacked = fit.stack(_group=dims) if dims else fit.expand_dims("_group")
    d_all = np.asarray(fit["d"].values, dtype=float)
    out = []
    for i in range(stacked.sizes["_group"]):
        g = stacked.isel(_group=i)
        values = {
            dim: scalar(g[dim].values) if dim in g.coords else None
            for dim in ("kappa", "r", "eta", "varpi")
        }
        exponent = scalar(g["varpi_exponent"].values) if "varpi_exponent" in g else 0
        coords = {dim: scalar(g[dim].values) for dim in dims}
        group = ", ".join(f"{dim}={_plain(g[dim].values)}" for dim in dims if fit.sizes[dim] > 1)
        for j, k in enumerate(g["k"].values):
            gk = g.isel(k=j)
            if str(gk["verdict"].values) in _OMITTED or str(gk["case"].values) != "measured":
                continue
            row = {"quantity": quantity, "group": group, "coords": coords, "k": int(k)}
            if exponent != 0 or any(v is None for v in values.values()):
                row["reason"] = "varpi depends on d (varpi_exponent != 0) or grid value unknown"
            else:
                used = np.asarray(gk["used_in_fit"].values, dtype=bool)
                row.update(_prediction(sweep_ds, gk, quantity, int(k), values, d_all[used]))
            out.append(row)
    return out


def _prediction(sweep_ds, gk, quantity: str, k: int, values: dict, d_used) -> dict:
    from mfsim.analysis.linearized import predicted_rise

    pred = predicted_rise(
        sweep_ds,
        values["kappa"],
        int(values["r"]),
        values["eta"],
        values["varpi"],
        d_used,
        with_chain=quantity == "t_k_star",
    )
    if "reason" in pred:
        return {"reason": pred["reason"]}
    if quantity == "rise":
        series = pred["rise"][:, k - 1]
        asymptotic = pred["slope"][k - 1]
    else:  # predicted bound-dominated values are left out, as in the fit
        series = np.where(pred["bound_dominated"][:, k - 1], np.nan, pred["t_k_star"][:, k - 1])
        asymptotic = pred["t_k_star_slope"][k - 1]
    ok = np.isfinite(series)
    d_used = np.asarray(d_used, dtype=float)  # stored d: -log10 d beyond float64
    x = np.where(d_used > 0, np.log(np.abs(d_used)), -d_used * np.log(10.0))[ok]
    predicted = float(np.polyfit(x, series[ok], 1)[0]) if ok.sum() >= 2 else np.nan
    lo, hi = float(gk["log_slope_lo"]), float(gk["log_slope_hi"])
    return {
        "predicted": predicted,
        "asymptotic": float(asymptotic),
        "fitted": float(gk["log_slope"]),
        "lo": lo,
        "hi": hi,
        "inside": bool(lo <= predicted <= hi),
    }
