"""Overlay figures across a grid axis other than d: the fitted log slope b of a stage time
against eta, kappa or varpi, one series per value of the other axes, with the small-signal
prediction where the project has one (:mod:`mfsim.output.theory_slopes`)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim.analysis.scaling import fit_quantities, fits_for
from mfsim.output import style
from mfsim.output.style import FigureOptions, styled
from mfsim.output.theory_slopes import PREDICTED_QUANTITIES, theory_rows

__all__ = ["overlay_axes", "overlay_figures", "plot_overlays"]

PREDICTION = "small-signal prediction (asymptotic slope)"
#: Markers of the series (with the palette's colors), cycled.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def overlay_axes(fits: xr.Dataset) -> list[str]:
    """Group axes of the fits other than d, k and eps with more than one value (none when a
    categorical axis such as ``problem`` varies: the report compares problems in its tables)."""
    quantities = fit_quantities(fits)
    if not quantities:
        return []
    fit = fits_for(fits, quantities[0])
    varying = [d for d in fit["verdict"].dims if d not in ("k", "eps") and fit.sizes[d] > 1]
    # a categorical axis (problem) is no x axis, and its series would mix problems: none
    if any(not np.issubdtype(fit[dim].dtype, np.number) for dim in varying):
        return []
    return varying


def _slopes(fit: xr.Dataset, axis: str, index: str | None, value, others: dict):
    """x values, b, b_lo, b_hi along `axis` at one index value and one combination of the
    other axes (NaN where there is no fit)."""
    sel = {**others, **({index: value} if index else {})}
    g = fit.sel(sel)
    g = g.squeeze([dim for dim in g["log_slope"].dims if dim != axis and g.sizes[dim] == 1])
    x = g[axis].values.astype(float)
    return x, *(
        g[name].values.astype(float) for name in ("log_slope", "log_slope_lo", "log_slope_hi")
    )


def _factors(ds, fit, axis, others, options) -> np.ndarray:
    return np.array([style.time_factor(ds, {**others, axis: v}, options) for v in fit[axis].values])


def _theory_series(rows, quantity, axis, index_value, others, x) -> np.ndarray:
    """Asymptotic predicted slope at each x (NaN where there is none)."""
    out = np.full(x.size, np.nan)
    for row in rows:
        if row["quantity"] != quantity or row["k"] != index_value or "asymptotic" not in row:
            continue
        coords = row["coords"]
        if all(np.isclose(float(coords[k]), float(v)) for k, v in others.items() if k in coords):
            hit = np.flatnonzero(np.isclose(x, float(coords[axis])))
            out[hit] = row["asymptotic"]
    return out


def _draw_panel(ax, ds, fit, quantity, axis, index, value, other_dims, rows, options) -> bool:
    """One panel: b against `axis` per combination of `other_dims`; False if nothing drawn."""
    drawn = False
    combos = list(itertools.product(*(fit[dim].values for dim in other_dims)))
    for i, combo in enumerate(combos):
        others = dict(zip(other_dims, combo, strict=True))
        x, b, lo, hi = _slopes(fit, axis, index, value, others)
        if not np.isfinite(b).any():
            continue
        factor = _factors(ds, fit, axis, others, options)
        color, marker = style.PALETTE[i % 7], MARKERS[i % len(MARKERS)]
        group = style.group_title(others)
        label = f"{group}: fitted $b$" if group else "fitted $b$"
        ax.errorbar(
            x, b * factor, yerr=[(b - lo) * factor, (hi - b) * factor], color=color,
            marker=marker, ms=4, lw=1.0, capsize=2, label=f"{label} (95% interval)",
        )  # fmt: skip
        drawn = True
        if quantity in PREDICTED_QUANTITIES and index == "k":
            theory = _theory_series(rows, quantity, axis, int(value), others, x)
            if np.isfinite(theory).any():
                ok = np.isfinite(theory)
                ax.plot(
                    x[ok], (theory * factor)[ok], color=color, ls="--", lw=1.0, marker=marker,
                    mfc="white", ms=4, label=f"{group}: {PREDICTION}" if group else PREDICTION,
                )  # fmt: skip
    if not drawn:
        return False
    values = fit[axis].values.astype(float)
    if values.min() > 0 and values.max() / values.min() > 3:
        ax.set_xscale("log")
    ax.axhline(0.0, color="0.6", lw=0.5, zorder=0)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(style.axis_name(axis))
    head = style.coordinate_text(index, value) if index else ""
    ax.set_title(head, fontsize="small")
    return True


def _slope_label(quantity: str, options: FigureOptions) -> str:
    units = {"steps": "steps", "eta_t": r"$\eta t$", "eta_Delta_t": r"$\eta \Delta t$"}
    noun = style.QUANTITIES.get(quantity, (quantity,))[0]
    return f"log slope $b$ of {noun}\n({units[options.time_units]} per unit of $\\ln d$)"


@styled
def overlay_figures(
    ds: xr.Dataset, fits: xr.Dataset, *, options: FigureOptions | None = None
) -> list[tuple[dict, object]]:
    """The fitted log slopes against each grid axis other than d, one figure per quantity and
    axis, one panel per k (or eps).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset (its ``config`` attr gives the spectrum for the prediction).
    fits : xarray.Dataset
        Output of :func:`mfsim.analysis.scaling.fit_all`.
    options : FigureOptions, optional
        The ``figures:`` section; with ``time_units: eta_t`` the slopes are multiplied by
        each group's eta (b in gradient-flow time per unit of ln d), where the eta-dependence
        of the small-signal slopes 1 / (2 ln(1 + eta gap)) ~ 1 / (2 eta gap) collapses.

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        ``({"quantity": q, "axis": a}, figure)``: b with its bootstrap interval against axis a,
        one series per combination of the other varying axes, and for rise_k and the measured
        literal t_k^* the asymptotic small-signal slope (dashed, hollow markers) at the same
        grid points. Empty when no axis other than d varies.
    """
    options = style.figure_options(options)
    axes_to_draw = overlay_axes(fits)
    rows = theory_rows(ds, fits) if axes_to_draw else []
    out = []
    for quantity, axis in itertools.product(fit_quantities(fits), axes_to_draw):
        fit = fits_for(fits, quantity)
        index = (
            "k" if "k" in fit["verdict"].dims else ("eps" if "eps" in fit["verdict"].dims else None)
        )
        other_dims = [dim for dim in axes_to_draw if dim != axis]
        index_values = list(fit[index].values) if index else [None]
        with np.errstate(all="ignore"):
            finite = [
                v for v in index_values
                if np.isfinite(fit.sel({index: v} if index else {})["log_slope"].values).any()
            ]  # fmt: skip
        if not finite:
            continue
        n_cols = min(len(finite), 3)
        n_rows = -(-len(finite) // n_cols)
        fig = style.new_figure(
            style.panel_width(len(finite)) * (1.35 if n_cols == 1 else 1), 1.2 + 2.4 * n_rows
        )
        panels = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
        for ax, value in zip(panels, finite, strict=False):
            _draw_panel(ax, ds, fit, quantity, axis, index, value, other_dims, rows, options)
        for ax in panels[len(finite) :]:
            ax.set_visible(False)
        for ax in panels[::n_cols]:
            ax.set_ylabel(_slope_label(quantity, options))
        handles, labels = panels[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 2))
        fig.suptitle(f"{style.quantity_title(quantity)}: log slope against {style.axis_name(axis)}")
        out.append(({"quantity": quantity, "axis": axis}, fig))
    return out


def plot_overlays(
    ds: xr.Dataset, fits: xr.Dataset, out_dir, *, options: FigureOptions | None = None
) -> list[Path]:
    """Write the overlay figures (see :func:`overlay_figures`) as
    ``<out_dir>/overlay_<quantity>_<axis>.png/.pdf``; returns the files written."""
    paths = []
    for key, fig in overlay_figures(ds, fits, options=options):
        stem = Path(out_dir) / f"overlay_{key['quantity']}_{key['axis']}"
        paths += style.save(fig, stem, options)
    return paths
