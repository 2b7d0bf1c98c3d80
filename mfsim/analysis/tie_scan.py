"""Stage times against ln d at several top gaps delta = lambda_1 - lambda_2 (ties: delta = 0).

The comparison behind ``mfsim.output.finding_ties``: for each gap, the separation
``learned_2 - learned_1`` of the two top stages and the Delta-free ``t_eps`` are fitted against
ln d by ordinary least squares over the seeds (one point per run), with the standard error of
the slope. At a tie, ``learned_1`` and ``learned_2`` are those of the cluster's squared singular
values (``docs/stages.md`` section 6); at delta > 0 those of the rows.
The small-signal prediction of each stage's slope is :func:`mfsim.small_signal.rise_slope`:
``1 / (2 ln(1 + eta (lambda_k - lambda_{r+1})))`` steps per unit ln d, so the predicted slope of
the separation is its k = 2 value minus its k = 1 value (0 at a tie).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from mfsim.engine.simulation import simulate
from mfsim.small_signal import rise_slope_for
from mfsim.spectra import spectrum

__all__ = ["scan", "slope_fit", "gap_rows"]


def scan(gaps, d_values, *, r=2, kappa=5.0, eta=0.1, varpi=0.5, seeds=range(32), steps=4000):
    """Run the flat family with ``top_gap`` = each gap at each d; the stage times per run.

    Returns
    -------
    dict
        ``gap -> {"d": array (n_d,), "learned": (n_d, seeds, r), "t_eps": (n_d, seeds, n_eps),
        "eps": (n_eps,), "predicted": (r,) small-signal rise slopes, "converged": int}``.
    """
    out = {}
    for gap in gaps:
        learned, t_eps, converged = [], [], 0
        for d in d_values:
            spec = spectrum("flat", d, r=r, kappa=kappa, top_gap=gap)
            with warnings.catch_warnings():  # the literal t_k^* chain is not used here
                warnings.simplefilter("ignore")
                ds = simulate(spec, eta=eta, steps=steps, varpi=varpi, seeds=seeds)
            learned.append(ds.learned.transpose("seed", "k").values)
            t_eps.append(ds.t_eps.transpose("seed", "eps").values)
            converged += int((ds.status.values == 0).sum())
        out[gap] = {
            "d": np.asarray(d_values, dtype=float),
            "learned": np.array(learned),
            "t_eps": np.array(t_eps),
            "eps": ds.eps.values,
            "predicted": rise_slope_for(spec, eta),
            "converged": converged,
        }
    return out


def slope_fit(ln_d, values) -> dict:
    """OLS of ``values`` (n_d, n_seeds) on ln d (n_d,), NaN runs dropped.

    Returns
    -------
    dict
        ``slope``, ``se`` (its standard error), ``intercept``, ``n`` (points used).
    """
    x = np.repeat(np.asarray(ln_d, dtype=float), np.shape(values)[1])
    y = np.asarray(values, dtype=float).ravel()
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    if y.size < 3 or np.ptp(x) == 0:
        return {"slope": math.nan, "se": math.nan, "intercept": math.nan, "n": int(y.size)}
    xc = x - x.mean()
    slope = float(np.sum(xc * (y - y.mean())) / np.sum(xc**2))
    intercept = float(y.mean() - slope * x.mean())
    resid = y - intercept - slope * x
    se = float(np.sqrt(np.sum(resid**2) / (y.size - 2) / np.sum(xc**2)))
    return {"slope": slope, "se": se, "intercept": intercept, "n": int(y.size)}


def gap_rows(results: dict) -> list[dict]:
    """One row per gap: fits of the separation, of learned_1 and of t_eps (first eps).

    Each row: ``gap``, ``d_min``, ``d_max``, ``n_seeds``, ``separation`` (fit dict),
    ``separation_median`` (median over seeds at each d), ``learned_1``, ``t_eps`` (fit dicts),
    ``eps``, ``predicted_separation`` and ``predicted_learned_1`` (small-signal slopes).
    """
    rows = []
    for gap, res in results.items():
        ln_d = np.log(res["d"])
        sep = res["learned"][..., 1] - res["learned"][..., 0]
        rows.append(
            {
                "gap": float(gap),
                "d_min": float(res["d"].min()),
                "d_max": float(res["d"].max()),
                "n_seeds": int(res["learned"].shape[1]),
                "separation": slope_fit(ln_d, sep),
                "separation_median": np.nanmedian(sep, axis=1).tolist(),
                "learned_1": slope_fit(ln_d, res["learned"][..., 0]),
                "t_eps": slope_fit(ln_d, res["t_eps"][..., 0]),
                "eps": float(res["eps"][0]),
                "predicted_separation": float(res["predicted"][1] - res["predicted"][0]),
                "predicted_learned_1": float(res["predicted"][0]),
            }
        )
    return rows
