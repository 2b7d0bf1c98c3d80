"""Self-contained HTML report of a sweep: verdict table first, then method, figures, provenance."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import platform
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim.analysis.scaling import (
    MODELS,
    NONPOSITIVE_POLICY,
    VERDICT_BOUND,
    VERDICT_DECREASING,
    VERDICT_FASTER,
    VERDICT_FLAT,
    VERDICT_LOG_DECISIVE,
    VERDICT_LOG_OR_POWER,
    VERDICT_NO_RUNS,
    VERDICT_NOT_REACHED,
    VERDICT_RULE,
    VERDICT_UNDEFINED,
    fit_quantities,
    fits_for,
)

__all__ = ["opening_sentences", "theory_rows", "verdict_rows", "write_report"]

_VERDICT_CLASS = {
    VERDICT_LOG_DECISIVE: "log",
    VERDICT_LOG_OR_POWER: "both",
    VERDICT_FLAT: "flat",
    VERDICT_DECREASING: "flat",
    VERDICT_FASTER: "faster",
    VERDICT_BOUND: "bound",
    VERDICT_NOT_REACHED: "bound",
}
_OMITTED = (VERDICT_UNDEFINED, VERDICT_NO_RUNS)
#: The literal quantity of the paper; every other stage quantity is a proxy.
LITERAL = "t_k_star"

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1300px;
       color: #222; line-height: 1.4; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.log td.verdict { background: #e3f2e1; }
tr.both td.verdict { background: #eef5e0; }
tr.bound td.verdict { background: #eeeeee; }
p.warning { background: #fbe0dc; padding: 0.4em; }
tr.flat td.verdict { background: #e6eef8; }
tr.faster td.verdict { background: #fbe0dc; }
tr.other td.verdict { background: #f6f2dc; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
.note { color: #555; font-size: 0.9em; }
"""

_METHOD = """
<p>For every group of grid points that differ only in <i>d</i> (and every signal index
<i>k</i>, or accuracy level <i>eps</i> for <code>t_eps</code>) the seeds are replicates. Three
models of the stage time <i>y</i> are fitted by ordinary least squares on all (d, seed) points:
<b>log</b> <i>y = a + b log d</i>; <b>power</b> <i>y = c d<sup>alpha</sup></i> (least squares of
log <i>y</i> on log <i>d</i>); <b>const</b> <i>y = m</i>. {nonpositive}</p>
<p><b>Bootstrap.</b> Each of the {n_boot} replicates resamples the seeds with replacement
within each <i>d</i> (every <i>d</i> keeps its number of reached seeds) and refits everything;
intervals are {confidence} percentile intervals of the replicates (seeded generator, seed
{seed}: rerunning gives identical numbers).</p>
<p><b>Model comparison.</b> Leave-one-d-out cross validation on the original scale: each
<i>d</i> in turn is held out, the models are fitted on the other <i>d</i> values and predict the
held-out seeds; CV RMSE = sqrt(mean over held-out <i>d</i> of the squared prediction error).
The CV is repeated on every bootstrap replicate, which gives an interval for the difference in
CV RMSE between each model and the preferred one; the preferred model is <i>decisive</i> if all
these intervals lie above 0.</p>
<p><b>Log against power in one parameter.</b> The Box-Cox family <i>y = a + b (d<sup>alpha</sup>
- 1)/alpha</i> contains the log law (alpha = 0), the power laws <i>c d<sup>alpha</sup></i> and
the constants. It is fitted by weighted least squares to the per-<i>d</i> means (weights: seeds
over variance at that <i>d</i>); the profile interval of alpha decides "grows faster than log
d" (interval above 0). Where log and power are both consistent, the report states the smallest
alpha a power law would need to be detected in {power} of data sets simulated under the fitted
log law with the same <i>d</i> values and seeds (a simulation-based power analysis).</p>
<p><b>Missing values.</b> Runs that did not reach the stage (NaN), bound-dominated
<code>t_k_star</code> values and <i>d</i> values with fewer than min_seeds={min_seeds} reached
runs are not fitted and never filled in; they are counted in the table. Not-reached runs are
censored (the stage may lie beyond max_steps), so a fit with many of them describes the reached
runs only and is biased low.</p>
<p><b>Verdict rule</b> (applied in this order; min_d={min_d}):</p>
"""


