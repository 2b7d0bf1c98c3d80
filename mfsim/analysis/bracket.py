"""The bracket of the literal t_k^* between ceil(t^sharp) and the next signal's rise, per run.

For k < r, with q = 1 - eta Delta / 6 and ``s_sharp = ceil(t^sharp)`` (eq. 14),

    s_sharp <= t_k^* <= max(s_sharp, rise_{k+1} - t_k),

the upper bound whenever sigma_1^2(u_{k+1}) >= Delta/2 at step t_k + max(s_sharp, rise_{k+1} -
t_k) (u_{k+1} stays risen after rise_{k+1}); and then t_k^* equals the upper end exactly when
the minimum of eq. (15) is attained by sqrt(Delta/2) (``t_k_star_bound_dominated``). Proof in
``docs/transition.md`` ("The bracket of t_k^*"). With the bracket, Assumption 5 (t_k^* =
O(log d)) reduces to rise_{k+1} - t_k = O(log d), a statement about the rise times.

:func:`audit_t_k_star_bracket` checks the three statements on every run of a sweep Dataset
from its stage variables; the comparisons are between integers (step numbers), so they are
exact. ``s_sharp`` is evaluated as the engine scans eq. (15) (the same float64 expressions,
:func:`mfsim.engine.stages.bound_only_s`), so a bound-dominated t_k^* equals it to the step.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.engine.stages import bound_only_s

__all__ = [
    "BRACKET_CHECKS",
    "BRACKET_PREFIX",
    "attach_bracket",
    "audit_t_k_star_bracket",
    "bracket_from_audit",
    "bracket_summary",
]

#: Prefix of the bracket's variables and attributes inside the audit store (``audit.zarr``).
BRACKET_PREFIX = "bracket_"

#: Per-run checks: name -> what a True entry means (a violation).
BRACKET_CHECKS = {
    "below_lower": "t_k^* < ceil(t^sharp) (impossible by eq. 15: a bug if it happens)",
    "above_upper": "t_k^* > max(ceil(t^sharp), rise_{k+1} - t_k): u_{k+1} fell back below "
    "Delta/2 after rise_{k+1} (the hypothesis fails), or a bug",
    "flag_mismatch": "t_k_star_bound_dominated differs from (t_k^* == max(ceil(t^sharp), "
    "rise_{k+1} - t_k)): the hypothesis fails, or a bug",
}


def _s_sharp(ds: xr.Dataset) -> xr.DataArray:
    """ceil(t^sharp) per grid point, as the engine evaluates it (bound_only_s)."""
    eta, delta, r = xr.broadcast(ds["eta"], ds["Delta"], ds["r"])
    values = np.vectorize(lambda e, g, n: bound_only_s(float(e), float(g), int(n)), otypes=[float])(
        eta.values, delta.values, r.values
    )
    return eta.copy(data=values).rename("s_sharp")


def audit_t_k_star_bracket(ds: xr.Dataset) -> xr.Dataset:
    """Check the bracket of t_k^* on every run (and every k < r) of a sweep Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset or :func:`mfsim.simulate` output with ``t_k_star``,
        ``t_k_star_bound_dominated``, ``t_k``, ``rise`` (dims ``k`` last among the run dims)
        and the coordinates ``eta``, ``Delta``, ``r``.

    Returns
    -------
    xarray.Dataset
        Per run and k: ``checked`` (t_k^* is a number and k < r), ``upper_end`` (max(ceil(
        t^sharp), rise_{k+1} - t_k), NaN where u_{k+1} never rose) and one boolean per entry
        of :data:`BRACKET_CHECKS` (True = violation). Attrs: ``runs_checked`` (entries
        checked), ``measured`` (checked entries that are not bound-dominated),
        ``violations_<check>`` (totals), ``violating_entries`` (entries with any violation)
        and ``statement``.

    Raises
    ------
    KeyError
        A required variable or coordinate is missing (named in the message).

    Notes
    -----
    Where u_{k+1} never rose within the run (``rise_{k+1}`` NaN) t_k^* cannot be
    bound-dominated (the minimum of eq. 15 stays below sqrt(Delta/2)): the flag must be False
    there, and only the lower bound applies.
    """
    required = ("t_k_star", "t_k_star_bound_dominated", "t_k", "rise", "eta", "Delta", "r")
    missing = [name for name in required if name not in ds.variables]
    if missing:
        raise KeyError(f"audit_t_k_star_bracket needs {missing}; the Dataset lacks them")
    t_star = ds["t_k_star"].astype(float)
    flag = ds["t_k_star_bound_dominated"].fillna(False).astype(bool)
    rise_next = ds["rise"].astype(float).shift(k=-1)
    s_sharp = _s_sharp(ds)
    checked = t_star.notnull() & (ds["k"] < ds["r"])
    upper = np.maximum(s_sharp, rise_next - ds["t_k"])  # NaN where rise_{k+1} is NaN
    risen = rise_next.notnull()
    at_upper = risen & (t_star == upper)
    out = xr.Dataset(
        {
            "checked": checked,
            "upper_end": upper.where(checked),
            "below_lower": checked & (t_star < s_sharp),
            "above_upper": checked & risen & (t_star > upper),
            "flag_mismatch": checked & (flag != at_upper),
        }
    )
    out = out.drop_vars([name for name in out.coords if name not in out.dims], errors="ignore")
    out["checked"].attrs["description"] = "t_k^* is a number and k < r: the bracket is checked"
    out["upper_end"].attrs.update(
        description="max(ceil(t^sharp), rise_{k+1} - t_k); NaN where u_{k+1} never rose",
        units="steps",
    )
    for name, text in BRACKET_CHECKS.items():
        out[name].attrs["description"] = f"violation: {text}"
    out.attrs = {
        "statement": "ceil(t^sharp) <= t_k^* <= max(ceil(t^sharp), rise_{k+1} - t_k), equality "
        "at the upper end iff bound-dominated (docs/transition.md)",
        "runs_checked": int(checked.sum()),
        "measured": int((checked & ~flag).sum()),
        "violating_entries": int(sum(out[name] for name in BRACKET_CHECKS).astype(bool).sum()),
        **{f"violations_{name}": int(out[name].sum()) for name in BRACKET_CHECKS},
    }
    return out


def bracket_summary(audit: xr.Dataset) -> str:
    """One sentence: how many (run, k) entries were checked and how many violate the bracket."""
    a = audit.attrs
    violations = a["violating_entries"]
    if a["runs_checked"] == 0:
        return "The t_k^* bracket checked no entry: no run has a literal t_k^* (k < r)."
    return (
        f"The t_k^* bracket (ceil(t^sharp) <= t_k^* <= max(ceil(t^sharp), rise_(k+1) - t_k)) "
        f"held on {a['runs_checked'] - violations} of {a['runs_checked']} (run, k) entries "
        f"({a['measured']} measured, the rest bound-dominated); {violations} violate it."
    )


def attach_bracket(audit: xr.Dataset, bracket: xr.Dataset) -> xr.Dataset:
    """The Theorem 6 audit with the bracket check beside it (one store, ``audit.zarr``).

    Parameters
    ----------
    audit : xarray.Dataset
        Output of :func:`mfsim.analysis.audit.audit_theorem6`.
    bracket : xarray.Dataset
        Output of :func:`audit_t_k_star_bracket` on the same sweep.

    Returns
    -------
    xarray.Dataset
        `audit` with every variable and attribute of `bracket` added under
        :data:`BRACKET_PREFIX` (per run and k); :func:`bracket_from_audit` takes them back out.
    """
    out = audit.copy()
    for name, variable in bracket.data_vars.items():
        out[BRACKET_PREFIX + name] = variable
    out.attrs.update({BRACKET_PREFIX + key: value for key, value in bracket.attrs.items()})
    return out


def bracket_from_audit(audit: xr.Dataset) -> xr.Dataset | None:
    """The bracket check stored by :func:`attach_bracket`, or None for an audit without it
    (a store written before the check was wired in)."""
    names = [name for name in audit.data_vars if str(name).startswith(BRACKET_PREFIX)]
    if not names:
        return None
    out = audit[names].rename({name: name[len(BRACKET_PREFIX) :] for name in names})
    out.attrs = {
        key[len(BRACKET_PREFIX) :]: value
        for key, value in audit.attrs.items()
        if key.startswith(BRACKET_PREFIX)
    }
    return out
