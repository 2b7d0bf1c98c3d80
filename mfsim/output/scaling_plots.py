"""Stage-time scaling figures: a stage time against d with the fitted log, power and constant
laws, one figure per group of the other grid axes and one panel per signal k (or eps)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim.analysis.scaling import VERDICT_NO_RUNS, VERDICT_UNDEFINED, classify_runs, fits_for
from mfsim.datamodel import stored_dimension_log10
from mfsim.output import style
from mfsim.output.selection import huge_d, index_dim, sort_by_d
from mfsim.output.style import FigureOptions, styled

__all__ = ["plot_scaling", "scaling_figures"]

MODEL_STYLE = {
    "log": {"color": style.VERMILLION, "label": r"$a + b \ln d$"},
    "power": {"color": style.GREEN, "label": r"$c\, d^{\alpha}$"},
    "const": {"color": style.GREY, "label": "constant", "linestyle": ":"},
}
#: Panels per row of a scaling figure.
PANELS_PER_ROW = 3


def _draw_runs(ax, x, value, reached, bound) -> None:
    ax.scatter(
        x[reached], value[reached], s=7, color=style.BLUE, alpha=0.45, lw=0, label="seeds (reached)"
    )
    if bound.any():
        ax.scatter(
            x[bound],
            value[bound],
            s=10,
            color=style.GREY,
            marker="x",
            lw=0.7,
            label="bound-dominated (not fitted)",
        )


def _draw_fits(ax, d, counts, fit, axis, factor) -> None:
    curve_d = axis(fit["d_curve"].values)
    # a fit speaks for the d it was fitted on: its curves are not drawn beyond them
    fitted = d[counts >= 2] if (counts >= 2).any() else d
    inside = (curve_d >= fitted.min() * (1 - 1e-12)) & (curve_d <= fitted.max() * (1 + 1e-12))
    for model in ("log", "power", "const"):
        spec = MODEL_STYLE[model]
        curve = np.where(inside, fit["curve"].sel(model=model).values, np.nan) * factor
        if not np.isfinite(curve).any():
            continue
        ax.plot(
            curve_d,
            curve,
            color=spec["color"],
            lw=1.3,
            ls=spec.get("linestyle", "-"),
            label=f"fit {spec['label']}" + (" (95% band)" if model != "const" else ""),
            zorder=4,
        )
        if model != "const":
            ax.fill_between(
                curve_d,
                np.where(inside, fit["curve_lo"].sel(model=model).values, np.nan) * factor,
                np.where(inside, fit["curve_hi"].sel(model=model).values, np.nan) * factor,
                color=spec["color"],
                alpha=0.2,
                lw=0,
            )


def _draw_scaling_panel(ax, runs, fit, rng, theory=None, factor: float = 1.0) -> None:
    """One panel: runs (dims d, seed) of one group and index, the group's fit, and optionally
    the small-signal theory ``(d_curve, prediction, slope)`` (rise panels); stage times
    multiplied by `factor` (the time units).

    Beyond d = 1e250 matplotlib's log axis overflows, so the axis is log10 d (linear)."""
    d_raw = runs["d"].values.astype(float)
    huge = huge_d(d_raw)
    axis = stored_dimension_log10 if huge else (lambda v: np.asarray(v, dtype=float))
    d = axis(d_raw)
    shift = rng.uniform(-0.06, 0.06, size=(d.size, runs.sizes["seed"]))
    x = d[:, None] + shift * (np.ptp(d) / 50.0 if huge else 0.0)
    if not huge:
        x = d[:, None] * np.exp(shift * np.log(10.0))
    reached = runs["reached"].values
    value = runs["value"].values * factor
    _draw_runs(ax, x, value, reached, runs["bound_dominated"].values)
    with np.errstate(all="ignore"):
        counts = reached.sum(axis=1)
        medians = np.array(
            [np.median(value[i, reached[i]]) if counts[i] else np.nan for i in range(d.size)]
        )
    ax.plot(d, medians, "D", color=style.BLACK, ms=3.5, label="median", zorder=5)
    _draw_fits(ax, d, counts, fit, axis, factor)
    if theory is not None:
        theory_d, theory_y, _ = theory
        ax.plot(
            axis(theory_d),
            np.asarray(theory_y) * factor,
            color=style.PURPLE,
            lw=1.2,
            ls="--",
            label="small-signal prediction (docs/transition.md)",
            zorder=4,
        )
    _mark_not_reached(ax, d, runs)
    if huge:
        margin = 0.03 * np.ptp(d)
        ax.set_xlim(d.min() - margin, d.max() + margin)
    else:
        ax.set_xscale("log")
        ax.set_xlim(d.min() / 1.6, d.max() * 1.6)
    ax.grid(True, which="major", alpha=0.3)
    ax.text(
        0.03,
        0.97,
        fit_summary(fit, None if theory is None else theory[2], factor),
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize="x-small",
        bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1.5},
    )


