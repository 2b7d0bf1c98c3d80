"""The opening paragraph on equal top eigenvalues: what ties do to the stages.

Input: the per-gap fits of :func:`mfsim.analysis.tie_scan.gap_rows`. A slope is called
*consistent with no growth* when it lies within two standard errors of 0, and *as predicted* when
it lies within two standard errors of the small-signal prediction; both statements describe the
sampled range of d only. Measured numbers and predicted ones are labelled as such.
"""

from __future__ import annotations

import math

__all__ = ["ties_paragraph", "slope_verdict"]


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
        parts.append(f"as the small-signal linearization predicts ({_num(predicted)})")
    else:
        parts.append(f"the small-signal linearization predicts {_num(predicted)}")
    return f"{text} ({'; '.join(parts)})"


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
        f"The first stage is not delayed by the tie: learned_1 slope "
        f"{slope_verdict(tie['learned_1'], tie['predicted_learned_1'])} at the tie, "
        f"{_num(widest['learned_1']['slope'])} ± {_num(widest['learned_1']['se'])} at delta = "
        f"{widest['gap']:g}; t_eps (eps = {tie['eps']:g}) slope "
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
