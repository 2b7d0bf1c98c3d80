"""Self-contained HTML report of a sweep that leads with its answer.

First screen: one paragraph on the Transition Assumption for this sweep (:func:`finding`), a
compact headline table (quantity x group -> verdict, log slope with its interval, the
small-signal prediction, the d range) and the key figure; the detail tables, the theory
table, the Theorem 6 audit, the method, the other figures and the provenance follow in
collapsible sections. The page is rendered from the Jinja2 template ``templates/report.html.j2``
beside this module (autoescaped), math as MathML (:mod:`mfsim.output.mathml`), figures embedded
as base64 PNG: one file that opens offline, without script.
"""

from __future__ import annotations

import base64
import datetime as _dt
import platform
from collections.abc import Iterable
from pathlib import Path

import jinja2
import numpy as np
import xarray as xr
from markupsafe import Markup

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
from mfsim.datamodel import stored_dimension_log10
from mfsim.output import mathml
from mfsim.output.finding_map import map_section
from mfsim.output.finding_regimes import regimes_section
from mfsim.output.finding_ties import sweep_tie_note
from mfsim.output.report_rows import LITERAL, model_wording, opening_sentences, verdict_rows
from mfsim.output.theory_slopes import theory_rows

__all__ = [
    "finding",
    "headline_rows",
    "model_wording",
    "opening_sentences",
    "theory_rows",
    "verdict_rows",
    "write_report",
]

