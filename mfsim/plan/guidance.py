"""Warnings before a run: what the small-signal theory predicts for each group of the grid.

A group is one setting of ``(kappa, r, varpi, varpi_exponent, eta)``, its runs differing in d
and seed. For each group :func:`plan_warnings` predicts, from the leaf module
:mod:`mfsim.small_signal` (closed forms, milliseconds per group):

* whether ``run.steps`` covers the stage times (the last signal's rise, then convergence to
  ``run.stop_error``, or the literal chain and the smallest ``t_eps`` level without a stop) at
  the group's largest d, and by how much it falls short;
* whether the literal t_k^* is bound-dominated (``ceil(t^sharp)`` by construction) at every d
  of the grid, the d from which it becomes measurable and the shipped sweeps that scan that far;
* whether a run of the grid diverges from its first steps.

The rise times are pure exponential growth from ``varpi^2 / d`` against the bulk level the
signals compete with (a bulk with ramps is taken as 32 flat levels, as the ``staircase``
family does): predictions within about a factor of 2 of measured stop steps, not bounds.
``mfsim plan`` and the Snakemake start line print them.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from mfsim.config.model import SweepConfig, as_sweep_config
from mfsim.datamodel import FLOAT64_D_LIMIT
from mfsim.small_signal import (
    chain_estimate,
    diverges_at_start,
    measurable_log10_d,
    sigma1_initial,
    signal_levels,
)
from mfsim.theory import divergence_limit_sigma1

__all__ = ["GroupWarning", "TRANSITION_CONFIGS", "format_warnings", "plan_warnings"]

#: Shipped sweeps that scan d far enough for the literal t_k^*: (config, largest log10 d).
TRANSITION_CONFIGS = (
    ("config/transition.yaml", 300.0),  # flat bulk
    ("config/transition_staircase.yaml", 300.0),  # staircase: 32 levels of the linear bulk
)


@dataclass(frozen=True)
class GroupWarning:
    """One warning of :func:`plan_warnings`.

    Attributes
    ----------
    kind : {'steps', 'bound_dominated', 'diverges'}
    group : dict
        The group's grid values (``kappa``, ``r``, ``varpi``, ``varpi_exponent``, ``eta``).
    message : str
        The warning in words, with the numbers.
    values : dict
        The predicted numbers (e.g. ``steps_needed``, ``log10_d_measurable``).
    """

    kind: str
    group: dict
    message: str
    values: dict


def _label(group: dict) -> str:
    parts = [f"kappa={group['kappa']:g}" if group["kappa"] is not None else None]
    parts += [f"r={group['r']}", f"varpi={group['varpi']:g}"]
    if group["varpi_exponent"]:
        parts.append(f"varpi_exponent={group['varpi_exponent']:g}")
    parts.append(f"eta={group['eta']:g}")
    return "group " + ", ".join(p for p in parts if p)


def _d_text(log10_d: float) -> str:
    return f"{10**log10_d:.3g}" if log10_d < 15 else f"1e{log10_d:.0f}"


@functools.lru_cache(maxsize=256)
def _levels(family: str, params_json: str, r: int, kappa: float | None):
    """:func:`mfsim.small_signal.signal_levels`, cached (params as canonical JSON)."""
    return signal_levels(family, r, kappa, **json.loads(params_json))


def _groups(config: SweepConfig):
    grid = config.grid
    for kappa, r, varpi, exponent, eta in product(
        grid.kappa, grid.r, grid.varpi, grid.varpi_exponent, grid.eta
    ):
        yield {"kappa": kappa, "r": r, "varpi": varpi, "varpi_exponent": exponent, "eta": eta}


def _steps_warning(config, group, top, level) -> GroupWarning | None:
    eta, r, run = group["eta"], group["r"], config.run
    log10_d = max(_log10(d) for d in config.grid.d)
    varpi = group["varpi"] * 10.0 ** (-group["varpi_exponent"] * log10_d)
    chain = chain_estimate(log10_d, top, level, eta=eta, varpi=varpi)
    rise = float(chain.rise[-1])
    gap = top[-1] - level
    if run.stop_error > 0:
        needed = rise + math.log(1.0 / run.stop_error) / (eta * gap)
        what = f"runs converge (error <= {run.stop_error:g}) near step {needed:.0f}"
    else:
        needed = max(chain.t_R, rise + math.log(1.0 / min(run.epsilons)) / (eta * gap))
        what = (
            f"t_R and t_eps at eps = {min(run.epsilons):g} come near step {needed:.0f} "
            "(no stop at convergence: stop_error = 0)"
        )
    if run.steps >= needed:
        return None
    message = (
        f"{_label(group)}: run.steps = {run.steps} is below the predicted stage times at "
        f"d = {_d_text(log10_d)}: the last signal (k = {r}) rises near step {rise:.0f} and "
        f"{what}; raise run.steps to at least {math.ceil(needed)} ({needed / run.steps:.1f}x) "
        "or the later stages of those runs are censored (NaN, status max_steps). "
        "Small-signal prediction, within about 2x."
    )
    values = {"steps": run.steps, "steps_needed": math.ceil(needed), "rise_last": rise}
    return GroupWarning("steps", group, message, values)


def _bound_warning(config, group, top, level) -> GroupWarning | None:
    eta, r = group["eta"], group["r"]
    if r < 2:
        return None
    log10_d = max(_log10(d) for d in config.grid.d)
    varpi = group["varpi"] * 10.0 ** (-group["varpi_exponent"] * log10_d)
    if not chain_estimate(log10_d, top, level, eta=eta, varpi=varpi).bound_dominated.all():
        return None
    if group["varpi_exponent"]:
        return None  # varpi then depends on d: the threshold scan below assumes it does not
    threshold = measurable_log10_d(top, level, eta=eta, varpi=group["varpi"], resolution=1.0)
    if not np.all(threshold > log10_d):
        return None
    ks = [k + 1 for k in range(r - 1)]
    where = ", ".join(
        f"from d ~ {_d_text(t)} (k = {k})" if np.isfinite(t) else f"not before 1e1000 (k = {k})"
        for k, t in zip(ks, threshold, strict=True)
    )
    reach = min(threshold)
    shipped = [path for path, top_d in TRANSITION_CONFIGS if reach <= top_d]
    pointer = (
        f"{' and '.join(shipped)} scan d to 1e300 (kappa = 5, eta = 0.1)"
        if shipped
        else "no shipped sweep scans that far (they stop at d = 1e300)"
    )
    message = (
        f"{_label(group)}: the literal t_k^* will be bound-dominated (= ceil(t^sharp) by "
        f"construction) at every d of the grid (d <= {_d_text(log10_d)}); predicted measurable "
        f"{where} (docs/transition.md): {pointer}. The proxies rise, escape, plateau are "
        "measured at every d."
    )
    values = {"log10_d_max": log10_d, "log10_d_measurable": [float(t) for t in threshold]}
    return GroupWarning("bound_dominated", group, message, values)


def _log10(d: int) -> float:
    """log10 d: of its float64 value in float64's range (as before), of the exact int beyond."""
    return math.log10(float(d)) if d < FLOAT64_D_LIMIT else math.log10(d)


