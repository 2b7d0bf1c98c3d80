"""Audit of Theorem 6: do the recorded trajectories obey the bounds the theorem states?

A violation is a finding to report, not an error. Bounds are only checked where the theorem's
conditions hold: eta <= Delta / (100 lambda_1^2) and sigma_1(X_0) <= 1 / sqrt(3 eta).

Precision floor
---------------
A measured diagnostic is only known to within its rounding floor. Where the bound is at or below
the floor, or the value and the bound differ by no more than the floor, the comparison says
nothing: the step is counted in ``unresolved_<property>``, never as a violation (a value at its
floor is unresolved against a bound at or below it). Elsewhere the step is checked, and a
violation needs the value to exceed the bound by more than the floor. A value below its floor
against a bound well above it is a resolved pass. Floors (:func:`rounding_floors`):

* noise_k: the dataset's ``noise_floor`` variable when present (the engine's per-step level
  below which noise_k is not resolved by a float64 iterate); otherwise the conservative closed
  form :func:`noise_floor_closed_form`, which covers both the float64 iterate's own floor and
  the Gram-form evaluation noise_k^2 = u_k H u_k^T + sum_{i>k} (u_i . u_k)^2 of older stores.
* |lambda_k - sigma_1^2(u_k)|: 8 r eps max(lambda_k, sigma_1^2(u_k)) (a sum of r squares
  of a float64 row, and the row's own rounding each step).

The membership properties (S, R, signal above Delta/2) compare with thresholds of order Delta,
far above any rounding; their unresolved count is 0 by definition.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.theory import contraction, contraction_signal_error, theorem6_conditions

__all__ = [
    "audit_theorem6",
    "audit_table",
    "audit_summary",
    "rounding_floors",
    "noise_floor_closed_form",
    "PROPERTIES",
]

# relative slack so that a bound met with equality up to rounding is not a violation
_SLACK = 1e-9
EPS = float(np.finfo(np.float64).eps)
# constants of the closed-form noise floor (see noise_floor_closed_form)
ITERATE_FLOOR_FACTOR = 64.0
SUMMATION_ROWS = 16_384  # mfsim.engine.kernels.BLOCK_ROWS: rows summed in one partial Gram

PROPERTIES = {
    "S_absorbing": "property 1 / Lemma 8: X_t in S for all t >= t_init,1",
    "signal_stays": "property 3: sigma_1^2(u_{k,t}) >= Delta/2 for t >= t_init,k + T_{u_k}",
    "noise_decay": "property 4: sigma_1(u_{k,t} K_{k,t}^T) <= (1 - eta Delta/6)^(t - t_k), k < r",
    "signal_error": "property 4, eq. 16: |lambda_k - sigma_1^2(u_{k,t})| <= "
    "(2 lambda_1 + 24 r/(eta Delta)) (1 - eta Delta/8)^(t - t_k), k < r",
    "in_R": "property 5: X_t in R for all t >= t_R",
}


def theorem_conditions(ds: xr.Dataset) -> xr.DataArray:
    """True where eta <= Delta/(100 lambda_1^2) and sigma_1(X_0) <= 1/sqrt(3 eta) (Theorem 6)."""
    return theorem6_conditions(ds.eta, ds.Delta, ds.lambda_1, ds.sigma1_sq_X.sel(step=0))


def noise_floor_closed_form(ds: xr.Dataset) -> xr.DataArray:
    """Conservative rounding floor of noise_k = sigma_1(u_k K_k^T), from recorded diagnostics.

    floor_k = 64 eps sigma_1(u_k) sigma_1(K_k)
              + sqrt(eps (2 r^2 + 2 r min(d, 16384))) sigma_1(u_k) sigma_1(J)

    First term: the float64 iterate itself. Each step rounds every row x_i (i > k) relative to
    its own size, so u_k . x_i is re-seeded at about eps |u_k| |x_i| per step; summed over the
    rows of K_k this gives a floor c eps sigma_1(u_k) sigma_1(K_k) with c of order 1 to 10
    (6.0e-16 measured against an independent float64 run's 5.4e-16, sigma_1(u_k) = 1); 64 is a
    margin. Second term: the Gram form used by older stores. The quadratic form u_k H u_k^T of
    H = J^T J has absolute error <= 2 r^2 eps ||u_k||^2 ||H||_2 (Higham, Thm 3.5, |H_pq| <=
    ||H||_2) and H's own summation over at most min(d, 16384) rows per partial adds
    <= 2 r n eps ||u_k||^2 ||H||_2; the square root of the sum bounds the error of noise_k.

    Parameters
    ----------
    ds : xarray.Dataset
        With ``signal``, ``sigma1_sq_K``, ``sigma1_sq_J`` (dims as in ``docs/design.md``).

    Returns
    -------
    xarray.DataArray
        Same dims as ``ds.noise``.
    """
    d = ds.d.astype(np.float64)
    # a negative stored d is -log10 d (d beyond float64): far above SUMMATION_ROWS
    d = d.where(d > 0, SUMMATION_ROWS).clip(max=SUMMATION_ROWS)
    r = ds.r.astype(np.float64)
    sigma_u = np.sqrt(ds.signal.clip(min=0))
    iterate = ITERATE_FLOOR_FACTOR * EPS * sigma_u * np.sqrt(ds.sigma1_sq_K.clip(min=0))
    gram = np.sqrt(EPS * (2 * r**2 + 2 * r * d)) * sigma_u * np.sqrt(ds.sigma1_sq_J.clip(min=0))
    return iterate + gram


def rounding_floors(ds: xr.Dataset) -> dict:
    """The rounding floor of each compared quantity (module notes), keyed by property name.

    Returns
    -------
    dict
        ``noise_decay``: the floor of noise_k; ``signal_error``: the floor of
        |lambda_k - sigma_1^2(u_k)|; both broadcast like ``ds.noise``.
    """
    noise = ds["noise_floor"] if "noise_floor" in ds else noise_floor_closed_form(ds)
    signal = 8.0 * ds.r * EPS * np.maximum(ds.lambda_k, ds.signal)
    return {"noise_decay": noise, "signal_error": signal}


def _resolved(value, bound, floor):
    """The comparison of value with bound is decided: the bound is above the floor and the two
    differ by more than the floor."""
    return (bound > floor) & (np.abs(value - bound) > floor)


def audit_theorem6(ds: xr.Dataset) -> xr.Dataset:
    """Count, per run, the recorded steps that violate each bound of Theorem 6.

    Parameters
    ----------
    ds : xarray.Dataset
        A batch from :func:`mfsim.simulate` or a sweep store (any grid dims in front).

    Returns
    -------
    xarray.Dataset
        For each property ``p`` of :data:`PROPERTIES`: ``checked_p`` (steps where the bound
        applies and is resolved), ``unresolved_p`` (steps where it applies but the bound is at
        or below the rounding floor, or differs from the value by no more than it) and
        ``violations_p`` (checked steps where the value exceeds the bound by more than the
        floor), per run; ``conditions_hold`` per run.
        Only recorded steps can be checked: with a sparse recording policy the audit is a
        sample of the trajectory (stated in the attributes). The attribute ``coverage`` is
        ``"empty"`` when no step was checked at all (no run met the conditions, or none got
        to the steps the theorem names): such an audit says nothing, it is not "no violation".

    Notes
    -----
    The stage times come from the stage analysis (every step), so a bound is applied from the
    exact step the theorem names. t_k is rounded up (see :mod:`mfsim.engine.stages`), which can
    only loosen the bounds of property 4.
    """
    step = ds.step
    valid = ds.error.notnull()
    holds = theorem_conditions(ds)
    lower_k = ds.k < ds.r  # property 4 is stated for k < r
    defined_k = ds.k <= ds.r
    q6 = contraction(ds.eta, ds.Delta)
    q8 = contraction_signal_error(ds.eta, ds.Delta)
    since_tk = step - ds.t_k
    floors = rounding_floors(ds)
    noise_bound = q6**since_tk
    error_bound = (2 * ds.lambda_1 + 24 * ds.r / (ds.eta * ds.Delta)) * q8**since_tk
    signal_error = np.abs(ds.lambda_k - ds.signal)
    resolved = xr.DataArray(True)
    # (applies, fails, resolved) per property
    checks = {
        "S_absorbing": ((step >= ds.first_in_S) & valid, ds.in_S == 0, resolved),
        "signal_stays": (
            (step >= ds.t_init + ds.T_u) & valid & defined_k,
            ds.signal < (ds.Delta / 2.0) * (1 - _SLACK),
            resolved,
        ),
        "noise_decay": (
            (since_tk >= 0) & valid & lower_k,
            ds.noise - noise_bound * (1 + _SLACK) > floors["noise_decay"],
            _resolved(ds.noise, noise_bound, floors["noise_decay"]),
        ),
        "signal_error": (
            (since_tk >= 0) & valid & lower_k,
            signal_error - error_bound * (1 + _SLACK) > floors["signal_error"],
            _resolved(signal_error, error_bound, floors["signal_error"]),
        ),
        "in_R": ((step >= ds.t_R) & valid, ds.in_R == 0, resolved),
    }
    out = {}
    for name, (applies, fails, is_resolved) in checks.items():
        applies = applies & holds
        reduce_dims = [d for d in applies.dims if d in ("step", "k")]
        checked = applies & is_resolved
        out[f"checked_{name}"] = checked.sum(reduce_dims)
        out[f"unresolved_{name}"] = (applies & ~is_resolved).sum(reduce_dims)
        out[f"violations_{name}"] = (checked & fails).sum(reduce_dims)
        for kind, text in (
            ("checked", "steps checked (bound applies and is resolved)"),
            ("unresolved", "steps not resolved (bound at the rounding floor or within it)"),
            ("violations", "violations (value above bound by more than the floor)"),
        ):
            out[f"{kind}_{name}"].attrs = {
                "long_name": f"{text}: {PROPERTIES[name]}",
                "units": "steps",
            }
    out["conditions_hold"] = holds
    audit = xr.Dataset(out)
    audit = audit.compute() if hasattr(audit, "compute") else audit
    checked_total = sum(int(audit[f"checked_{name}"].sum()) for name in PROPERTIES)
    audit.attrs = {
        "description": "Theorem 6 audit over the recorded steps; a violation is a finding",
        "recorded_steps": int(step.size),
        "last_step": int(step.max()),
        "noise_floor_source": "noise_floor variable"
        if "noise_floor" in ds
        else "closed form (mfsim.analysis.audit.noise_floor_closed_form)",
        "runs_meeting_conditions": int(holds.sum()),
        "steps_checked": checked_total,
        "coverage": "empty" if checked_total == 0 else "covered",
    }
    return audit


def audit_table(audit: xr.Dataset):
    """Totals per property: runs checked, steps checked and unresolved, violations, runs with a
    violation."""
    import pandas as pd

    rows = []
    holds = audit.conditions_hold
    for name, text in PROPERTIES.items():
        violations = audit[f"violations_{name}"]
        rows.append(
            {
                "property": text,
                "runs meeting the conditions": int(holds.sum()),
                "steps checked": int(audit[f"checked_{name}"].sum()),
                "steps unresolved (rounding floor)": int(audit[f"unresolved_{name}"].sum()),
                "violating steps": int(violations.sum()),
                "runs with a violation": int((violations > 0).sum()),
            }
        )
    return pd.DataFrame(rows)


def audit_summary(audit: xr.Dataset) -> str:
    """One sentence on what the audit covered and found; an empty audit says so."""
    runs = int(audit.conditions_hold.sum())
    if audit.attrs.get("coverage") == "empty" or runs == 0:
        if runs == 0:
            return (
                "The Theorem 6 audit covered no run: no run meets the theorem's conditions "
                "(eta <= Delta/(100 lambda_1^2), sigma_1(X_0) <= 1/sqrt(3 eta)); it says nothing "
                "about the bounds."
            )
        return (
            f"The Theorem 6 audit checked no step: {runs} runs meet the conditions but none "
            "recorded a step where a bound applies and is resolved; it says nothing about them."
        )
    checked = sum(int(audit[f"checked_{name}"].sum()) for name in PROPERTIES)
    unresolved = sum(int(audit[f"unresolved_{name}"].sum()) for name in PROPERTIES)
    violations = sum(int(audit[f"violations_{name}"].sum()) for name in PROPERTIES)
    return (
        f"The Theorem 6 audit checked {checked} steps of {runs} runs: {violations} violations; "
        f"{unresolved} steps were at the float64 rounding floor and not compared."
    )
