"""The verdict rule: its statement (:data:`VERDICT_RULE`), its only implementation, and the
precedence of the verdict over the preferred model and the wording (:data:`PRECEDENCE`).

Every verdict describes the sampled range of d only (the fitted d values); the rule cannot
tell what happens beyond it."""

from __future__ import annotations

import numpy as np

from mfsim.analysis.scaling.power_analysis import DETECTION_POWER
from mfsim.datamodel import stored_dimension_log10, stored_dimension_text

VERDICT_LOG_DECISIVE = "O(log d), decisive against power laws"
VERDICT_LOG_OR_POWER = "O(log d) and d^alpha both consistent"
VERDICT_FASTER = "grows faster than log d"
VERDICT_FLAT = "no detectable growth with d"
VERDICT_DECREASING = "decreases with d"
VERDICT_BOUND = "bound-dominated: constant in d by construction"
VERDICT_NOT_REACHED = "not reached"
VERDICT_NOT_ENOUGH = "not enough data"
VERDICT_INCONCLUSIVE = "inconclusive"
VERDICT_UNDEFINED = "not defined"
VERDICT_NO_RUNS = "no runs"
VERDICTS = (
    VERDICT_LOG_DECISIVE,
    VERDICT_LOG_OR_POWER,
    VERDICT_FASTER,
    VERDICT_FLAT,
    VERDICT_DECREASING,
    VERDICT_BOUND,
    VERDICT_NOT_REACHED,
    VERDICT_NOT_ENOUGH,
    VERDICT_INCONCLUSIVE,
    VERDICT_UNDEFINED,
    VERDICT_NO_RUNS,
)
#: Verdicts that answer the growth question (the others say why there is no answer).
GROWTH_VERDICTS = VERDICTS[:5]

#: The verdict rule: (verdict, condition) in the order :func:`decide_verdict` applies it. This
#: tuple is the only statement of the rule; the report and ``docs/scaling.md`` print it.
VERDICT_RULE = (
    (VERDICT_NO_RUNS, "the group has no runs"),
    (
        VERDICT_UNDEFINED,
        "the quantity does not exist for this k (k > r; k = r for t_k_star, escape, plateau)",
    ),
    (
        VERDICT_BOUND,
        "fewer than min_d d values have min_seeds measured runs, and bound-dominated "
        "values (t_k^* = ceil(t^sharp) by construction) outnumber not-reached ones",
    ),
    (
        VERDICT_NOT_REACHED,
        "fewer than min_d d values have min_seeds measured runs, and runs that "
        "stopped before the stage outnumber bound-dominated ones",
    ),
    (VERDICT_NOT_ENOUGH, "fewer than min_d d values have min_seeds measured runs (other reasons)"),
    (VERDICT_INCONCLUSIVE, "the log law or the Box-Cox family could not be fitted"),
    (VERDICT_DECREASING, "the interval of the log slope b lies below 0"),
    (VERDICT_FLAT, "the interval of the log slope b contains 0"),
    (
        VERDICT_FASTER,
        "the profile interval of the Box-Cox exponent alpha of y = a + b ((d^alpha - 1)/alpha "
        "- gamma ln ln d), gamma profiled over [0, 3], lies above 0; the family holds every "
        "O(log d) law a + S (ln d - gamma ln ln d) (local slope S (1 - gamma / ln d), "
        "converging from below) at alpha = 0 and the power laws c d^alpha, so such a "
        "correction to log d never reads as faster (gamma is fixed at 0 with fewer than 5 d "
        "values or d <= e)",
    ),
    (
        VERDICT_LOG_DECISIVE,
        "log has the lowest CV RMSE and beats const and the power law c "
        "d^alpha decisively (bootstrap interval of the CV RMSE difference above 0); the detail "
        "states alpha_hi, above which d^alpha growth is excluded",
    ),
    (
        VERDICT_LOG_OR_POWER,
        "otherwise; the detail states the smallest alpha that a power law "
        f"d^alpha would need to be detected (rule above) in {DETECTION_POWER:.0%} of data sets "
        "simulated under the fitted log law with these d values and seeds",
    ),
)


def decide_verdict(evidence: dict, detect=None) -> tuple[str, str]:
    """Apply :data:`VERDICT_RULE` to the evidence of one group.

    Parameters
    ----------
    evidence : dict
        ``exists`` (bool), ``defined`` (bool), ``n_d_used``, ``min_d``, ``n_bound_dominated``,
        ``n_not_reached`` (ints), and when a fit was made ``log_slope_lo``, ``log_slope_hi``,
        ``boxcox_alpha_lo``, ``boxcox_alpha_hi`` (floats), ``preferred`` (model name or None),
        ``decisive_over`` (set of models the preferred one beats decisively), ``power_fitted``
        (bool), and optionally ``d_fitted`` (the fitted d values; the detail then starts with
        their range).
    detect : callable, optional
        ``detect() -> float``, the detectable alpha (:func:`detectable_alpha`); only called
        for the verdict that reports it.

    Returns
    -------
    verdict : str
        One of :data:`VERDICTS`.
    detail : str
        The numbers behind the verdict in words (empty where there are none).
    """
    verdict, detail = _apply_rule(evidence, detect)
    if detail and "d_fitted" in evidence:
        detail = f"over {d_range_text(evidence['d_fitted'])}: {detail}"
    return verdict, detail


