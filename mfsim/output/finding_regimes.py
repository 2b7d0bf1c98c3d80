"""Report section of a sweep in a degenerate regime: the measured growth of t_k^* and of the
rises with their verdict, beside the small-signal prediction (:mod:`mfsim.analysis.regimes`).

The section opens with one paragraph per regime that states, for the literal t_k^*, whether it
reads faster than log d over the sampled d, with its evidence (medians at both ends, slope
ratio with its interval, the exponent p of (ln d)^p, the prediction's ratio and exponent, the
share of bound-dominated runs). Sweeps in no degenerate regime get no section.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.analysis.regimes import GROWTH_RULE, degenerate_regimes, regime_growth

__all__ = ["BOUND_WITH_SHRINKING_GAP", "REGIME_NAMES", "regimes_section"]

REGIME_NAMES = {
    "gap_inverse_log": "eigengap Delta = Delta_0 / ln d",
    "gap_power": "eigengap Delta = Delta_0 d^-gamma",
    "bulk_top_near_lambda_r": "bulk top level approaching lambda_r (lambda_r - lambda_(r+1) = "
    "Delta_0 / ln d or Delta_0 d^-gamma)",
    "varpi_near_divergence": "varpi at 90% or more of the divergence limit sqrt((2 + eta "
    "lambda_1) / eta)",
}


#: Where t_k^* is bound-dominated at every d and the gap shrinks with d.
BOUND_WITH_SHRINKING_GAP = (
    "Bound-dominated at every sampled d, t_k^* equals ceil(t^sharp) of Delta(d) in every run "
    "(the lower end of the bracket, docs/transition.md), and ceil(t^sharp) >= ln(4r / Delta) / "
    "(eta Delta / 6) grows like 1 / Delta: ~ (6 ln d / (eta Delta_0)) ln(4 r ln d / Delta_0) "
    "for Delta = Delta_0 / ln d (not O(log d): its local slope grows like ln ln d, slowly over "
    "the sampled d) and ~ d^gamma ln d for Delta = Delta_0 d^-gamma. In these regimes the "
    "literal t_k^* is not O(log d) by the proof's own constant, whatever the dynamics; where it "
    "becomes measurable, its slope follows the rise times, which grow like (ln d)^2 or "
    "d^gamma ln d (table)."
)


def _fmt(value, digits: int = 3) -> str:
    value = float(value)
    return "\u2013" if not np.isfinite(value) else f"{value:.{digits}g}"


def _where(group: dict) -> str:
    return ", ".join(f"{name} = {_fmt(value)}" for name, value in group.items())


def _sentence(row: dict) -> str:
    """The evidence of one t_k^* row, as a sentence."""
    measured, x = row["measured"], row["log10_d"]
    ok = np.isfinite(measured)
    if ok.sum() < 2:
        return f"t_{row['k']}^* ({_where(row['group'])}): too few d values with a value."
    lo, hi = np.flatnonzero(ok)[[0, -1]]
    bound = row["bound_dominated"]
    share = "" if bound is None else f"; bound-dominated in {100 * np.nanmean(bound):.0f}% of runs"
    return (
        f"t_{row['k']}^* ({_where(row['group'])}) {row['verdict']} over d = 1e{x[lo]:.0f} to "
        f"1e{x[hi]:.0f}: median {_fmt(measured[lo])} to {_fmt(measured[hi])} steps, slope ratio "
        f"{_fmt(row['ratio'])} [{_fmt(row['ratio_low'])}, {_fmt(row['ratio_high'])}] "
        f"(predicted {_fmt(row['ratio_predicted'])}, {row['verdict_predicted']}), "
        f"~(ln d)^{_fmt(row['exponent'], 2)} (predicted ^{_fmt(row['exponent_predicted'], 2)})"
        f"{share}."
    )


def regimes_section(ds: xr.Dataset, n_boot: int = 200) -> dict | None:
    """The section's content for the report template, or None (no degenerate regime).

    Returns
    -------
    dict or None
        ``regimes`` (names), ``paragraphs`` (one per regime, the literal t_k^* first),
        ``faster`` (rows of t_k^* that read faster than log d: the findings), ``rule``
        (:data:`mfsim.analysis.regimes.GROWTH_RULE`) and ``rows`` (table cells per group,
        quantity and k: measured and predicted medians at the smallest and largest d,
        ratios, exponents, verdicts).
    """
    regimes = degenerate_regimes(ds)
    if not regimes:
        return None
    rows = regime_growth(ds, n_boot=n_boot)
    literal = [row for row in rows if row["quantity"] == "t_k_star"]
    faster = [row for row in literal if row["verdict"] == "faster than log d"]
    names = "; ".join(REGIME_NAMES.get(name, name) for name in regimes)
    head = f"Degenerate regime ({names}). "
    if faster:
        head += (
            f"Finding: the literal t_k^* grows faster than log d over the sampled d in "
            f"{len(faster)} of {len(literal)} (group, k). "
        )
    else:
        head += f"The literal t_k^* reads faster than log d in none of {len(literal)} (group, k). "
    paragraphs = [head + " ".join(_sentence(row) for row in literal)]
    if any(name != "varpi_near_divergence" for name in regimes) and any(
        row["bound_dominated"] is not None and np.nanmin(row["bound_dominated"]) == 1.0
        for row in literal
    ):
        paragraphs.append(BOUND_WITH_SHRINKING_GAP)
    table = []
    for row in rows:
        ok = np.flatnonzero(np.isfinite(row["measured"]))
        first, last = (ok[0], ok[-1]) if ok.size else (0, -1)
        table.append(
            [
                _where(row["group"]),
                row["quantity"],
                str(row["k"]),
                f"1e{row['log10_d'][first]:.0f} to 1e{row['log10_d'][last]:.0f}",
                f"{_fmt(row['measured'][first])} / {_fmt(row['predicted'][first])}",
                f"{_fmt(row['measured'][last])} / {_fmt(row['predicted'][last])}",
                f"{_fmt(row['ratio'])} [{_fmt(row['ratio_low'])}, {_fmt(row['ratio_high'])}]",
                _fmt(row["ratio_predicted"]),
                f"{_fmt(row['exponent'], 2)} / {_fmt(row['exponent_predicted'], 2)}",
                row["verdict"],
                row["verdict_predicted"],
            ]
        )
    columns = [
        "group", "quantity", "k", "d sampled", "median / predicted at smallest d",
        "median / predicted at largest d", "slope ratio [95%]", "predicted ratio",
        "p of (ln d)^p measured / predicted", "verdict (sampled d)", "prediction reads",
    ]  # fmt: skip
    return {
        "regimes": regimes,
        "paragraphs": paragraphs,
        "faster": faster,
        "rule": GROWTH_RULE,
        "columns": columns,
        "rows": table,
    }