def _fmt(value, digits: int = 3) -> str:
    """Number with ``digits`` significant digits; an en dash for NaN."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    return "&ndash;" if not np.isfinite(value) else f"{value:.{digits}g}"


def _percent(value) -> str:
    try:
        return f"{100.0 * float(value):g}%"
    except (TypeError, ValueError):
        return "?"


def _interval(fit: xr.Dataset, name: str) -> str:
    return f"{_fmt(fit[name])} [{_fmt(fit[name + '_lo'])}, {_fmt(fit[name + '_hi'])}]"


def verdict_rows(fits: xr.Dataset) -> tuple[list[dict], int, str]:
    """Rows of the verdict table, one per (quantity, group, k or eps).

    Parameters
    ----------
    fits : xarray.Dataset
        Output of :func:`~mfsim.analysis.scaling.fit_all` or ``fit_scaling``.

    Returns
    -------
    rows : list of dict
        Keys ``quantity, group, index, preferred, decisive, slope, exponent, cv, verdict,
        detail, case, case_text, boxcox, caveat, n_runs, n_reached, n_not_reached,
        n_bound_dominated, n_diverged, n_d_used, n_d`` (numbers summed over d; strings unescaped).
    n_omitted : int
        Combinations left out because the quantity is not defined there (k > r, or k = r for
        t_k_star, escape, plateau) or the grid cell has no runs.
    fixed : str
        Grid dims with a single value, ``"dim=value, ..."``; ``group`` names only the others.
    """
    rows, n_omitted, fixed = [], 0, {}
    for quantity in fit_quantities(fits):
        fit = fits_for(fits, quantity)
        group_dims = [dim for dim in fit["verdict"].dims]
        index_dim = next((dim for dim in ("k", "eps") if dim in group_dims), None)
        stacked = fit.stack(_group=group_dims) if group_dims else fit.expand_dims("_group")
        for i in range(stacked.sizes["_group"]):
            g = stacked.isel(_group=i)
            verdict = str(g["verdict"].values)
            if verdict in _OMITTED:
                n_omitted += 1
                continue
            group = ", ".join(
                f"{dim}={_plain(g[dim].values)}"
                for dim in group_dims
                if dim != index_dim and fit.sizes[dim] > 1
            )
            fixed.update(
                {
                    dim: _plain(g[dim].values)
                    for dim in group_dims
                    if dim != index_dim and fit.sizes[dim] == 1
                }
            )
            cv = ", ".join(
                f"{m} {_fmt(g['cv_rmse'].sel(model=m))}" for m in MODELS if m in g["model"]
            )
            rows.append(
                {
                    "quantity": quantity,
                    "group": group,
                    "index": f"{index_dim}={_plain(g[index_dim].values)}" if index_dim else "",
                    "preferred": str(g["preferred_model"].values),
                    "decisive": bool(g["decisive"].values),
                    "slope": _interval(g, "log_slope"),
                    "exponent": _interval(g, "power_exponent"),
                    "cv": cv,
                    "verdict": verdict,
                    "detail": _text(g, "verdict_detail"),
                    "case": _text(g, "case"),
                    "case_text": _text(g, "case_text"),
                    "boxcox": _interval(g, "boxcox_alpha") if "boxcox_alpha" in g else "",
                    "caveat": str(g["caveat"].values),
                    "n_d_used": int(g["n_d_used"].values),
                    "n_d": int((g["n_runs"] > 0).sum()),
                    **{
                        name: int(g[name].sum())
                        for name in (
                            "n_runs",
                            "n_reached",
                            "n_not_reached",
                            "n_bound_dominated",
                            "n_diverged",
                        )
                    },
                }
            )
    return rows, n_omitted, ", ".join(f"{dim}={value}" for dim, value in fixed.items())


def _text(g: xr.Dataset, name: str) -> str:
    return str(g[name].values) if name in g else ""


def _plain(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _verdict_table(rows: list[dict], n_omitted: int, *, literal: bool) -> str:
    """One table: the literal t_k^* rows (``literal=True``) or the proxies' rows."""
    rows = [row for row in rows if (row["quantity"] == LITERAL) == literal]
    if not rows:
        what = "literal t_k^*" if literal else "proxy"
        return f'<p class="note">No {what} quantity was fitted.</p>'
    head = (
        "<tr><th>quantity</th><th>group</th><th>k / eps</th><th>case</th><th>verdict</th>"
        "<th>detail</th><th>log slope b [CI]</th><th>power exponent alpha [CI]</th>"
        "<th>Box-Cox alpha [CI]</th><th>preferred model</th><th>CV RMSE</th>"
        "<th>reached</th><th>not reached</th><th>bound-dominated</th>"
        "<th>diverged</th><th>d fitted / d with runs</th><th>caveat</th></tr>"
    )
    body = []
    for row in rows:
        css = _VERDICT_CLASS.get(row["verdict"], "other")
        preferred = html.escape(row["preferred"]) + (" (decisive)" if row["decisive"] else "")
        body.append(
            f'<tr class="{css}"><td>{html.escape(row["quantity"])}</td>'
            f"<td>{html.escape(row['group']) or '&ndash;'}</td>"
            f"<td>{html.escape(row['index'])}</td>"
            f"<td>{html.escape(row['case_text'] or row['case'])}</td>"
            f'<td class="verdict">{html.escape(row["verdict"])}</td>'
            f"<td>{html.escape(row['detail'])}</td>"
            f"<td class='num'>{row['slope']}</td>"
            f"<td class='num'>{row['exponent']}</td><td class='num'>{row['boxcox']}</td>"
            f"<td>{preferred}</td><td>{row['cv']}</td>"
            f"<td class='num'>{row['n_reached']} / {row['n_runs']}</td>"
            f"<td class='num'>{row['n_not_reached']}</td>"
            f"<td class='num'>{row['n_bound_dominated']}</td>"
            f"<td class='num'>{row['n_diverged']}</td>"
            f"<td class='num'>{row['n_d_used']} / {row['n_d']}</td>"
            f"<td>{html.escape(row['caveat'])}</td></tr>"
        )
    note = (
        f'<p class="note">{n_omitted} (quantity, group, k) combinations omitted: the quantity is '
        "not defined there (k &gt; r; k = r for t_k_star, escape, plateau) or the grid cell has "
        "no runs.</p>"
        if n_omitted and not literal
        else ""
    )
    return f"<table>{head}{''.join(body)}</table>{note}"