def _apply_rule(evidence: dict, detect) -> tuple[str, str]:
    """:func:`decide_verdict` without the d range in the detail."""
    e = evidence
    if not e["exists"]:
        return VERDICT_NO_RUNS, ""
    if not e["defined"]:
        return VERDICT_UNDEFINED, ""
    if e["n_d_used"] < e["min_d"]:
        n_bound, n_not = e["n_bound_dominated"], e["n_not_reached"]
        if n_bound and n_bound >= n_not:
            return VERDICT_BOUND, ""
        if n_not:
            return VERDICT_NOT_REACHED, ""
        return VERDICT_NOT_ENOUGH, ""
    b_lo, b_hi = e.get("log_slope_lo", np.nan), e.get("log_slope_hi", np.nan)
    a_lo, a_hi = e.get("boxcox_alpha_lo", np.nan), e.get("boxcox_alpha_hi", np.nan)
    if not (np.isfinite(b_lo) and np.isfinite(b_hi)) or np.isnan(a_lo) or np.isnan(a_hi):
        return VERDICT_INCONCLUSIVE, ""
    slope = f"log slope b in [{b_lo:.4g}, {b_hi:.4g}] steps per unit of ln d"
    alpha = f"Box-Cox alpha (ln ln d correction profiled) in [{a_lo:.3g}, {a_hi:.3g}]"
    if b_hi < 0:
        return VERDICT_DECREASING, slope
    if b_lo <= 0:
        return VERDICT_FLAT, slope
    if a_lo > 0:
        return VERDICT_FASTER, f"{alpha} (above 0); {slope}"
    if (
        e.get("preferred") == "log"
        and e.get("power_fitted", False)
        and {"const", "power"} <= set(e.get("decisive_over", ()))
    ):
        return (
            VERDICT_LOG_DECISIVE,
            f"d^alpha growth with alpha > {a_hi:.3g} excluded ({alpha}); {slope}",
        )
    detectable = detect() if detect is not None else np.nan
    power = (
        f"a power law d^alpha would have been detected for alpha >= {detectable:.2g} "
        f"({DETECTION_POWER:.0%} power, simulated under the fitted log law)"
        if np.isfinite(detectable)
        else "no power law up to the end of the profile grid would have been detected "
        f"with {DETECTION_POWER:.0%} power"
    )
    return VERDICT_LOG_OR_POWER, f"{power}; {alpha}; {slope}"


#: Which preferred model (lowest CV RMSE) each growth verdict may show beside it, and for which
#: of them the row may say "decisive". The verdict takes precedence: a CV preference outside
#: the set is shown as "none" (and not decisive), with the CV result in the caveat.
PRECEDENCE = {
    VERDICT_LOG_DECISIVE: ({"log"}, {"log"}),
    VERDICT_LOG_OR_POWER: ({"log", "power"}, set()),
    VERDICT_FASTER: ({"power"}, {"power"}),
    VERDICT_FLAT: ({"const", "log"}, {"const"}),
    VERDICT_DECREASING: ({"log", "power"}, {"log", "power"}),
}


def reconcile(verdict: str, preferred: str | None, decisive: bool) -> tuple[str, bool, str]:
    """The preferred model and decisiveness a row shows beside its verdict (:data:`PRECEDENCE`).

    Parameters
    ----------
    verdict : str
        One of :data:`VERDICTS`.
    preferred : str or None
        Model with the lowest CV RMSE (None if none could be fitted).
    decisive : bool
        Whether it beats every other fitted model decisively in CV.

    Returns
    -------
    shown : str
        ``preferred`` if the verdict allows it, else ``"none"``.
    shown_decisive : bool
        ``decisive`` where the verdict allows the shown model to be decisive, else False.
    note : str
        Empty, or the CV result the verdict overrides (for the caveat).
    """
    if verdict not in PRECEDENCE or preferred is None:
        return "none", False, ""
    allowed, decisive_allowed = PRECEDENCE[verdict]
    if preferred not in allowed:
        strength = "decisively" if decisive else "not decisively"
        return (
            "none",
            False,
            f"CV prefers {preferred} ({strength}), which the verdict overrides (rule: "
            f'"{verdict}" shows a preferred model only from {sorted(allowed)})',
        )
    return preferred, bool(decisive and preferred in decisive_allowed), ""


def d_range_text(d_values) -> str:
    """``"d in [1e+02, 1e+300] (31 values)"``: the sampled range a verdict describes."""
    d = np.asarray(d_values, dtype=float)  # as stored: -log10(d) beyond float64
    if d.size == 0:
        return "no d values"
    order = stored_dimension_log10(d)
    low, high = (
        stored_dimension_text(d[np.argmin(order)]),
        stored_dimension_text(d[np.argmax(order)]),
    )
    return f"d in [{low}, {high}] ({d.size} value{'s' if d.size > 1 else ''})"


def verdict_sentence(verdict: str, d_values) -> str:
    """The verdict with the range of d it describes, e.g. ``"grows faster than log d over the
    sampled d in [100, 1e+300] (31 values)"``; growth verdicts name the fitted d values, the
    others the d values of the sweep."""
    if verdict in (VERDICT_NO_RUNS, VERDICT_UNDEFINED):
        return verdict
    return f"{verdict} over the sampled {d_range_text(d_values)}"


def verdict_rule_text() -> str:
    """:data:`VERDICT_RULE` as numbered lines (for attrs, the report and the docs)."""
    rules = enumerate(VERDICT_RULE)
    return "\n".join(f'{i + 1}. "{verdict}" if {condition}' for i, (verdict, condition) in rules)
