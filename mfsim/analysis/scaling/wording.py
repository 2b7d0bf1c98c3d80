"""Words of a fit: which case a group is and why, and what was excluded from the fit."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from mfsim.analysis.scaling.runs import STATUS_NO_RUN
from mfsim.analysis.scaling.verdict import (
    VERDICT_BOUND,
    VERDICT_INCONCLUSIVE,
    VERDICT_NO_RUNS,
    VERDICT_NOT_ENOUGH,
    VERDICT_NOT_REACHED,
    VERDICT_UNDEFINED,
)
from mfsim.datamodel import stored_dimension_log10, stored_dimension_text

#: How values <= 0 are handled (also in the fit attrs and the report).
NONPOSITIVE_POLICY = (
    "const, log and the Box-Cox family use every fitted point; the power law c d^alpha cannot "
    "describe values <= 0, so in a group with any value <= 0 it is excluded from both the fit "
    "and the CV comparison (never fitted on a subset of the points); the Box-Cox family, "
    "which contains the shifted power laws a + c d^alpha, still tests power-type growth there"
)


def _literal_context(ds: xr.Dataset, runs: xr.Dataset, quantity: str) -> dict[str, xr.DataArray]:
    """Per (group, d): ceil(t^sharp), median t_k and the last step the runs reached.

    NaN where the sweep lacks the variable (``t_sharp``, ``t_k``, ``stop_step``).
    """
    shape = runs["value"].isel(seed=0, drop=True)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, source, reduce in (
            ("ceil_t_sharp", "t_sharp", "max"),
            ("t_k_median", "t_k", "median"),
            ("stop_step_max", "stop_step", "max"),
        ):
            if source in ds.variables and (quantity == "t_k_star" or name == "stop_step_max"):
                da = ds[source].compute().astype(float)
                if "status" in ds.data_vars:
                    da = da.where(ds["status"] != STATUS_NO_RUN)
                if "seed" in da.dims:
                    da = getattr(da, reduce)("seed", skipna=True)
                if name == "ceil_t_sharp":
                    da = np.ceil(da)
                da = xr.broadcast(da, shape)[0].transpose(*shape.dims)
                out[name] = da.reindex_like(shape)
            else:
                out[name] = xr.full_like(shape, np.nan, dtype=float)
    return out


def _case(verdict, quantity, d_values, counts, used, context) -> tuple[str, str]:
    """Which case a group is (measured / bound-dominated / not reached / ...) and why, in words."""
    if verdict in (VERDICT_NO_RUNS, VERDICT_UNDEFINED):
        return verdict, ""
    n_bound = int(counts["n_bound_dominated"].sum())
    n_not = int(counts["n_not_reached"].sum())
    literal = quantity == "t_k_star"
    sharp = context["ceil_t_sharp"]
    sharp_text = f" = {np.nanmax(sharp):.0f}" if literal and np.isfinite(sharp).any() else ""
    bound_why = (
        f"t_k^* = ceil(t^sharp){sharp_text} by construction: signal k+1 had already risen "
        "(sigma_1^2(u_(k+1)) >= Delta/2) by t_k + ceil(t^sharp), so eq. (15) first holds at "
        "s = ceil(t^sharp); constant in d, not fitted"
    )
    stop = context["stop_step_max"]
    t_k = context["t_k_median"]

    def not_reached_why(mask) -> str:
        stop_text = (
            f" at step {np.nanmax(np.where(mask, stop, np.nan)):.0f} or earlier"
            if np.isfinite(np.where(mask, stop, np.nan)).any()
            else ""
        )
        if literal:
            tk = np.where(mask, t_k, np.nan)
            tk_text = (
                f"t_k = {np.nanmin(tk):.0f} to {np.nanmax(tk):.0f} steps"
                if np.isfinite(tk).any()
                else "t_k (itself not reached)"
            )
            return f"the runs stopped{stop_text}, before t_k^* could be evaluated from {tk_text}"
        return f"the runs stopped{stop_text} before the stage"

    def d_range(mask) -> str:
        d = d_values[mask]  # as stored: -log10(d) beyond float64
        order = stored_dimension_log10(d)
        low = stored_dimension_text(d[np.argmin(order)])
        return f"d = {low}" + (
            f" to {stored_dimension_text(d[np.argmax(order)])}" if d.size > 1 else ""
        )

    bound_d = counts["n_bound_dominated"] > 0
    not_d = counts["n_not_reached"] > 0
    if verdict == VERDICT_BOUND:
        where = (
            " (the literal t_k^* becomes measurable only at far larger d: docs/transition.md, "
            "config/transition.yaml)"
            if literal
            else ""
        )
        return (
            "bound-dominated",
            f"bound-dominated at every d ({d_range(bound_d)}): {bound_why}{where}",
        )
    if verdict == VERDICT_NOT_REACHED:
        return "not reached", f"not reached ({d_range(not_d)}): {not_reached_why(not_d)}"
    if verdict in (VERDICT_NOT_ENOUGH, VERDICT_INCONCLUSIVE):
        return verdict, f"fewer than the required d values with measured runs ({int(used.sum())})"
    parts = [f"measured (fitted) at {int(used.sum())} d values, {d_range(used)}"]
    if n_bound:
        parts.append(f"bound-dominated in {n_bound} runs at {d_range(bound_d)} ({bound_why})")
    if n_not:
        parts.append(f"not reached in {n_not} runs at {d_range(not_d)} ({not_reached_why(not_d)})")
    return "measured", "; ".join(parts)


def _caveat(
    n_runs: np.ndarray,
    n_not: np.ndarray,
    n_bound: np.ndarray,
    used: np.ndarray,
    min_seeds: int,
    n_nonpositive: int,
) -> str:
    """Short text on what was excluded from the fit of one group (empty if nothing)."""
    parts = []
    unused = int(np.sum((n_runs > 0) & ~used))
    if n_not.sum():
        parts.append(f"{int(n_not.sum())} runs did not reach the stage (censored, not fitted)")
    if n_bound.sum():
        parts.append(f"{int(n_bound.sum())} bound-dominated values excluded")
    if unused:
        parts.append(f"{unused} d values with < {min_seeds} reached runs not fitted")
    if n_nonpositive:
        parts.append(
            f"{n_nonpositive} values <= 0: power law c d^alpha not fitted and not compared "
            "(all models compared on the same points; Box-Cox tests power-type growth)"
        )
    return "; ".join(parts)