def opening_sentences(rows: list[dict]) -> list[str]:
    """One sentence per quantity on the Transition Assumption (plain text, unescaped).

    Each sentence names, for every group and k (or eps) of the quantity, its case and verdict:
    measured and what the fit says (the verdict, its detail), bound-dominated and why, or not
    reached and why.
    """
    by_quantity: dict[str, list[dict]] = {}
    for row in rows:
        by_quantity.setdefault(row["quantity"], []).append(row)
    order = sorted(by_quantity, key=lambda q: (q != LITERAL, q))
    sentences = []
    for quantity in order:
        clauses = []
        for row in by_quantity[quantity]:
            where = ", ".join(part for part in (row["group"], row["index"]) if part)
            where = f"{where}: " if where else ""
            if row["case"] == "measured":
                detail = f" ({row['detail']})" if row["detail"] else ""
                clauses.append(f"{where}{row['case_text']}; {row['verdict']}{detail}")
            else:
                clauses.append(f"{where}{row['case_text'] or row['verdict']}")
        name = "literal t_k^* (eq. 15)" if quantity == LITERAL else f"proxy {quantity}"
        sentences.append(f"{name}: " + "; ".join(clauses) + ".")
    return sentences


def theory_rows(sweep_ds: xr.Dataset, fits: xr.Dataset) -> list[dict]:
    """Small-signal predictions beside the fitted log slopes (rise_k; measured literal t_k^*).

    The predicted slope is the least-squares slope against ln d of the scalar-model prediction
    (:func:`mfsim.analysis.linearized.predicted_rise`) at the d values the fit used, so it
    includes the finite-d transient; ``asymptotic`` is the closed form (rise: eq. R, t_k^*:
    eq. T of ``docs/transition.md``).

    Returns
    -------
    list of dict
        Keys ``quantity, group, k, predicted, asymptotic, fitted, lo, hi, inside`` (floats,
        bool), or ``reason`` (str) instead of the numbers where the theory does not apply.
    """
    from mfsim.analysis.linearized import predicted_rise

    out = []
    for quantity in ("rise", LITERAL):
        if quantity not in fit_quantities(fits):
            continue
        fit = fits_for(fits, quantity)
        dims = [dim for dim in fit["verdict"].dims if dim != "k"]
        stacked = fit.stack(_group=dims) if dims else fit.expand_dims("_group")
        d_all = np.asarray(fit["d"].values, dtype=float)
        for i in range(stacked.sizes["_group"]):
            g = stacked.isel(_group=i)
            values = {
                dim: _plain_value(g[dim].values) if dim in g.coords else None
                for dim in ("kappa", "r", "eta", "varpi")
            }
            exponent = _plain_value(g["varpi_exponent"].values) if "varpi_exponent" in g else 0
            group = ", ".join(
                f"{dim}={_plain(g[dim].values)}" for dim in dims if fit.sizes[dim] > 1
            )
            for j, k in enumerate(g["k"].values):
                gk = g.isel(k=j)
                if str(gk["verdict"].values) in _OMITTED or str(gk["case"].values) != "measured":
                    continue
                row = {"quantity": quantity, "group": group, "k": int(k)}
                used = np.asarray(gk["used_in_fit"].values, dtype=bool)
                if exponent != 0 or any(v is None for v in values.values()):
                    row["reason"] = "varpi depends on d (varpi_exponent != 0) or grid value unknown"
                    out.append(row)
                    continue
                pred = predicted_rise(
                    sweep_ds,
                    values["kappa"],
                    int(values["r"]),
                    values["eta"],
                    values["varpi"],
                    d_all[used],
                    with_chain=quantity == LITERAL,
                )
                if "reason" in pred:
                    row["reason"] = pred["reason"]
                    out.append(row)
                    continue
                if quantity == "rise":
                    series = pred["rise"][:, int(k) - 1]
                else:  # predicted bound-dominated values are left out, as in the fit
                    series = np.where(
                        pred["bound_dominated"][:, int(k) - 1],
                        np.nan,
                        pred["t_k_star"][:, int(k) - 1],
                    )
                asymptotic = (pred["slope"] if quantity == "rise" else pred["t_k_star_slope"])[
                    int(k) - 1
                ]
                ok = np.isfinite(series)
                x = np.log(d_all[used])[ok]
                predicted = float(np.polyfit(x, series[ok], 1)[0]) if ok.sum() >= 2 else np.nan
                lo, hi = float(gk["log_slope_lo"]), float(gk["log_slope_hi"])
                row.update(
                    predicted=predicted,
                    asymptotic=float(asymptotic),
                    fitted=float(gk["log_slope"]),
                    lo=lo,
                    hi=hi,
                    inside=bool(lo <= predicted <= hi),
                )
                out.append(row)
    return out


