"""Audit of Theorem 6: do the recorded trajectories obey the bounds the theorem states?

A violation is a finding to report, not an error. Bounds are only checked where the theorem's
conditions hold: eta <= Delta / (100 lambda_1^2) and sigma_1(X_0) <= 1 / sqrt(3 eta).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["audit_theorem6", "audit_table", "PROPERTIES"]

# relative slack so that a bound met with equality up to rounding is not a violation
_SLACK = 1e-9

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
    sigma1_sq_x0 = ds.sigma1_sq_X.sel(step=0)
    return (ds.eta <= ds.Delta / (100.0 * ds.lambda_1**2)) & (sigma1_sq_x0 <= 1.0 / (3.0 * ds.eta))


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
        applies) and ``violations_p`` (steps where it fails), per run; ``conditions_hold`` per
        run. Only recorded steps can be checked: with a sparse recording policy the audit is a
        sample of the trajectory (stated in the attributes).

    Notes
    -----
    The stage times come from the stage analysis (every step), so a bound is applied from the
    exact step the theorem names. t_k is rounded up (see :mod:`mfsim.stages`), which can only
    loosen the bounds of property 4.
    """
    step = ds.step
    valid = ds.error.notnull()
    holds = theorem_conditions(ds)
    lower_k = ds.k < ds.r  # property 4 is stated for k < r
    defined_k = ds.k <= ds.r
    q6 = 1.0 - ds.eta * ds.Delta / 6.0
    q8 = 1.0 - ds.eta * ds.Delta / 8.0
    since_tk = step - ds.t_k
    checks = {
        "S_absorbing": ((step >= ds.first_in_S) & valid, ds.in_S == 0),
        "signal_stays": (
            (step >= ds.t_init + ds.T_u) & valid & defined_k,
            ds.signal < (ds.Delta / 2.0) * (1 - _SLACK),
        ),
        "noise_decay": (
            (since_tk >= 0) & valid & lower_k,
            ds.noise > q6**since_tk * (1 + _SLACK),
        ),
        "signal_error": (
            (since_tk >= 0) & valid & lower_k,
            np.abs(ds.lambda_k - ds.signal)
            > (2 * ds.lambda_1 + 24 * ds.r / (ds.eta * ds.Delta)) * q8**since_tk * (1 + _SLACK),
        ),
        "in_R": ((step >= ds.t_R) & valid, ds.in_R == 0),
    }
    out = {}
    for name, (applies, fails) in checks.items():
        applies = applies & holds
        reduce_dims = [d for d in applies.dims if d in ("step", "k")]
        out[f"checked_{name}"] = applies.sum(reduce_dims)
        out[f"violations_{name}"] = (applies & fails).sum(reduce_dims)
        out[f"checked_{name}"].attrs = {
            "long_name": f"steps checked: {PROPERTIES[name]}",
            "units": "steps",
        }
        out[f"violations_{name}"].attrs = {
            "long_name": f"violations: {PROPERTIES[name]}",
            "units": "steps",
        }
    out["conditions_hold"] = holds
    audit = xr.Dataset(out)
    audit.attrs = {
        "description": "Theorem 6 audit over the recorded steps; a violation is a finding",
        "recorded_steps": int(step.size),
        "last_step": int(step.max()),
    }
    return audit.compute() if hasattr(audit, "compute") else audit


def audit_table(audit: xr.Dataset):
    """Totals per property: runs checked, steps checked, violations, runs with a violation."""
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
                "violating steps": int(violations.sum()),
                "runs with a violation": int((violations > 0).sum()),
            }
        )
    return pd.DataFrame(rows)