def _mark_not_reached(ax, d, runs) -> None:
    """`not reached / runs` at the bottom of each d where some runs did not reach the stage."""
    not_reached = runs["not_reached"].values.sum(axis=1)
    n_runs = runs["exists"].values.sum(axis=1)
    transform = ax.get_xaxis_transform()
    for di, nr, nn in zip(d, not_reached, n_runs, strict=True):
        if nr:
            ax.text(
                di,
                0.02,
                f"{nr}/{nn}",
                transform=transform,
                ha="center",
                va="bottom",
                fontsize="xx-small",
                color=style.VERMILLION,
            )


def fit_summary(fit: xr.Dataset, theory_slope: float | None = None, factor: float = 1.0) -> str:
    """Statistics of one panel in proportional type with mathtext: b and alpha with their
    intervals, the Box-Cox alpha, the model with the lowest cross-validated error, and the
    predicted slope when given."""
    if not np.isfinite(float(fit["log_slope"])):
        why = str(fit["case_text"].values) if "case_text" in fit else ""
        why = why or str(fit["caveat"].values)
        caveat = textwrap.fill(why, 45)
        verdict = style.verdict_text(str(fit["verdict"].values))
        return f"no fit: {verdict}" + (f"\n{caveat}" if caveat else "")

    def interval(name: str, scale: float = 1.0) -> str:
        value, lo, hi = (float(fit[name + s]) * scale for s in ("", "_lo", "_hi"))
        return f"{value:.3g} [{lo:.3g}, {hi:.3g}]"

    # the model comparison only: "decisive" is the verdict's word (the verdict is the title)
    preferred = str(fit["preferred_model"].values)
    lines = [f"$b$ = {interval('log_slope', factor)}"]
    if theory_slope is not None:
        lines.append(f"$b$ predicted = {theory_slope * factor:.3g}")
    lines.append(rf"$\alpha$ = {interval('power_exponent')}")
    if "boxcox_alpha" in fit:
        lines.append(rf"Box-Cox $\alpha$ = {interval('boxcox_alpha')}")
    lines.append(f"lowest cross-validated error: {preferred}")
    return "\n".join(lines)


def _panels(fit_g, index):
    """Index values (k or eps) of the panels of one group: those where the quantity is
    defined and the group has runs."""
    if index:
        verdicts = fit_g["verdict"].values
        keep = [i for i, v in enumerate(verdicts) if v not in (VERDICT_UNDEFINED, VERDICT_NO_RUNS)]
        return list(fit_g[index].values[keep])
    if str(fit_g["verdict"].values) in (VERDICT_UNDEFINED, VERDICT_NO_RUNS):
        return []
    return [None]


@styled
def scaling_figures(
    ds: xr.Dataset, fits: xr.Dataset, quantity: str, *, options: FigureOptions | None = None
) -> list[tuple[dict, object]]:
    """Build the scaling figures of one quantity, one per group of non-d grid dims.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    fits : xarray.Dataset
        Output of :func:`mfsim.analysis.scaling.fit_scaling` for ``quantity`` or of
        :func:`mfsim.analysis.scaling.fit_all`.
    quantity : str
        Stage quantity.
    options : FigureOptions, optional
        The ``figures:`` section (:func:`mfsim.output.style.figure_options`): style and time
        units (steps, eta t or eta Delta t: the stage times, fits and slopes are multiplied by
        the group's eta, or eta Delta).

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        The group's coordinates and its figure, with one axes per k (or eps) for which the
        quantity is defined in that group. Groups without any defined index are skipped.

    Notes
    -----
    Panels show the stage time against d on a log axis, so ``a + b ln d`` is a straight line:
    seeds as points jittered by up to ``10^{+-0.06}`` in d, medians (diamonds), fitted log,
    power and const curves, with pointwise bootstrap percentile bands for log and power, and the
    number of runs that did not reach the stage at each d. Rise panels also show the
    small-signal prediction (:func:`mfsim.analysis.linearized.predicted_rise`, no fitted
    parameter) where the spectrum has a flat top bulk level.
    """
    runs = sort_by_d(classify_runs(ds, quantity))
    fit = fits_for(fits, quantity)
    index = index_dim(runs["value"])
    inner = ["d", "seed"] + ([index] if index else [])
    _, selections = style.groups(runs["value"], inner)
    out = []
    for selection in selections:
        runs_g, fit_g = runs.sel(selection), fit.sel(selection)
        index_values = _panels(fit_g, index)
        if not index_values:
            continue
        factor = style.time_factor(ds, selection, options)
        theory = rise_theory(ds, fit, selection) if quantity == "rise" else None
        fig = _scaling_figure(runs_g, fit_g, quantity, index, index_values, theory, factor, options)
        title = f"{style.quantity_title(quantity)} against dimension $d$"
        fig.suptitle(f"{title}\n{style.group_title(selection)}")
        out.append((selection, fig))
    return out