def _divergence_warning(config, group, top) -> GroupWarning | None:
    eta, r = group["eta"], group["r"]
    lambda_1 = top[0]
    bad = []
    for d in config.grid.d:
        # beyond float64, d as +inf: r / d is 0 there and d^-a is 0 (a > 0) or 1 (a = 0)
        d_float = float(d) if d < FLOAT64_D_LIMIT else math.inf
        varpi = group["varpi"] * d_float ** -group["varpi_exponent"]
        if diverges_at_start(eta, lambda_1, sigma1_initial(varpi, d_float, r)):
            bad.append(d)
    if not bad:
        return None
    runs = len(bad) * len(config.grid.seed)
    limit = 2.0 + eta * lambda_1
    message = (
        f"{_label(group)}: {runs} runs (d = {', '.join(_d_text(_log10(d)) for d in bad)}"
        f") are predicted to diverge at their first steps: eta sigma_1^2(X_0) > 2 + eta lambda_1 "
        f"= {limit:g} with sigma_1(X_0) ~ varpi (1 + sqrt(r/d)) (Theorem 6 assumes sigma_1(X_0) "
        f"<= 1/sqrt(3 eta) = {float(divergence_limit_sigma1(eta)):.3g}); they end with status "
        "diverged."
    )
    return GroupWarning("diverges", group, message, {"d": list(bad), "runs": runs})