_VERDICT_CLASS = {
    VERDICT_LOG_DECISIVE: "log",
    VERDICT_LOG_OR_POWER: "both",
    VERDICT_FLAT: "flat",
    VERDICT_DECREASING: "flat",
    VERDICT_FASTER: "faster",
    VERDICT_BOUND: "bound",
    VERDICT_NOT_REACHED: "bound",
}
#: At most this many rows in the headline table; all rows are in the detail tables.
HEADLINE_MAX_ROWS = 12
#: Order of the quantities in the headline: the literal t_k^*, then the proxies.
HEADLINE_ORDER = (LITERAL, "rise", "escape", "learned", "plateau", "t_eps")
MODEL_NAMES = {"log": "a + b log d", "power": "c d^alpha", "const": "constant"}

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("mfsim.output", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt(value, digits: int = 3) -> str:
    """Number with ``digits`` significant digits; an en dash for NaN."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "\u2013" if not np.isfinite(value) else f"{value:.{digits}g}"


def _percent(value) -> str:
    try:
        return f"{100.0 * float(value):g}%"
    except (TypeError, ValueError):
        return "?"


def _theory_by_row(theory: list[dict]) -> dict:
    return {(row["quantity"], row["group"], f"k={row['k']}"): row for row in theory}


def headline_rows(rows: list[dict], theory: list[dict]) -> tuple[list[dict], int]:
    """The rows of the headline table, the literal t_k^* first, at most
    :data:`HEADLINE_MAX_ROWS`; returns (rows, number left out)."""
    order = {q: i for i, q in enumerate(HEADLINE_ORDER)}
    ranked = sorted(rows, key=lambda r: order.get(r["quantity"], len(order)))
    by_row = _theory_by_row(theory)
    out = []
    for row in ranked[:HEADLINE_MAX_ROWS]:
        prediction = by_row.get((row["quantity"], row["group"], row["index"]), {})
        out.append({**row, "predicted": prediction.get("predicted", np.nan)})
    return out, max(len(ranked) - HEADLINE_MAX_ROWS, 0)


def finding(rows: list[dict], theory: list[dict], fixed: str) -> Markup:
    """The first paragraph: what this sweep says on the Transition Assumption
    (t_k^* = O(log d)), the literal t_k^* first, then the proxies, with the sampled d range.

    Each quantity gets one clause: its verdict where all its rows agree, else the count of
    rows per verdict; the verdict texts are those of the fits (MathML rendered).
    """
    if not rows:
        return Markup("No stage quantity was fitted: this sweep says nothing on the Transition "
                      "Assumption.")  # fmt: skip
    # stored d (-log10 d beyond float64): compared by log10 d
    lo = min(_fitted(rows, "d_min"), key=_log10, default=np.nan)
    hi = max(_fitted(rows, "d_max"), key=_log10, default=np.nan)
    head = Markup("On the Transition Assumption ({} = {}), over ").format(
        mathml.quantity(LITERAL), Markup(mathml.big_o_log_d())
    )
    head += Markup("{} to {}").format(
        mathml.math(f"<mi>d</mi><mo>=</mo>{mathml.dimension(lo)}"),
        mathml.math(mathml.dimension(hi)),
    )
    if fixed:
        head += Markup(" (same in every row: {})").format(mathml.assignments(fixed))
    clauses = []
    for quantity in HEADLINE_ORDER + tuple(sorted({r["quantity"] for r in rows})):
        mine = [r for r in rows if r["quantity"] == quantity]
        if not mine or any(c[0] == quantity for c in clauses):
            continue
        name = "the literal" if quantity == LITERAL else "the proxy"
        clauses.append((quantity, Markup("{} {} is {}").format(
            name, mathml.quantity(quantity), _verdict_summary(mine))))  # fmt: skip
    text = head + Markup(": ") + Markup("; ").join(c for _, c in clauses) + Markup(".")
    measured = [row for row in theory if "inside" in row]
    if measured:
        inside = sum(row["inside"] for row in measured)
        text += Markup(
            " The small-signal prediction of the log slope (no fitted parameter) lies inside "
            "the fitted 95% interval in {} of {} groups."
        ).format(inside, len(measured))
    return text + Markup(" Verdicts describe the sampled range of d only.")


def _problems_first(sweep_ds, fits, text: Markup) -> Markup:
    """A sweep with a ``problem`` dim opens with its comparison of the problems
    (:mod:`mfsim.output.finding_problems`)."""
    from mfsim.output.finding_problems import problems_finding

    opening = problems_finding(sweep_ds, fits)
    return text if opening is None else opening + Markup(" ") + text


def _fitted(rows, key: str) -> list:
    return [row[key] for row in rows if np.isfinite(row[key])]


def _log10(stored) -> float:
    return float(stored_dimension_log10(stored))


def _any_d(rows) -> bool:
    return any(np.isfinite(row["d_min"]) for row in rows)


def _verdict_summary(rows: list[dict]) -> Markup:
    verdicts: dict[str, list[str]] = {}
    for row in rows:
        where = ", ".join(part for part in (row["group"], row["index"]) if part) or "all"
        verdicts.setdefault(row["verdict"], []).append(where)
    if len(verdicts) == 1:
        (verdict,) = verdicts
        return Markup("{} in every group").format(mathml.render(verdict))
    parts = [
        Markup("{} in {} of {}").format(mathml.render(verdict), len(where), len(rows))
        for verdict, where in sorted(verdicts.items(), key=lambda item: -len(item[1]))
    ]
    return Markup(", ").join(parts)


def _figure(path: Path) -> dict:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"name": path.name, "stem": path.stem, "src": f"data:image/png;base64,{data}"}


def key_figure_name(rows: list[dict], names: list[str]) -> str | None:
    """The figure shown on the first screen: the scaling figure of the literal t_k^* if it is
    measured somewhere, else of the first proxy with a growth verdict (headline order), else
    the first figure."""
    if not names:
        return None
    measured = [r["quantity"] for r in rows if r.get("case") in ("measured", "")]
    for quantity in HEADLINE_ORDER:
        if quantity in measured:
            hits = [n for n in names if n.startswith(f"scaling_{quantity}")]
            if hits:
                return hits[0]
    return names[0]


def _figures(paths: Iterable, rows: list[dict]) -> tuple[dict | None, list[dict], list[str]]:
    """(key figure, other embedded figures, names of files only listed)."""
    paths = [Path(p) for p in paths]
    pngs = [p for p in paths if p.suffix.lower() == ".png"]
    listed = [p.name for p in paths if p.suffix.lower() != ".png"]
    key = key_figure_name(rows, [p.name for p in pngs])
    key_figure = next((_figure(p) for p in pngs if p.name == key), None)
    others = [_figure(p) for p in pngs if p.name != key]
    return key_figure, others, listed


def _attrs(attrs: dict) -> list[tuple[str, str, bool]]:
    return [(str(k), str(v), "\n" in str(v)) for k, v in attrs.items()]


def _audit(audit) -> dict | None:
    if audit is None:
        return None
    from mfsim.analysis.audit import audit_summary, audit_table
    from mfsim.analysis.bracket import bracket_from_audit, bracket_summary

    totals = audit_table(audit)
    bracket = bracket_from_audit(audit)
    return {
        "summary": audit_summary(audit),
        "bracket": None if bracket is None else bracket_summary(bracket),
        "bracket_violations": 0 if bracket is None else bracket.attrs["violating_entries"],
        "empty": int(totals["steps checked"].sum()) == 0,
        "columns": list(totals.columns),
        "rows": [[str(v) for v in row] for row in totals.itertuples(index=False)],
    }


def _settings(fits: xr.Dataset) -> dict:
    quantities = fit_quantities(fits)
    settings = fits_for(fits, quantities[0]).attrs if quantities else fits.attrs
    return {
        "n_boot": settings.get("n_boot", "?"),
        "confidence": _percent(settings.get("confidence")),
        "seed": settings.get("seed", "?"),
        "min_seeds": settings.get("min_seeds", "?"),
        "min_d": settings.get("min_d", "?"),
        "power": _percent(settings.get("detection_power", 0.8)),
        "nonpositive": NONPOSITIVE_POLICY[0].upper() + NONPOSITIVE_POLICY[1:] + ".",
    }


def write_report(
    sweep_ds: xr.Dataset,
    fits: xr.Dataset,
    figure_paths: Iterable,
    out_html,
    *,
    title: str = "mfsim: stage times versus d",
    audit: xr.Dataset | None = None,
) -> Path:
    """Write a self-contained HTML report (figures embedded as base64 PNG, math as MathML).

    Parameters
    ----------
    sweep_ds : xarray.Dataset
        The sweep Dataset (its attrs and sizes go to the provenance section).
    fits : xarray.Dataset
        Output of :func:`~mfsim.analysis.scaling.fit_all` (or ``fit_scaling``).
    figure_paths : iterable of str or pathlib.Path
        Figures to embed; PNG files are embedded, other files (PDF) are only listed. The key
        figure (:func:`key_figure_name`) goes to the first screen.
    out_html : str or pathlib.Path
        Output file; parent directories are created.
    title : str, optional
        Page title.
    audit : xarray.Dataset, optional
        Output of :func:`mfsim.analysis.audit.audit_theorem6`.

    Returns
    -------
    pathlib.Path
        The file written.

    Notes
    -----
    Order of the page: the finding (:func:`finding`), the headline table
    (:func:`headline_rows`) beside the key figure; then, collapsible: the findings per
    quantity (:func:`opening_sentences`), the literal t_k^* and proxy tables (case, verdict
    and its detail, log slope, power exponent and Box-Cox alpha with intervals, the model
    comparison in words (:func:`model_wording`), run counts), the small-signal theory
    (:func:`theory_rows`), the Theorem 6 audit, the method and verdict rule, the other
    figures, provenance. All text from data is HTML-escaped (Jinja2 autoescape).
    """
    # every table reads each fit variable many times: read a lazily opened store once
    fits = fits.compute()
    if audit is not None:
        audit = audit.compute()
    rows, n_omitted, fixed = verdict_rows(fits)
    theory = theory_rows(sweep_ds, fits)
    headline, n_more = headline_rows(rows, theory)
    key_figure, figures, listed = _figures(figure_paths, rows)
    settings = _settings(fits)
    page = _ENVIRONMENT.get_template("report.html.j2").render(
        title=title,
        # a problem comparison first, then what tied top eigenvalues do (finding_problems,
        # finding_ties), then the finding on the Transition Assumption
        finding=_problems_first(
            sweep_ds, fits, Markup.escape(sweep_tie_note(sweep_ds)) + finding(rows, theory, fixed)
        ),
        headline=headline,
        n_more=n_more,
        key_figure=key_figure,
        literal_rows=[r for r in rows if r["quantity"] == LITERAL],
        proxy_rows=[r for r in rows if r["quantity"] != LITERAL],
        n_omitted=n_omitted,
        fixed=fixed,
        opening=opening_sentences(rows),
        theory=theory,
        audit=_audit(audit),
        regimes=regimes_section(sweep_ds),  # None outside the degenerate regimes
        transition_map=map_section(sweep_ds),  # None for a sweep that is not a map
        settings=settings,
        rule=VERDICT_RULE,
        figures=figures,
        listed=listed,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        python=platform.python_version(),
        xarray=xr.__version__,
        sizes=", ".join(f"{k}={v}" for k, v in sweep_ds.sizes.items()),
        sweep_attrs=_attrs(dict(sweep_ds.attrs)),
        fit_attrs=_attrs(dict(fits.attrs)),
        verdict_class=lambda verdict: _VERDICT_CLASS.get(verdict, "other"),
        math=mathml.render,
        quantity=mathml.quantity,
        coords=mathml.assignments,
        number=lambda value: mathml.math(mathml.number(value)),
        dimension=lambda value: mathml.math(mathml.dimension(value)),
        fmt=_fmt,
        models=MODELS,
        model_names=MODEL_NAMES,
        omitted=(VERDICT_UNDEFINED, VERDICT_NO_RUNS),
    )
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
