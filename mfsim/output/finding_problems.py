"""The opening paragraph of a sweep that runs problems besides factorization (``grid.problem``).

It compares each sensing or asymmetric variant of the ``problem`` dim with the factorization
runs of the same constants, from the scaling fits of the rise times (quantity ``rise``, per
signal k; :func:`mfsim.analysis.scaling.fit_all`) and, for the imbalance, from the sweep store:

* sensing: the stages *survive* at m / (d r) = x when, for every signal k and every group of
  the other axes, (1) signal k rises (reaches Delta/2) in every run at every d, (2) the 95%
  bootstrap interval of the log-d slope of rise_k overlaps factorization's, and (3) the median
  rise_k is within :data:`RISE_TOLERANCE` of factorization's at every d. The paragraph names
  the smallest x from which on every larger sampled x survives too.
* asymmetric: per imbalance, the log-d slope of rise_k against factorization's (ratio, and
  whether the intervals overlap), the median rise_k against factorization's at the smallest
  and the largest d, and how much ||X^T X - Y^T Y||_F drifts from its start (gradient flow
  conserves it).

Verdicts describe the sampled range of d only.
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr
from markupsafe import Markup

from mfsim.analysis.scaling import fit_quantities, fits_for
from mfsim.datamodel import PROBLEM_DIM, stored_dimension_text

__all__ = ["RISE_TOLERANCE", "problems_finding", "sensing_survival"]

#: Largest relative difference of median rise times still counted as "the same stage time".
RISE_TOLERANCE = 0.25
_QUANTITY = "rise"


def _groups(fit: xr.Dataset):
    """Selections of one value of every group dim besides problem and k."""
    others = [dim for dim in fit["log_slope"].dims if dim not in (PROBLEM_DIM, "k")]
    for values in itertools.product(*(fit[dim].values for dim in others)):
        yield dict(zip(others, values, strict=True))


def _series(fit: xr.Dataset, group: dict, label: str, k) -> dict | None:
    """The rise_k fit of one problem label in one group (None: k undefined there)."""
    g = fit.sel({**group, PROBLEM_DIM: label, "k": k})
    n_runs = np.asarray(g["n_runs"].values, dtype=float)
    if not np.nansum(n_runs):
        return None
    return {
        "slope": float(g["log_slope"]),
        "lo": float(g["log_slope_lo"]),
        "hi": float(g["log_slope_hi"]),
        "median": np.asarray(g["median"].values, dtype=float),
        "all_reached": bool(np.all(g["n_reached"].values == n_runs) and np.all(n_runs > 0)),
        "n_reached": int(np.nansum(g["n_reached"].values)),
        "n_runs": int(np.nansum(n_runs)),
    }


def _overlap(a: dict, b: dict) -> bool:
    return bool(np.isfinite([a["lo"], a["hi"], b["lo"], b["hi"]]).all()) and (
        a["lo"] <= b["hi"] and b["lo"] <= a["hi"]
    )


def _max_rel_diff(a: dict, b: dict) -> float:
    with np.errstate(all="ignore"):
        rel = np.abs(a["median"] / b["median"] - 1.0)
    return float(np.nanmax(rel)) if np.isfinite(rel).any() else np.inf


def _variants(fit: xr.Dataset, problem: str) -> list[tuple[str, float]]:
    labels = [str(v) for v in fit[PROBLEM_DIM].values]
    coord = "measurements" if problem == "sensing" else "imbalance"
    values = fit[coord].values if coord in fit.coords else [np.nan] * len(labels)
    return [
        (lab, float(v)) for lab, v in zip(labels, values, strict=True) if lab.startswith(problem)
    ]


def sensing_survival(fit: xr.Dataset) -> list[dict]:
    """Per sensing variant (ascending m / (d r)): whether the stages survive (module notes),
    with the evidence: ``label``, ``value``, ``survives``, ``all_reached``, ``slopes_overlap``,
    ``max_rel_diff`` (largest relative difference of median rise times over d, k, groups),
    ``slopes`` (list of (k, sensing slope, factorization slope))."""
    out = []
    for label, value in sorted(_variants(fit, "sensing"), key=lambda item: item[1]):
        reached, overlap, worst, slopes = True, True, 0.0, []
        for group in _groups(fit):
            for k in fit["k"].values:
                mine = _series(fit, group, label, k)
                ref = _series(fit, group, "factorization", k)
                if mine is None or ref is None:
                    continue
                reached &= mine["all_reached"]
                overlap &= _overlap(mine, ref)
                worst = max(worst, _max_rel_diff(mine, ref))
                slopes.append((int(k), mine["slope"], ref["slope"]))
        out.append({
            "label": label, "value": value, "all_reached": reached, "slopes_overlap": overlap,
            "max_rel_diff": worst, "slopes": slopes,
            "survives": reached and overlap and worst <= RISE_TOLERANCE,
        })  # fmt: skip
    return out


def _d_range(fit: xr.Dataset) -> str:
    d = fit["d"].values
    return f"d = {stored_dimension_text(d.min())} to {stored_dimension_text(d.max())}"


def _slope_text(slopes: list) -> str:
    return ", ".join(f"k = {k}: {s:.3g} vs {f:.3g}" for k, s, f in slopes)


def _sensing_paragraph(fit: xr.Dataset, unit: str, sweep_ds: xr.Dataset) -> Markup:
    rows = sensing_survival(fit)
    if not rows:
        return Markup("")
    threshold = None
    for row in reversed(rows):
        if not row["survives"]:
            break
        threshold = row
    head = Markup(
        "Matrix sensing against factorization of the same constants, over {} (rise times "
        "rise_k, the first step with signal_k &ge; Delta/2, and their log-d slopes per unit "
        "ln d): "
    ).format(_d_range(fit))
    if threshold is None:
        text = Markup(
            "at no sampled {} do the stages of factorization survive the measurement noise"
        ).format(unit)
    elif threshold is rows[0]:
        text = Markup(
            "the stages of factorization and the rise-time slopes survive the measurement "
            "noise at every sampled {}, from {} = {:g} on"
        ).format(unit, unit, threshold["value"])
    else:
        text = Markup(
            "the stages of factorization and the rise-time slopes survive the measurement "
            "noise from {} = {:g} on"
        ).format(unit, threshold["value"])
    details = []
    for row in rows:
        what = []
        if not row["all_reached"]:
            what.append("some signals never rise")
        if not row["slopes_overlap"]:
            what.append("a slope interval misses factorization's")
        what.append(f"median rise times within {100 * row['max_rel_diff']:.0f}%")
        details.append(
            Markup("{} = {:g}: {} ({}; slopes sensing vs factorization {})").format(
                unit, row["value"], "survives" if row["survives"] else "does not survive",
                "; ".join(what), _slope_text(row["slopes"]),
            )
        )  # fmt: skip
    floor = _last_error_text(sweep_ds, [row["label"] for row in rows])
    rule = Markup(
        " Survival means: every signal rises in every run at every d, the 95% intervals of "
        "the slopes overlap, and median rise times differ by at most {:.0f}%."
    ).format(100 * RISE_TOLERANCE)
    return head + text + Markup(". ") + Markup("; ").join(details) + Markup(".") + floor + rule


def _last_error_text(sweep_ds: xr.Dataset, labels: list[str]) -> Markup:
    """The median error ||Sigma_r - X X^T||_F at the last recorded step and the largest d, per
    sensing variant and for factorization: the level the measurement noise leaves."""
    if sweep_ds is None or "error" not in sweep_ds:
        return Markup("")
    last = sweep_ds["error"].isel(step=-1, d=-1)
    values = []
    for label in ["factorization", *labels]:
        median = float(np.nanmedian(np.asarray(last.sel({PROBLEM_DIM: label}).values, float)))
        values.append(f"{label} {median:.2g}")
    return Markup(
        " Median error ||Sigma_r - X X^T||_F at the last step (step {}) and d = {}: {}."
    ).format(
        int(sweep_ds["step"].values[-1]), stored_dimension_text(float(sweep_ds["d"].values[-1])),
        ", ".join(values),
    )  # fmt: skip


def _imbalance_drift(sweep_ds: xr.Dataset, label: str) -> float:
    """Median over runs of |N_last / N_0 - 1|, N = ||X^T X - Y^T Y||_F at the recorded steps."""
    if "imbalance_norm" not in sweep_ds:
        return np.nan
    norm = sweep_ds["imbalance_norm"].sel({PROBLEM_DIM: label})
    start = norm.isel(step=0)
    last = norm.isel(step=-1)
    with np.errstate(all="ignore"):
        drift = np.abs(np.asarray((last / start).values, dtype=float) - 1.0)
    return float(np.nanmedian(drift)) if np.isfinite(drift).any() else np.nan


def _asymmetric_paragraph(fit: xr.Dataset, sweep_ds: xr.Dataset) -> Markup:
    variants = sorted(_variants(fit, "asymmetric"), key=lambda item: item[1])
    if not variants:
        return Markup("")
    clauses, summaries = [], []
    for label, value in variants:
        parts, disjoint, ratios = [], [], []
        for group in _groups(fit):
            for k in fit["k"].values:
                mine = _series(fit, group, label, k)
                ref = _series(fit, group, "factorization", k)
                if mine is None or ref is None:
                    continue
                with np.errstate(all="ignore"):
                    ratio = mine["median"] / ref["median"]
                ratios += [r for r in (ratio[0], ratio[-1]) if np.isfinite(r)]
                if not _overlap(mine, ref):
                    steeper = "steeper" if mine["slope"] > ref["slope"] else "shallower"
                    disjoint.append(f"a {steeper} rise_{int(k)} slope ({mine['slope']:.3g} vs "
                                    f"{ref['slope']:.3g}, disjoint 95% intervals)")  # fmt: skip
                parts.append(
                    f"rise_{int(k)} slope {mine['slope']:.3g} [{mine['lo']:.3g}, {mine['hi']:.3g}]"
                    f" vs symmetric {ref['slope']:.3g} [{ref['lo']:.3g}, {ref['hi']:.3g}]"
                    f" ({'overlapping' if _overlap(mine, ref) else 'disjoint'} intervals), "
                    f"median time {ratio[0]:.2f}x symmetric at the smallest d and "
                    f"{ratio[-1]:.2f}x at the largest; rises in {mine['n_reached']} of "
                    f"{mine['n_runs']} runs"
                )
        slopes = "; ".join(disjoint) or "every rise_k slope interval overlapping symmetric's"
        span = f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "no"
        summaries.append(f"imbalance {value:g}: {slopes}, median rise times {span} symmetric's")
        drift = _imbalance_drift(sweep_ds, label)
        clauses.append(
            Markup("at imbalance varpi'/varpi = {:g}: {}; ||X^T X - Y^T Y||_F drifts by a "
                   "median {:.1%} from step 0 to the last step").format(
                value, "; ".join(parts), drift)
        )  # fmt: skip
    head = Markup(
        "Asymmetric factorization against symmetric factorization (the factorization runs of "
        "the same constants), over {}, rise times rise_k against ln d: "
    ).format(_d_range(fit))
    summary = Markup("; ").join(summaries) + Markup(". In detail, ")
    return head + summary + Markup("; ").join(clauses) + Markup(".")


def problems_finding(sweep_ds: xr.Dataset, fits: xr.Dataset) -> Markup | None:
    """The opening paragraph for a sweep with a ``problem`` dim (None for other sweeps or
    when rise times were not fitted): sensing survival and the asymmetric comparison (module
    notes), ending with the sampled-range caveat."""
    if _QUANTITY not in fit_quantities(fits):
        return None
    fit = fits_for(fits, _QUANTITY)
    if PROBLEM_DIM not in fit.dims or "factorization" not in fit[PROBLEM_DIM].values:
        return None
    labels = [str(v) for v in fit[PROBLEM_DIM].values]
    unit = "m/(dr)" if any(lab.startswith("sensing m/(dr)") for lab in labels) else "m"
    parts = [
        part
        for part in (_sensing_paragraph(fit, unit, sweep_ds), _asymmetric_paragraph(fit, sweep_ds))
        if part
    ]
    if not parts:
        return None
    return Markup(" ").join(parts) + Markup(" Verdicts describe the sampled range of d only.")
