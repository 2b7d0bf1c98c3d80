"""The map of the Transition Assumption over its constants: at every (kappa, eta, varpi, r) of a
sweep, the measured log slopes of the literal t_k^* and of the rise times against the
small-signal theory, the collapse t_k^* eta Delta / ln d, and the d from which t_k^* is
measured against the predicted threshold.

Measured slopes: least squares of the runs' values on ln d (every seed a point); for t_k^*
only the measured (not bound-dominated) runs, at the d values where at least half the runs are
measured, and only with at least :data:`MIN_D_VALUES` such d values (else no slope: "not
measured in the sampled d"). Predicted slopes are the closed forms of
:mod:`mfsim.small_signal` (:func:`~mfsim.small_signal.rise_slope`,
:func:`~mfsim.small_signal.t_k_star_slope` for k = 1, whose t_1 always follows rise_1), and
the predicted threshold is :func:`~mfsim.small_signal.measurable_log10_d` (the closed-form
chain: a prediction within a few decades of the scalar model's). Theory and data
**disagree** at a point when the slope ratio measured / predicted lies outside
[1 - :data:`AGREEMENT`, 1 + :data:`AGREEMENT`], or the measured threshold is more than
:data:`THRESHOLD_DECADES` decades from the predicted one.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr
import yaml

from mfsim.datamodel import stored_dimension_log10

__all__ = [
    "AGREEMENT",
    "MIN_D_VALUES",
    "THRESHOLD_DECADES",
    "is_map",
    "map_points",
]

#: Relative tolerance on slope ratios for "agree".
AGREEMENT = 0.10
#: Decades between the measured and predicted measurability thresholds that still "agree"
#: (the d grid of a map is coarse: a threshold is known to one grid step).
THRESHOLD_DECADES = 60.0
#: Fewest d values with a measured t_k^* for a slope.
MIN_D_VALUES = 3
_POINT_DIMS = ("kappa", "eta", "varpi", "r")


def is_map(ds: xr.Dataset) -> bool:
    """A sweep of the ``flat`` family (whose closed forms these are; no ``spectrum.gap``) that
    spans two or more of kappa, eta and varpi, with 3 or more d: the report's map."""
    try:
        spectrum = yaml.safe_load(ds.attrs.get("config") or "{}").get("spectrum", {})
    except (yaml.YAMLError, AttributeError):
        return False
    if not isinstance(spectrum, dict) or spectrum.get("family") != "flat" or "gap" in spectrum:
        return False
    spans = [dim for dim in ("kappa", "eta", "varpi") if dim in ds.dims and ds.sizes[dim] > 1]
    return len(spans) >= 2 and ds.sizes.get("d", 0) >= 3


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y)
    if ok.sum() < 3 or np.unique(x[ok]).size < 2:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def map_points(ds: xr.Dataset) -> list[dict]:
    """One row per grid point (kappa, eta, varpi, r) and k = 1 (the literal t_1^*, whose chain
    the closed forms follow exactly), with the rises of every k.

    Returns
    -------
    list of dict
        ``point`` (dict), ``Delta``, ``t_star_slope`` / ``t_star_predicted`` / ``t_star_ratio``
        (steps per unit of ln d), ``rise_slopes`` / ``rise_predicted`` / ``rise_ratios``
        (arrays over k), ``threshold`` (log10 of the first d from which t_1^* is measured in
        most runs, NaN if none) and ``threshold_predicted``, ``collapse`` (median over seeds of
        t_1^* eta Delta / ln d per d, NaN where not measured) with ``log10_d``, ``disagrees``
        (list of reasons; empty when theory and data agree).
    """
    from mfsim.small_signal import measurable_log10_d, rise_slope, t_k_star_slope

    log10_d = stored_dimension_log10(ds["d"].values)
    ln_d = log10_d * math.log(10.0)
    rows = []
    sizes = [np.atleast_1d(ds[dim].values) for dim in _POINT_DIMS]
    for values in np.array(np.meshgrid(*sizes, indexing="ij")).reshape(4, -1).T:
        point = dict(zip(_POINT_DIMS, (float(v) for v in values), strict=True))
        point["r"] = int(point["r"])
        sel = ds.sel({dim: point[dim] for dim in _POINT_DIMS if dim in ds.dims})
        # other axes of one value (varpi_exponent = 0 in a map)
        sel = sel.isel({dim: 0 for dim in sel.dims if dim not in ("d", "seed", "k")})
        rows.append(_point_row(sel, point, log10_d, ln_d, rise_slope, t_k_star_slope,
                               measurable_log10_d))  # fmt: skip
    return rows