def plan_warnings(config) -> list[GroupWarning]:
    """The warnings of a sweep config, per group (see the module docstring).

    Parameters
    ----------
    config : SweepConfig or dict
        Parsed (or validated) sweep config.

    Returns
    -------
    list of GroupWarning
        In grid order; empty when nothing is predicted to go wrong. Groups whose spectrum has
        no bulk level the theory can use (e.g. a custom spectrum without a flat level of
        multiplicity >= r) get the divergence check only.
    """
    config = as_sweep_config(config)
    params = config.spectrum.family_params()
    if "eigenvalues" in params:
        params["eigenvalues"] = [float(v) for v in params["eigenvalues"]]
    params_json = json.dumps(params, sort_keys=True, default=str)
    out = []
    for group in _groups(config):
        levels = _levels(config.spectrum.family, params_json, group["r"], group["kappa"])
        if levels is None:
            continue
        top, level = levels
        if group["eta"] * (top[-1] - level) / 6.0 >= 1.0:
            continue  # q = 1 - eta Delta / 6 <= 0: eq. 14 is undefined
        diverges = _divergence_warning(config, group, top)
        if diverges is not None:
            out.append(diverges)
            continue  # stage predictions mean nothing for diverging runs
        # a gap that moves with d (mfsim.gap_laws) has no one prediction per group
        for check in (_steps_warning, _bound_warning) if "gap" not in params else ():
            warning = check(config, group, top, level)
            if warning is not None:
                out.append(warning)
    return out


#: A kind with more warnings than this is printed as one summary line.
_MAX_LINES_PER_KIND = 2
_KIND_SUMMARY = {
    "steps": "run.steps is below the predicted stage times",
    "bound_dominated": "the literal t_k^* will be bound-dominated at every d of the grid",
    "diverges": "runs are predicted to diverge",
}


def format_warnings(warnings: list[GroupWarning], prefix: str = "warning: ") -> list[str]:
    """Lines for the terminal: each warning, or per kind with many, one summary line.

    A kind with more than two warnings gives one line: how many groups, their labels (the
    first few) and the full message of the worst group (most steps missing, largest
    threshold, most runs diverging).

    Parameters
    ----------
    warnings : list of GroupWarning
        From :func:`plan_warnings`.
    prefix : str
        Start of every line.

    Returns
    -------
    list of str
    """
    lines = []
    for kind, summary in _KIND_SUMMARY.items():
        of_kind = [w for w in warnings if w.kind == kind]
        if len(of_kind) <= _MAX_LINES_PER_KIND:
            lines.extend(prefix + w.message for w in of_kind)
            continue
        worst = max(of_kind, key=_severity)
        labels = "; ".join(_label(w.group).removeprefix("group ") for w in of_kind[:3])
        lines.append(
            f"{prefix}{summary} in {len(of_kind)} groups ({labels}; ...); the worst: "
            f"{worst.message}"
        )
    return lines


def _severity(warning: GroupWarning) -> float:
    values = warning.values
    if warning.kind == "steps":
        return values["steps_needed"] / values["steps"]
    if warning.kind == "bound_dominated":
        return min(values["log10_d_measurable"])
    return values["runs"]