def _plain_value(value):
    value = value.item() if hasattr(value, "item") else value
    return value


def _theory_table(rows: list[dict]) -> str:
    if not rows:
        return '<p class="note">No rise or measured literal t_k^* group to compare.</p>'
    head = (
        "<tr><th>quantity</th><th>group</th><th>k</th><th>predicted slope over the fitted d "
        "(steps per ln d)</th><th>asymptotic slope</th><th>fitted log slope b [CI]</th>"
        "<th>prediction inside the CI</th></tr>"
    )
    body = []
    for row in rows:
        cells = (
            f"<td colspan='4'>{html.escape(row['reason'])}</td>"
            if "reason" in row
            else f"<td class='num'>{_fmt(row['predicted'])}</td>"
            f"<td class='num'>{_fmt(row['asymptotic'])}</td>"
            f"<td class='num'>{_fmt(row['fitted'])} [{_fmt(row['lo'])}, {_fmt(row['hi'])}]</td>"
            f"<td>{'yes' if row['inside'] else 'no'}</td>"
        )
        body.append(
            f"<tr><td>{html.escape(row['quantity'])}</td>"
            f"<td>{html.escape(row['group']) or '&ndash;'}</td><td>{row['k']}</td>{cells}</tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _summary(rows: list[dict]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        key = f"{row['quantity']}: {row['verdict']}"
        counts[key] = counts.get(key, 0) + 1
    items = "".join(f"<li>{html.escape(k)} &times; {v}</li>" for k, v in sorted(counts.items()))
    return f"<ul>{items}</ul>"


def _figures(paths: Iterable) -> str:
    parts, others = [], []
    for path in map(Path, paths):
        if path.suffix.lower() != ".png":
            others.append(path.name)
            continue
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(path.name)}</figcaption></figure>"
        )
    if others:
        names = ", ".join(html.escape(n) for n in others)
        parts.append(f'<p class="note">Also written (not embedded): {names}</p>')
    return "".join(parts) or '<p class="note">No figures.</p>'


