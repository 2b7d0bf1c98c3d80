"""Report section of a map sweep (:mod:`mfsim.analysis.transition_map`): an opening paragraph
on what holds across the map and what does not, then a table of every point (slopes against the
small-signal theory, the measurability threshold against its prediction, the disagreements).
Sweeps that are not maps get no section."""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.analysis.transition_map import (
    AGREEMENT,
    THRESHOLD_DECADES,
    is_map,
    map_points,
)

__all__ = ["map_opening", "map_section"]


def _fmt(value, digits: int = 3) -> str:
    value = float(value)
    return "\u2013" if not np.isfinite(value) else f"{value:.{digits}g}"


def _span(rows, name) -> str:
    values = sorted({row["point"][name] for row in rows})
    return f"{values[0]:g}" if len(values) == 1 else f"{values[0]:g} to {values[-1]:g}"


def _range(values) -> str:
    values = np.asarray([v for v in values if np.isfinite(v)])
    return "none" if not values.size else f"{values.min():.3g} to {values.max():.3g}"


def map_opening(rows: list[dict], log10_d_max: float) -> str:
    """The opening paragraph: over which constants t_1^* grows like log d with the measured
    slope matching the theory, where it is bound-dominated, and where theory and data
    disagree (verdicts describe the sampled d only)."""
    n = len(rows)
    rise = np.concatenate([row["rise_ratios"] for row in rows])
    rise_ok = np.isfinite(rise) & (np.abs(rise - 1) <= AGREEMENT)
    measured = [row for row in rows if np.isfinite(row["t_star_ratio"])]
    matched = [row for row in measured if abs(row["t_star_ratio"] - 1) <= AGREEMENT]
    bound = [row for row in rows if not np.isfinite(row["t_star_slope"])]
    disagree = [row for row in rows if row["disagrees"]]
    where_bound = sorted({f"kappa = {r['point']['kappa']:g}, eta = {r['point']['eta']:g}"
                          for r in bound})  # fmt: skip
    text = (
        f"Across the map (kappa {_span(rows, 'kappa')}, eta {_span(rows, 'eta')}, varpi "
        f"{_span(rows, 'varpi')}, r {_span(rows, 'r')}; {n} points, d up to "
        f"1e{log10_d_max:.0f}): the rise times grow like log d with the small-signal slope at "
        f"{int(rise_ok.sum())} of {int(np.isfinite(rise).sum())} (point, k) (measured / "
        f"predicted {_range(rise)}). The literal t_1^* is measured at 3 or more d values at "
        f"{len(measured)} of {n} points; there it grows like log d with slope / theory "
        f"{_range([r['t_star_ratio'] for r in measured])}, within {100 * AGREEMENT:.0f}% at "
        f"{len(matched)} of them. At the other {len(bound)} points t_1^* is measured at fewer "
        f"than 3 d values: bound-dominated (= ceil(t^sharp), constant in d) below its threshold"
    )
    if where_bound:
        shown = "; ".join(where_bound[:6]) + ("; ..." if len(where_bound) > 6 else "")
        text += f" ({shown})"
    text += (
        f". Theory and data disagree (slope ratio off by more than {100 * AGREEMENT:.0f}%, or "
        f"the measured threshold more than {THRESHOLD_DECADES:g} decades from the predicted "
        f"one) at {len(disagree)} of {n} points"
    )
    if disagree:
        worst = disagree[0]
        text += f", e.g. {_where(worst['point'])}: {'; '.join(worst['disagrees'])}"
    return text + ". Verdicts describe the sampled range of d only."


def _pairs(measured, predicted) -> str:
    return " ; ".join(f"{_fmt(m)} / {_fmt(p)}" for m, p in zip(measured, predicted, strict=True))


def _where(point: dict) -> str:
    return ", ".join(f"{name} = {value:g}" for name, value in point.items())


def map_section(ds: xr.Dataset) -> dict | None:
    """The section's content for the report template, or None (not a map sweep)."""
    if not is_map(ds):
        return None
    rows = map_points(ds)
    log10_d_max = float(np.nanmax(rows[0]["log10_d"])) if rows else float("nan")
    table = [
        [
            _where(row["point"]),
            f"{_fmt(row['t_star_slope'])} / {_fmt(row['t_star_predicted'])}",
            _fmt(row["t_star_ratio"]),
            " ; ".join(
                f"{_fmt(m)} / {_fmt(p)}"
                for m, p in zip(row["rise_slopes"], row["rise_predicted"], strict=True)
            ),  # fmt: skip
            f"1e{_fmt(row['threshold'], 4)} / 1e{_fmt(row['threshold_predicted'], 4)}",
            _fmt(np.nanmax(row["collapse"]) if np.isfinite(row["collapse"]).any() else np.nan),
            "; ".join(row["disagrees"]) or "agree",
        ]
        for row in rows
    ]
    columns = [
        "point", "t_1^* slope measured / predicted", "ratio", "rise_k slopes measured / "
        "predicted", "t_1^* measured from d ~ (measured / predicted)",
        "t_1^* eta Delta / ln d at the largest d", "theory and data",
    ]  # fmt: skip
    return {"opening": map_opening(rows, log10_d_max), "columns": columns, "rows": table}
