"""Degenerate regimes of the Transition Assumption: measured growth of t_k^* against the
small-signal prediction, d by d.

A sweep is in a degenerate regime when its constants move towards a place where t_k^* =
O(log d) could fail (:func:`degenerate_regimes`):

* ``gap_inverse_log`` / ``gap_power``: Delta = Delta_0 / ln d or Delta_0 d^-gamma
  (``spectrum.gap``, :mod:`mfsim.gap_laws`, every gap shrinking);
* ``bulk_top_near_lambda_r``: the same laws with ``shrinks: last`` (lambda_{r+1} -> lambda_r);
* ``varpi_near_divergence``: varpi at 90% or more of the scalar divergence limit
  ``sqrt((2 + eta lambda_1) / eta)`` (:func:`mfsim.small_signal.diverges_at_start`).

For each group of grid points that differ only in d, :func:`regime_growth` compares the median
over seeds of a stage time y (``t_k_star``, every value including the bound-dominated ones,
since here the bound ceil(t^sharp) itself moves with d; and ``rise``) with the small-signal
prediction (:func:`mfsim.small_signal.predict_stages`, one spectrum per d, so a gap that moves
with d is followed exactly). Growth is read two ways, on measured and predicted medians alike:

* **slope ratio**: the least-squares slope of y on ln d over the upper half of the sampled
  ln d range divided by that over the lower half (1 for a + b ln d; ln d_hi / ln d_lo for
  (ln d)^2; large for a power of d). A bootstrap over seeds (within each d) gives its interval;
* **exponent p** of y ~ (ln d)^p: the least-squares slope of ln y on ln ln d (a descriptive
  number: an intercept a != 0 makes p differ from 1 for a + b ln d).

Verdict (:data:`GROWTH_RULE`, over the sampled d only): "faster than log d" when the lower end
of the slope-ratio interval exceeds :data:`FASTER_RATIO`; "local slope rising" when it exceeds
1 only (e.g. ln d ln ln d over a few decades, or a log law converging from below); "consistent
with log d" when the interval reaches 1 or lies within [1 / FASTER_RATIO, 1]; "local slope
falling" below. For t_k^*, the bound-dominated runs are left out where the literal t_k^* is
measured at 4 or more d values (a constant ceil(t^sharp) followed by a log law is not
curvature); where it is bound-dominated throughout, all values are kept (t_k^* is then exactly
ceil(t^sharp), and grows with d only if Delta does not stay fixed).
The prediction's ratio is read the same way, so a law that the theory predicts to converge
from below (a local slope that rises towards its asymptote) is seen next to its prediction.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
import yaml

from mfsim.datamodel import stored_dimension_log10

__all__ = [
    "FASTER_RATIO",
    "PREDICTION_BAND",
    "GROWTH_RULE",
    "NEAR_DIVERGENCE",
    "degenerate_regimes",
    "predicted_medians",
    "regime_growth",
    "slope_ratio",
]

#: Slope ratio (upper over lower half of ln d) above which growth reads faster than log d.
FASTER_RATIO = 1.25
#: Relative band around the predicted slope ratio when its verdict is read (no scatter).
PREDICTION_BAND = 0.05
#: varpi at or above this fraction of the scalar divergence limit is "near divergence".
NEAR_DIVERGENCE = 0.9
GROWTH_RULE = (
    f"over the sampled d: 'faster than log d' if the 95% bootstrap interval of the slope ratio "
    f"(slope of the median on ln d over the upper half of ln d / over the lower half) lies above "
    f"{FASTER_RATIO}; 'local slope rising' if it lies above 1 only; 'consistent with log d' if "
    f"it reaches 1 or lies within [{1 / FASTER_RATIO:.2f}, 1]; else 'local slope falling'; "
    "t_k^* where measured (bound-dominated runs left out when 4 or more d values are measured)"
)
_GROUP_DIMS = ("kappa", "varpi", "varpi_exponent", "eta", "r")


def _config(ds: xr.Dataset) -> dict:
    """The sweep's config from its ``config`` attribute; {} when absent or not a YAML
    mapping (a Dataset built by hand)."""
    try:
        config = yaml.safe_load(ds.attrs.get("config") or "{}")
    except yaml.YAMLError:
        return {}
    return config if isinstance(config, dict) else {}


def _spectrum_section(ds: xr.Dataset) -> dict:
    section = _config(ds).get("spectrum")
    return section if isinstance(section, dict) else {}


def degenerate_regimes(ds: xr.Dataset) -> list[str]:
    """The degenerate regimes (module notes) this sweep Dataset samples; [] for none."""
    regimes = []
    gap = _spectrum_section(ds).get("gap")
    if gap:
        if gap.get("shrinks", "all") == "last":
            regimes.append("bulk_top_near_lambda_r")
        else:
            regimes.append(f"gap_{gap['law']}")
    if {"varpi", "eta", "lambda_1"} <= set(ds.variables):
        varpi, eta, lambda_1 = xr.broadcast(ds["varpi"], ds["eta"], ds["lambda_1"])
        limit = np.sqrt((2.0 + eta.values * lambda_1.values) / eta.values)
        if np.any(varpi.values >= NEAR_DIVERGENCE * limit):
            regimes.append("varpi_near_divergence")
    return regimes


def slope_ratio(log_d: np.ndarray, y: np.ndarray) -> float:
    """Slope of y on ln d over the upper half of the ln d range over that of the lower half
    (each half needs two d values; NaN entries of y are left out)."""
    ok = np.isfinite(y)
    log_d, y = log_d[ok], y[ok]
    if log_d.size < 4:
        return float("nan")
    middle = 0.5 * (log_d.min() + log_d.max())
    low, high = log_d <= middle, log_d >= middle
    if low.sum() < 2 or high.sum() < 2:
        return float("nan")
    b_low = np.polyfit(log_d[low], y[low], 1)[0]
    b_high = np.polyfit(log_d[high], y[high], 1)[0]
    return float(b_high / b_low) if b_low > 0 else float("nan")


def _exponent(log_d: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y) & (y > 0) & (log_d > 1)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(log_d[ok]), np.log(y[ok]), 1)[0])


def predicted_medians(ds: xr.Dataset, group: dict, quantity: str) -> np.ndarray:
    """Small-signal prediction of `quantity` (``rise`` or ``t_k_star``) at every d of the
    sweep for one group, shape (n_d, r or r - 1); NaN where not reached within ``run.steps``,
    where the theory does not apply, or everywhere for a Dataset without its config.

    Without ``spectrum.gap``: :func:`mfsim.small_signal.predict_stages` (the scalar model with
    the bulk transient and the literal chain), one call over all d. With it (a spectrum per
    d), closed forms that cost nothing at any d:

    * ``rise_k = ln(Delta d / (2 varpi^2 median(chi^2_m))) / (2 ln rho_k)``, ``rho_k = 1 +
      eta (lambda_k - lambda_{r+1})``, ``m = r - k + 1``: the saturated-bulk growth from the
      median start, without the d-independent bulk transient (a few steps to a few hundred);
    * ``t_k^* = ceil(t^sharp)`` of Delta(d): the bracket's lower end (docs/transition.md),
      the prediction where the runs are bound-dominated (their flag says where they are) and
      a rigorous lower bound everywhere.
    """
    from mfsim.config.model import SpectrumSpec
    from mfsim.small_signal import bulk_of, chi2_median, predict_stages
    from mfsim.spectra import SpectrumError, as_dimension, spectrum
    from mfsim.theory import t_sharp

    config = _config(ds)
    r, eta, varpi = int(group["r"]), float(group["eta"]), float(group["varpi"])
    kappa = None if group.get("kappa") is None else float(group["kappa"])
    log10_d = stored_dimension_log10(ds["d"].values)
    width = r if quantity == "rise" else r - 1
    out = np.full((log10_d.size, width), np.nan)
    if "spectrum" not in config or "steps" not in config.get("run", {}):
        return out  # no config to predict from
    section = SpectrumSpec.from_section(config["spectrum"])
    params = section.family_params()
    steps = int(config["run"]["steps"])
    if "gap" not in params:
        try:
            spec = spectrum(section.family, 10**6, r=r, kappa=kappa, **params)
            pred = predict_stages(
                log10_d, spec.top(r), bulk_of(spec), eta=eta, varpi=varpi, n_steps=steps
            )
        except (SpectrumError, ValueError):
            return out
        return pred.rise if quantity == "rise" else pred.t_k_star
    for i, x in enumerate(log10_d):
        spec = spectrum(section.family, as_dimension({"log10": float(x)}), r=r, kappa=kappa,
                        **params)  # fmt: skip
        lam = spec.top_eigenvalues
        if quantity == "t_k_star":
            out[i] = math.ceil(t_sharp(eta, spec.Delta, r))
            continue
        for j in range(r):
            start = math.log(spec.Delta / (2 * varpi**2 * chi2_median(r - j))) + x * math.log(10)
            out[i, j] = start / (2 * math.log1p(eta * (lam[j] - lam[r])))
    return np.where(out <= steps, out, np.nan)


def _groups(ds: xr.Dataset):
    dims = [dim for dim in _GROUP_DIMS if dim in ds.dims]
    index = [np.atleast_1d(ds[dim].values) for dim in dims]
    for values in np.array(np.meshgrid(*index, indexing="ij")).reshape(len(dims), -1).T:
        yield dict(zip(dims, values, strict=True))


def regime_growth(
    ds: xr.Dataset,
    quantities=("t_k_star", "rise"),
    *,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[dict]:
    """Measured and predicted growth of each stage quantity per group and k (module notes).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with a ``config`` attribute, ``d`` and ``seed`` dims.
    quantities : sequence of str
        ``t_k_star`` and/or ``rise``.
    n_boot, seed, confidence
        Bootstrap of the slope ratio over seeds (seeded: reruns are identical).

    Returns
    -------
    list of dict
        One row per (group, quantity, k): ``group`` (dict), ``quantity``, ``k``,
        ``log10_d`` (the d values with a median), ``measured`` and ``predicted`` medians,
        ``bound_dominated`` (fraction of runs per d, t_k^* only), ``ratio`` with
        ``ratio_low`` / ``ratio_high``, ``ratio_predicted``, ``exponent`` and
        ``exponent_predicted``, ``verdict`` and ``verdict_predicted``.
    """
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2
    log_d_all = stored_dimension_log10(ds["d"].values) * math.log(10.0)
    rows = []
    for group in _groups(ds):
        point = ds.sel({name: value for name, value in group.items()})
        r = int(group["r"])
        for quantity in quantities:
            predicted = predicted_medians(ds, group, quantity)
            for j in range(predicted.shape[1]):
                k = j + 1
                values = point[quantity].sel(k=k).transpose("d", "seed").values.astype(float)
                if quantity == "t_k_star":
                    values, predicted[:, j] = _measured_part(point, k, values, predicted[:, j])
                rows.append(
                    _row(group, quantity, k, r, values, predicted[:, j], log_d_all, point,
                         rng, n_boot, tail)
                )  # fmt: skip
    return rows


def _measured_part(point, k, values, predicted):
    """t_k^* where it is measured: with at least 4 d values whose runs are mostly measured (not
    bound-dominated), the bound-dominated runs and the d values mostly bound-dominated are left
    out (a constant ceil(t^sharp) followed by a log law would read as curvature); otherwise
    (bound-dominated throughout, e.g. a gap that shrinks with d) every value is kept."""
    flag = point["t_k_star_bound_dominated"].sel(k=k).transpose("d", "seed").values.astype(bool)
    measured = np.isfinite(values) & ~flag
    mostly = measured.sum(axis=1) >= 0.5 * np.isfinite(values).sum(axis=1).clip(min=1)
    mostly &= measured.any(axis=1)
    if mostly.sum() < 4:
        return values, predicted
    keep = measured & mostly[:, None]
    return np.where(keep, values, np.nan), np.where(mostly, predicted, np.nan)


def _row(group, quantity, k, r, values, predicted, log_d, point, rng, n_boot, tail) -> dict:
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = np.nanmedian(values, axis=1)
            boots = []
            for _ in range(n_boot):
                pick = rng.integers(0, values.shape[1], size=values.shape[1])
                boots.append(slope_ratio(log_d, np.nanmedian(values[:, pick], axis=1)))
    boots = np.asarray(boots)
    boots = boots[np.isfinite(boots)]
    low, high = np.quantile(boots, [tail, 1 - tail]) if boots.size else (np.nan, np.nan)
    bound = None
    if quantity == "t_k_star":
        flag = point["t_k_star_bound_dominated"].sel(k=k).transpose("d", "seed").values
        bound = np.where(np.isfinite(values), flag.astype(bool), False).mean(axis=1)
    ratio = slope_ratio(log_d, medians)
    ratio_predicted = slope_ratio(log_d, predicted)
    return {
        "group": {
            name: (value.item() if hasattr(value, "item") else value)
            for name, value in group.items()
        },  # fmt: skip
        "quantity": quantity,
        "k": k,
        "log10_d": log_d / math.log(10.0),
        "measured": medians,
        "predicted": predicted,
        "bound_dominated": bound,
        "ratio": ratio,
        "ratio_low": float(low),
        "ratio_high": float(high),
        "ratio_predicted": ratio_predicted,
        "exponent": _exponent(log_d, medians),
        "exponent_predicted": _exponent(log_d, predicted),
        "verdict": _verdict(low, high),
        # the prediction has no scatter: read with a band of PREDICTION_BAND either side
        "verdict_predicted": _verdict(
            ratio_predicted / (1 + PREDICTION_BAND), ratio_predicted * (1 + PREDICTION_BAND)
        ),
    }


def _verdict(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "undetermined"
    if low > FASTER_RATIO:
        return "faster than log d"
    if low > 1:
        return "local slope rising, below the faster-than-log threshold"
    if high >= 1 or low >= 1 / FASTER_RATIO:
        return "consistent with log d"
    return "local slope falling"