def _attrs_table(attrs: dict) -> str:
    if not attrs:
        return '<p class="note">none</p>'
    rows = []
    for key, value in attrs.items():
        text = str(value)
        cell = f"<pre>{html.escape(text)}</pre>" if "\n" in text else html.escape(text)
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{cell}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def _audit_section(audit) -> str:
    """The Theorem 6 audit totals as an HTML table (empty without an audit)."""
    if audit is None:
        return ""
    from mfsim.analysis.audit import audit_summary, audit_table

    totals = audit_table(audit)
    table = totals.to_html(index=False, escape=True, border=0)
    empty = int(totals["steps checked"].sum()) == 0
    css = "warning" if empty else "note"
    warning = f'<p class="{css}">{html.escape(audit_summary(audit))}</p>\n'
    return (
        '<h2 id="audit">Theorem 6 audit</h2>\n<p class="note">Bounds of Theorem 6 checked on '
        "the recorded steps of the runs that meet its conditions (eta &le; Delta/(100 "
        "lambda_1^2), sigma_1(X_0) &le; 1/sqrt(3 eta)). A violation is a finding, not an "
        f"error.</p>\n{warning}{table}"
    )


def write_report(
    sweep_ds: xr.Dataset,
    fits: xr.Dataset,
    figure_paths: Iterable,
    out_html,
    *,
    title: str = "mfsim: stage times versus d",
    audit: xr.Dataset | None = None,
) -> Path:
    """Write a self-contained HTML report (figures embedded as base64 PNG).

    Parameters
    ----------
    sweep_ds : xarray.Dataset
        The sweep Dataset (its attrs and sizes go to the provenance section).
    fits : xarray.Dataset
        Output of :func:`~mfsim.analysis.scaling.fit_all` (or ``fit_scaling``).
    figure_paths : iterable of str or pathlib.Path
        Figures to embed; PNG files are embedded, other files (PDF) are only listed.
    out_html : str or pathlib.Path
        Output file; parent directories are created.
    title : str, optional
        Page title.
    audit : xarray.Dataset, optional
        Output of :func:`mfsim.analysis.audit.audit_theorem6`; its totals follow the verdict table.

    Returns
    -------
    pathlib.Path
        The file written.

    Notes
    -----
    Order of the page: one sentence per quantity on the Transition Assumption
    (:func:`opening_sentences`: measured and what the fit says, bound-dominated and why, not
    reached and why); the literal t_k^* table and the proxies' table (case, verdict and its
    detail, log slope, power exponent and Box-Cox alpha with their intervals, preferred model,
    CV RMSE, counts of reached / not reached / bound-dominated / diverged runs summed over d);
    the small-signal theory beside the fitted slopes (:func:`theory_rows`); the Theorem 6
    audit, flagged when it covered no run; the method and verdict rule; the figures;
    provenance (sweep and fit attrs, dims, creation time). All text from data is HTML-escaped.
    """
    # every table reads each fit variable many times: read a lazily opened store once
    fits = fits.compute()
    if audit is not None:
        audit = audit.compute()
    rows, n_omitted, fixed = verdict_rows(fits)
    quantities = fit_quantities(fits)
    settings = fits_for(fits, quantities[0]).attrs if quantities else fits.attrs
    method = _METHOD.format(
        n_boot=settings.get("n_boot", "?"),
        confidence=_percent(settings.get("confidence")),
        seed=settings.get("seed", "?"),
        min_seeds=settings.get("min_seeds", "?"),
        min_d=settings.get("min_d", "?"),
        power=_percent(settings.get("detection_power", 0.8)),
        nonpositive=html.escape(NONPOSITIVE_POLICY[0].upper() + NONPOSITIVE_POLICY[1:]) + ".",
    )
    rule = "".join(
        f'<li>"{html.escape(verdict)}" if {html.escape(condition)}</li>'
        for verdict, condition in VERDICT_RULE
    )
    opening = "".join(f"<li>{html.escape(text)}</li>" for text in opening_sentences(rows))
    sizes = ", ".join(f"{html.escape(str(k))}={v}" for k, v in sweep_ds.sizes.items())
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<h2 id="findings">What the data show on the Transition Assumption (t_k^* = O(log d))</h2>
<ul id="opening">{opening}</ul>
<h2 id="verdicts">Verdicts</h2>
<p class="note">Intervals are {_percent(settings.get("confidence"))} bootstrap percentile
intervals over seeds. The verdicts describe the sampled range of d only.
Same in all rows: {html.escape(fixed) or "&ndash;"}.</p>
<h3 id="literal">Literal t_k^* (eq. 15)</h3>
{_verdict_table(rows, n_omitted, literal=True)}
<h3 id="proxies">Proxies (empirical stages)</h3>
{_verdict_table(rows, n_omitted, literal=False)}
{_summary(rows)}
<h3 id="theory">Small-signal theory beside the fits</h3>
<p class="note">Small-signal predictions from docs/transition.md (no fitted parameter): the
slope against ln d of the predicted stage times at the d values each fit used, and the
asymptotic slope, rise_k: 1 / (2 ln(1 + eta (lambda_k - mu))) with mu the bulk level where the
bulk Gram matrix saturates (lambda_(r+1) for the flat bulk); a measured literal t_k^*:
(S_(k+1) - T_k) ln rho_(k+1) / (ln rho_(k+1) - ln q), T_k the slope of t_k in the chain's
regime at the largest fitted d.</p>
{_theory_table(theory_rows(sweep_ds, fits))}
{_audit_section(audit)}
<h2 id="method">Method</h2>
{method}
<ol>{rule}</ol>
<h2 id="figures">Figures</h2>
{_figures(figure_paths)}
<h2 id="provenance">Provenance</h2>
<p>Report created {created} with Python {html.escape(platform.python_version())},
xarray {html.escape(xr.__version__)}.</p>
<p>Sweep dims: {sizes}</p>
<h3>Sweep attributes</h3>
{_attrs_table(dict(sweep_ds.attrs))}
<h3>Fit settings</h3>
{_attrs_table(dict(fits.attrs))}
</body></html>
"""
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
