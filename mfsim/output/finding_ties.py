"""The opening paragraph on equal top eigenvalues: what ties do to the stages.

Input: the per-gap fits of :func:`mfsim.analysis.tie_scan.gap_rows`. A slope is called
*consistent with no growth* when it lies within two standard errors of 0, and *as predicted* when
it lies within two standard errors of the small-signal prediction; both statements describe the
sampled range of d only. Measured numbers and predicted ones are labelled as such.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ties_paragraph", "slope_verdict", "sweep_tie_note"]


def _num(value: float) -> str:
    return f"{value:.3g}"


def _d(value: float) -> str:
    return f"10^{math.log10(value):.3g}" if value >= 1e4 else f"{value:.0f}"


def slope_verdict(fit: dict, predicted: float) -> str:
    """Words for one fitted slope against 0 and against its prediction (two standard errors)."""
    slope, se = fit["slope"], fit["se"]
    if not (slope == slope and se == se):
        return "not determined (too few finished runs)"
    text = f"{_num(slope)} ± {_num(se)} steps per unit ln d"
    parts = []
    if abs(slope) <= 2 * se:
        parts.append("consistent with no growth")
    else:
        parts.append("growing" if slope > 0 else "shrinking")
    if abs(slope - predicted) <= 2 * se:
        parts.append(f"as the small-signal linearization predicts: {_num(predicted)}")
    else:
        parts.append(f"the small-signal linearization predicts {_num(predicted)}")
    return f"{text} ({'; '.join(parts)})"


def _difference(a: dict, b: dict) -> str:
    """Two independent slopes compared: their difference and its standard error."""
    diff, se = a["slope"] - b["slope"], (a["se"] ** 2 + b["se"] ** 2) ** 0.5
    verdict = "within two standard errors" if abs(diff) <= 2 * se else "apart"
    return f"difference {_num(diff)} ± {_num(se)}, {verdict}"


def _gap_name(gap: float) -> str:
    return "0 (a tie)" if gap == 0.0 else f"{gap:g}"


def ties_paragraph(rows: list[dict], settings: str) -> str:
    """The paragraph, plain text.

    Parameters
    ----------
    rows : list of dict
        :func:`mfsim.analysis.tie_scan.gap_rows`, one per gap; must hold a gap 0.
    settings : str
        The fixed settings, e.g. ``"flat bulk, r = 2, kappa = 5, eta = 0.1, varpi = 0.5"``.

    Raises
    ------
    ValueError
        When no row has gap 0 (the paragraph compares every gap with the tie).
    """
    by_gap = {row["gap"]: row for row in rows}
    if 0.0 not in by_gap:
        raise ValueError(f"rows: need a gap of 0 (a tie), got gaps {sorted(by_gap)}")
    tie = by_gap[0.0]
    span = f"d = {_d(tie['d_min'])}..{_d(tie['d_max'])}, {tie['n_seeds']} seeds per point"
    lo, hi = min(tie["separation_median"]), max(tie["separation_median"])
    text = [
        f"What ties do to the stages ({settings}; {span}). Measured: at a tie the two top "
        f"directions are learned together. Their separation learned_2 - learned_1 (the "
        f"cluster's squared singular values) has medians of {lo:.0f} to {hi:.0f} steps over the "
        f"sampled d, slope {slope_verdict(tie['separation'], tie['predicted_separation'])}."
    ]
    for gap in sorted(g for g in by_gap if g > 0):
        row = by_gap[gap]
        first, last = row["separation_median"][0], row["separation_median"][-1]
        text.append(
            f"At delta = {_gap_name(gap)} (distinct rows) the separation goes from {first:.0f} to "
            f"{last:.0f} steps, slope "
            f"{slope_verdict(row['separation'], row['predicted_separation'])}."
        )
    widest = by_gap[max(by_gap)]
    text.append(
        f"The first stage: learned_1 slope "
        f"{slope_verdict(tie['learned_1'], tie['predicted_learned_1'])} at the tie, "
        f"{_num(widest['learned_1']['slope'])} ± {_num(widest['learned_1']['se'])} at delta = "
        f"{widest['gap']:g} ({_difference(tie['learned_1'], widest['learned_1'])}); "
        f"t_eps (eps = {tie['eps']:g}) slope "
        f"{_num(tie['t_eps']['slope'])} ± {_num(tie['t_eps']['se'])} at the tie against "
        f"{_num(widest['t_eps']['slope'])} ± {_num(widest['t_eps']['se'])} at delta = "
        f"{widest['gap']:g}."
    )
    text.append(
        "For delta > 0 the paper's Delta is delta: t^* and t^sharp (eq. 14) grow like 1/delta and "
        "the rise threshold Delta/2 goes to 0, so the literal chain says nothing for delta far "
        "below lambda_1 - lambda_3; at a tie the cluster definitions (docs/stages.md section 6) "
        "take Delta over the distinct gaps."
    )
    return " ".join(text)


def sweep_tie_note(sweep_ds) -> str:
    """The report's opening sentences for a sweep with tied top eigenvalues ("" without ties).

    For each group of the grid (every grid value but d and seed) whose lambda_1..lambda_r open
    with a cluster of exactly equal values k = 1..c, the separation learned_c - learned_1 (the
    cluster's largest and smallest squared singular values) is fitted against ln d over the
    seeds (:func:`mfsim.analysis.tie_scan.slope_fit`); at a tie the small-signal linearization
    predicts 0 (equal rates). At most three groups are described.
    """
    from mfsim.analysis.tie_scan import slope_fit
    from mfsim.datamodel import stored_dimension_log10

    if "lambda_k" not in sweep_ds.coords or "learned" not in sweep_ds:
        return ""
    lam = sweep_ds["lambda_k"]
    if lam.sizes.get("k", 0) < 2 or not bool((lam.isel(k=0) == lam.isel(k=1)).any()):
        return ""
    learned = sweep_ds["learned"]
    groups = [dim for dim in learned.dims if dim not in ("d", "seed", "k")]
    stacked = learned.stack(group=groups) if groups else learned.expand_dims(group=[0])
    lam = lam.isel(d=0, drop=True) if "d" in lam.dims else lam  # ties do not depend on d
    lam = lam.broadcast_like(learned.isel(seed=0, d=0, drop=True))
    lam_stacked = (lam.stack(group=groups) if groups else lam.expand_dims(group=[0])).transpose(
        "group", "k"
    )
    log_d = stored_dimension_log10(sweep_ds["d"].values)
    clauses = []
    for g in range(stacked.sizes["group"]):
        top = lam_stacked.isel(group=g).values
        c = int(np.sum(top == top[0]))
        if c < 2:
            continue
        values = stacked.isel(group=g).transpose("d", "seed", "k").values
        sep = values[..., c - 1] - values[..., 0]
        fit = slope_fit(log_d * math.log(10.0), sep)
        medians = np.nanmedian(sep, axis=1)
        label = ", ".join(
            f"{dim} = {stacked['group'].values[g][i]}" for i, dim in enumerate(groups)
        )
        clauses.append(
            f"at {label}: medians {np.nanmin(medians):.0f} to {np.nanmax(medians):.0f} steps, "
            f"slope {slope_verdict(fit, 0.0)}"
        )
    if not clauses:
        return ""
    span = f"d = {_d(10 ** log_d.min())}..{_d(10 ** log_d.max())}"
    shown = "; ".join(clauses[:3]) + (
        f" (and {len(clauses) - 3} more groups)" if len(clauses) > 3 else ""
    )
    return (
        f"Equal top eigenvalues (docs/stages.md section 6: signal_k of a cluster are its squared "
        f"singular values, Delta is taken over the distinct gaps). Measured over {span}: the "
        f"separation learned_c - learned_1 of the tied stages is {shown}. Verdicts describe the "
        f"sampled range of d only; the comparison with gaps 1e-4, 1e-2, 0.1 is "
        f"`python3 -m mfsim.output.finding_ties`. "
    )


def main() -> None:  # pragma: no cover - a few minutes of simulation; the pieces are tested
    """``python3 -m mfsim.output.finding_ties``: the comparison at delta in {0, 1e-4, 1e-2, 0.1},
    flat bulk, r = 2, kappa = 5, eta = 0.1, varpi = 0.5, d = 10^2..10^12, 32 seeds: prints the
    paragraph (about 2.5 minutes on one core)."""
    from mfsim.analysis.tie_scan import gap_rows, scan

    d_values = [10**2, 10**3, 10**4, 10**6, 10**8, 10**12]
    rows = gap_rows(scan([0.0, 1e-4, 1e-2, 0.1], d_values))
    print(ties_paragraph(rows, "flat bulk, r = 2, kappa = 5, eta = 0.1, varpi = 0.5"))


if __name__ == "__main__":
    main()