def _point_row(sel, point, log10_d, ln_d, rise_slope, t_k_star_slope, measurable_log10_d):
    r, eta, varpi, kappa = point["r"], point["eta"], point["varpi"], point["kappa"]
    delta = 1.0 / kappa * float(np.atleast_1d(sel["lambda_1"].values).ravel()[0])
    lambda_1 = float(np.atleast_1d(sel["lambda_1"].values).ravel()[0])
    top = lambda_1 - delta * np.arange(r)
    bulk_top = lambda_1 - delta * r
    rise_predicted = rise_slope(eta, top, bulk_top)
    t_predicted = float(t_k_star_slope(eta, top, bulk_top, delta)[0]) if r > 1 else np.nan
    threshold_predicted = float(
        measurable_log10_d(top, bulk_top, eta=eta, varpi=varpi, log10_d_max=10_000.0)[0]
    )
    x = np.broadcast_to(ln_d[:, None], (ln_d.size, sel.sizes["seed"]))
    rises = sel["rise"].transpose("d", "seed", "k").values.astype(float)
    rise_slopes = np.array([_slope(x.ravel(), rises[:, :, k].ravel()) for k in range(r)])
    t1 = sel["t_k_star"].sel(k=1).transpose("d", "seed").values.astype(float)
    flag = sel["t_k_star_bound_dominated"].sel(k=1).transpose("d", "seed").values.astype(bool)
    measured = np.isfinite(t1) & ~flag
    mostly = measured.sum(axis=1) >= 0.5 * np.isfinite(t1).sum(axis=1).clip(min=1)
    mostly &= measured.any(axis=1)
    use = measured & mostly[:, None]
    t_slope = (
        _slope(x.ravel(), np.where(use, t1, np.nan).ravel())
        if mostly.sum() >= MIN_D_VALUES
        else float("nan")
    )
    # first d from which every larger d is mostly measured
    threshold = float("nan")
    if mostly.any():
        bad = np.flatnonzero(~mostly)
        first = 0 if bad.size == 0 else bad[-1] + 1
        threshold = float(log10_d[first]) if first < log10_d.size else float("nan")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a d with no measured run: NaN
        collapse = np.nanmedian(np.where(use, t1, np.nan) * eta * delta / ln_d[:, None], axis=1)
    row = {
        "point": point,
        "Delta": delta,
        "t_star_slope": t_slope,
        "t_star_predicted": t_predicted,
        "t_star_ratio": t_slope / t_predicted if t_predicted else float("nan"),
        "rise_slopes": rise_slopes,
        "rise_predicted": rise_predicted,
        "rise_ratios": rise_slopes / rise_predicted,
        "threshold": threshold,
        "threshold_predicted": threshold_predicted,
        "collapse": collapse,
        "log10_d": log10_d,
    }
    row["disagrees"] = _disagreements(row, float(log10_d.max()))
    return row


def _disagreements(row: dict, log10_d_max: float) -> list[str]:
    out = []
    for k, ratio in enumerate(row["rise_ratios"], start=1):
        if np.isfinite(ratio) and abs(ratio - 1) > AGREEMENT:
            out.append(f"rise_{k} slope ratio {ratio:.3g}")
    if np.isfinite(row["t_star_ratio"]) and abs(row["t_star_ratio"] - 1) > AGREEMENT:
        out.append(f"t_1^* slope ratio {row['t_star_ratio']:.3g}")
    measured, predicted = row["threshold"], row["threshold_predicted"]
    if np.isfinite(measured) != (predicted <= log10_d_max):
        out.append(
            f"t_1^* measured from 1e{measured:.0f}, predicted from 1e{predicted:.0f}"
            if np.isfinite(measured)
            else f"t_1^* not measured up to 1e{log10_d_max:.0f}, predicted from 1e{predicted:.0f}"
        )
    elif np.isfinite(measured) and abs(measured - predicted) > THRESHOLD_DECADES:
        out.append(f"t_1^* measured from 1e{measured:.0f}, predicted from 1e{predicted:.0f}")
    return out
