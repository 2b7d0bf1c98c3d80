"""The rows of the report's tables, read from the fits through the public names of
:mod:`mfsim.analysis.scaling`: one row per (quantity, group, k or eps)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.analysis.scaling import (
    MODELS,
    VERDICT_FASTER,
    VERDICT_LOG_OR_POWER,
    VERDICT_NO_RUNS,
    VERDICT_UNDEFINED,
    fit_quantities,
    fits_for,
)
from mfsim.output.selection import smallest_and_largest_d
from mfsim.output.style import scalar

__all__ = ["LITERAL", "model_wording", "opening_sentences", "verdict_rows"]

#: The literal quantity of the paper; every other stage quantity is a proxy.
LITERAL = "t_k_star"
_OMITTED = (VERDICT_UNDEFINED, VERDICT_NO_RUNS)
_MODEL_WORDS = {"log": "the log law", "power": "the power law", "const": "the constant"}
_COUNTS = ("n_runs", "n_reached", "n_not_reached", "n_bound_dominated", "n_diverged")


def _fmt(value) -> str:
    value = float(value)
    return "\u2013" if not np.isfinite(value) else f"{value:.3g}"


def _interval(fit: xr.Dataset, name: str) -> str:
    return f"{_fmt(fit[name])} [{_fmt(fit[name + '_lo'])}, {_fmt(fit[name + '_hi'])}]"


def _plain(value) -> str:
    value = scalar(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _text(g: xr.Dataset, name: str) -> str:
    return str(g[name].values) if name in g else ""


def _models(g: xr.Dataset) -> tuple[list[str], list[str]]:
    """(models the preferred one beats decisively, models not fitted), from ``cv_excess_lo``
    (lower bootstrap bound of the CV RMSE difference to the preferred model) and ``cv_rmse``."""
    models = [m for m in MODELS if m in g["model"].values]
    preferred = str(g["preferred_model"].values)
    over, not_fitted = [], []
    for model in models:
        if model == preferred:
            continue
        if not np.isfinite(float(g["cv_rmse"].sel(model=model))):
            not_fitted.append(model)
        elif "cv_excess_lo" in g and float(g["cv_excess_lo"].sel(model=model)) > 0:
            over.append(model)
    return over, not_fitted


def model_wording(row: dict) -> str:
    """The model comparison of one row in words, consistent with its verdict.

    States the model with the lowest cross-validated error, the models it beats decisively
    (bootstrap interval of the CV RMSE difference above 0) and those not fitted; where the
    verdict is decided by another criterion (the Box-Cox exponent for "grows faster", the
    power law not beaten decisively for "both consistent") it says so, so that a row never
    reads "decisive" beside a verdict that is not.
    """
    preferred = row["preferred"]
    if str(preferred).lower() in ("", "none"):
        return "no model fitted"
    text = f"lowest cross-validated error: {_MODEL_WORDS.get(preferred, preferred)}"
    if row["decisive_over"]:
        text += ", decisively below " + " and ".join(
            _MODEL_WORDS.get(m, m) for m in row["decisive_over"]
        )
    if row["not_fitted"]:
        text += "; not fitted: " + ", ".join(_MODEL_WORDS.get(m, m) for m in row["not_fitted"])
    if row["verdict"] == VERDICT_LOG_OR_POWER:
        other = "the power law" if preferred != "power" else "the log law"
        text += f"; {other} is not ruled out"
    if row["verdict"] == VERDICT_FASTER:
        text += "; the verdict follows the Box-Cox exponent (its interval lies above 0)"
    return text


def _d_range(g: xr.Dataset) -> tuple[float, float]:
    """Smallest and largest d used in the fit (NaN when none)."""
    if "used_in_fit" not in g:
        return np.nan, np.nan
    used = np.asarray(g["used_in_fit"].values, dtype=bool)
    d = np.asarray(g["d"].values, dtype=float)
    if not used.any():
        return np.nan, np.nan
    low, *high = smallest_and_largest_d(d[used])  # stored d: -log10 d beyond float64
    return float(low), float(high[0] if high else low)


def _row(g: xr.Dataset, quantity: str, group: str, index: str) -> dict:
    over, not_fitted = _models(g)
    d_min, d_max = _d_range(g)
    row = {
        "quantity": quantity,
        "group": group,
        "index": index,
        "preferred": str(g["preferred_model"].values),
        "decisive": bool(g["decisive"].values),
        "decisive_over": over,
        "not_fitted": not_fitted,
        "slope": _interval(g, "log_slope"),
        "exponent": _interval(g, "power_exponent"),
        "cv": ", ".join(
            f"{m} {_fmt(g['cv_rmse'].sel(model=m))}" for m in MODELS if m in g["model"]
        ),
        "verdict": str(g["verdict"].values),
        "detail": _text(g, "verdict_detail"),
        "case": _text(g, "case"),
        "case_text": _text(g, "case_text"),
        "boxcox": _interval(g, "boxcox_alpha") if "boxcox_alpha" in g else "",
        "caveat": str(g["caveat"].values),
        "n_d_used": int(g["n_d_used"].values),
        "n_d": int((g["n_runs"] > 0).sum()),
        "d_min": d_min,
        "d_max": d_max,
        **{name: int(g[name].sum()) for name in _COUNTS},
    }
    row["models_text"] = model_wording(row)
    return row


def verdict_rows(fits: xr.Dataset) -> tuple[list[dict], int, str]:
    """Rows of the verdict tables, one per (quantity, group, k or eps).

    Parameters
    ----------
    fits : xarray.Dataset
        Output of :func:`~mfsim.analysis.scaling.fit_all` or ``fit_scaling``.

    Returns
    -------
    rows : list of dict
        Keys ``quantity, group, index, preferred, decisive, decisive_over, not_fitted,
        models_text, slope, exponent, cv, verdict, detail, case, case_text, boxcox, caveat,
        n_runs, n_reached, n_not_reached, n_bound_dominated, n_diverged, n_d_used, n_d, d_min,
        d_max`` (counts summed over d; d_min, d_max: the d range of the fit; strings
        unescaped).
    n_omitted : int
        Combinations left out because the quantity is not defined there (k > r, or k = r for
        t_k_star, escape, plateau) or the grid cell has no runs.
    fixed : str
        Grid dims with a single value, ``"dim=value, ..."``; ``group`` names only the others.
    """
    rows, n_omitted, fixed = [], 0, {}
    for quantity in fit_quantities(fits):
        fit = fits_for(fits, quantity)
        group_dims = list(fit["verdict"].dims)
        index_dim = next((dim for dim in ("k", "eps") if dim in group_dims), None)
        stacked = fit.stack(_group=group_dims) if group_dims else fit.expand_dims("_group")
        for i in range(stacked.sizes["_group"]):
            g = stacked.isel(_group=i)
            if str(g["verdict"].values) in _OMITTED:
                n_omitted += 1
                continue
            outer = [dim for dim in group_dims if dim != index_dim]
            group = ", ".join(
                f"{dim}={_plain(g[dim].values)}" for dim in outer if fit.sizes[dim] > 1
            )
            fixed.update({dim: _plain(g[dim].values) for dim in outer if fit.sizes[dim] == 1})
            index = f"{index_dim}={_plain(g[index_dim].values)}" if index_dim else ""
            rows.append(_row(g, quantity, group, index))
    return rows, n_omitted, ", ".join(f"{dim}={value}" for dim, value in fixed.items())


def opening_sentences(rows: list[dict]) -> list[str]:
    """One sentence per quantity on the Transition Assumption (plain text, unescaped).

    Each sentence names, for every group and k (or eps) of the quantity, its case and verdict:
    measured and what the fit says (the verdict, its detail), bound-dominated and why, or not
    reached and why.
    """
    by_quantity: dict[str, list[dict]] = {}
    for row in rows:
        by_quantity.setdefault(row["quantity"], []).append(row)
    order = sorted(by_quantity, key=lambda q: (q != LITERAL, q))
    sentences = []
    for quantity in order:
        clauses = []
        for row in by_quantity[quantity]:
            where = ", ".join(part for part in (row["group"], row["index"]) if part)
            where = f"{where}: " if where else ""
            if row["case"] == "measured":
                detail = f" ({row['detail']})" if row["detail"] else ""
                clauses.append(f"{where}{row['case_text']}; {row['verdict']}{detail}")
            else:
                clauses.append(f"{where}{row['case_text'] or row['verdict']}")
        name = "literal t_k^* (eq. 15)" if quantity == LITERAL else f"proxy {quantity}"
        sentences.append(f"{name}: " + "; ".join(clauses) + ".")
    return sentences