def _scaling_figure(runs_g, fit_g, quantity, index, index_values, theory, factor, options):
    n = len(index_values)
    n_cols = min(n, PANELS_PER_ROW)
    n_rows = -(-n // n_cols)
    fig = style.new_figure(style.panel_width(n), 0.9 + 2.5 * n_rows)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    rng = np.random.default_rng(0)
    for ax, value in zip(axes, index_values, strict=False):
        sel = {index: value} if index else {}
        fit_panel = fit_g.sel(sel)
        panel_theory = None
        if theory is not None and index == "k" and int(value) <= len(theory[2]):
            k = int(value) - 1
            panel_theory = (theory[0], theory[1][:, k], float(theory[2][k]))
        _draw_scaling_panel(ax, runs_g.sel(sel), fit_panel, rng, panel_theory, factor)
        head = style.coordinate_text(index, value) if index else ""
        verdict = style.verdict_text(str(fit_panel["verdict"].values))
        ax.set_title(f"{head}: {verdict}" if head else verdict, fontsize="small")
        missed = int(runs_g.sel(sel)["not_reached"].sum())
        scale = r"$\log_{10} d$" if huge_d(runs_g["d"].values) else "dimension $d$ (log scale)"
        ax.set_xlabel(scale + ("\nred: not reached / runs" if missed else ""))
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[::n_cols]:
        ax.set_ylabel(style.quantity_label(quantity, options))
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:n]:  # bound-dominated markers may only appear in later panels
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3))
    return fig


def rise_theory(ds: xr.Dataset, fit: xr.Dataset, selection: dict):
    """(d_curve, predicted rise (n, r), slope (r,)) of one group; None where it does not apply."""
    from mfsim.analysis.linearized import predicted_rise

    def value(name, default=None):
        if name in selection:
            return style.scalar(selection[name])
        if name in ds.coords and ds[name].size == 1:
            return style.scalar(ds[name].values)
        return default

    if value("varpi_exponent", 0.0) not in (0, 0.0):
        return None
    kappa, r, eta, varpi = (value(name) for name in ("kappa", "r", "eta", "varpi"))
    if None in (kappa, r, eta, varpi):
        return None
    d_curve = fit["d_curve"].values
    pred = predicted_rise(ds, kappa, int(r), eta, varpi, d_curve)
    if "reason" in pred:
        return None
    return d_curve, pred["rise"], pred["slope"]


def plot_scaling(
    ds: xr.Dataset,
    fits: xr.Dataset,
    quantity: str,
    path_stem,
    *,
    options: FigureOptions | None = None,
) -> list[Path]:
    """Write the scaling figures of one quantity (see :func:`scaling_figures`).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    fits : xarray.Dataset
        Fit result for ``quantity`` (:func:`mfsim.analysis.scaling.fit_scaling` or ``fit_all``).
    quantity : str
        Stage quantity.
    path_stem : str or pathlib.Path
        Output stem: ``<path_stem>.png/.pdf`` if the other grid dims have size 1, else
        ``<path_stem>_<dim>-<value>_....png/.pdf`` per group (only varying dims named).
    options : FigureOptions, optional
        The ``figures:`` section.

    Returns
    -------
    list of pathlib.Path
        Files written (PNG then PDF for each figure).
    """
    figures = scaling_figures(ds, fits, quantity, options=options)
    return style.save_all(figures, path_stem, dict(ds.sizes), options)
