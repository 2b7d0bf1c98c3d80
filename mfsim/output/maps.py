"""Maps over two grid axes of a map sweep (e.g. eta x varpi at one d): the fraction of runs
that diverged and median stage times, with the paper's step-size and divergence boundaries."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm, Normalize

from mfsim.datamodel import FAILED_STATUSES
from mfsim.output import style
from mfsim.output.selection import (
    MAP_PREFERENCE,
    edges,
    figure_sizes,
    honest_median,
    map_axes,
    map_xy,
    run_exists,
)
from mfsim.output.style import FigureOptions, styled

__all__ = ["map_axes", "map_figures", "plot_maps"]

#: Status codes (``status.flag_values``) of runs that blew up.
DIVERGED_STATUS = FAILED_STATUSES


def format_cell(value: float, integer: bool) -> str:
    """Cell text: integers for step counts, 2 decimals, scientific notation when small."""
    if not np.isfinite(value):
        return ""
    if integer:
        return f"{value:.0f}"
    if value in (0.0, 1.0):
        return f"{value:.0f}"
    if abs(value) < 0.01:
        return style.scientific(value)
    return f"{value:.2f}"


def _divergence_scale(ds: xr.Dataset, selection: dict) -> float:
    """Median sigma_1(N_0) of the map's runs: sigma_1(X_0) = varpi sigma_1(N_0).

    Read from ``sigma1_sq_X`` at step 0 divided by ``varpi_effective^2`` (the random start the
    runs had); 1 + sqrt(r/d) (the typical largest singular value of a d x r matrix of
    N(0, 1/d) entries) when the sweep does not hold it.
    """
    if "sigma1_sq_X" in ds and "varpi_effective" in ds.coords and 0 in ds["step"].values:
        start = ds["sigma1_sq_X"].sel(selection).sel(step=0)
        varpi = ds["varpi_effective"].sel(
            {k: v for k, v in selection.items() if k in ds["varpi_effective"].dims}
        )
        ratio = np.sqrt(start / varpi**2).values
        ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
        if ratio.size:
            return float(np.median(ratio))
    d = float(selection.get("d", ds["d"].values[0]))
    r = float(selection.get("r", ds["r"].values[0]))
    if d < 0:  # stored -log10 d: d beyond float64, r / d is 0 in float64
        return 1.0
    return 1.0 + np.sqrt(r / d)


def _theorem6_eta(ds: xr.Dataset, selection: dict) -> float:
    """Theorem 6's step-size bound Delta / (100 lambda_1^2) at the selection (NaN if unknown)."""
    if "Delta" not in ds.coords or "lambda_1" not in ds.coords:
        return np.nan
    pick = {k: v for k, v in selection.items() if k in ds["Delta"].dims}
    delta = np.atleast_1d(ds["Delta"].sel(pick).values).astype(float)
    lambda_1 = np.atleast_1d(ds["lambda_1"].sel(pick).values).astype(float)
    bound = delta / (100.0 * lambda_1**2)
    bound = bound[np.isfinite(bound)]
    return float(bound[0]) if bound.size and np.allclose(bound, bound[0]) else np.nan


def _map_panels(ds: xr.Dataset, selection: dict, x: str, y: str) -> list[tuple]:
    """(title, values (y, x), is_integer, colormap, colorbar label, limits) of each panel."""
    sub = ds.sel(selection)
    exists = run_exists(sub)
    n_runs = exists.sum("seed")
    panels = []
    diverged = sub["status"].isin(list(DIVERGED_STATUS)) & exists
    fraction = (diverged.sum("seed") / n_runs.where(n_runs > 0)).transpose(y, x)
    panels.append(
        ("fraction of runs diverged", fraction.values, False, "Reds", "diverged / runs", (0, 1))
    )
    if "t_eps" in sub:
        eps = float(sub["eps"].values.min())
        t_eps = honest_median(sub["t_eps"].sel(eps=eps), exists).transpose(y, x)
        title = rf"median time to accuracy $\varepsilon = {style.math_number(eps)}$"
        panels.append((title, t_eps.values, True, "viridis", "steps $t$", None))
    if "escape" in sub:
        escape = sub["escape"]
        ks = [k for k in escape["k"].values if escape.sel(k=k).notnull().any()]
        for k in sorted({ks[0], ks[-1]}) if ks else []:
            median = honest_median(escape.sel(k=k), exists).transpose(y, x)
            title = f"median saddle-escape time, $k = {style.fmt(k)}$"
            panels.append((title, median.values, True, "viridis", "steps $t$", None))
    return panels


def _time_norm(values: np.ndarray) -> Normalize:
    """Color scale of step counts: logarithmic when they span more than a factor 10."""
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size == 0:
        return Normalize(0, 1)
    lo, hi = float(finite.min()), float(finite.max())
    if hi > 10 * lo:
        return LogNorm(lo, hi)
    return Normalize(lo, hi if hi > lo else lo + 1)


def _annotate(ax, values, xv, yv, scales, norm, integer, cmap) -> None:
    x_edges, y_edges = scales["x_edges"], scales["y_edges"]
    for (i, j), value in np.ndenumerate(values):
        xc = np.sqrt(x_edges[j] * x_edges[j + 1]) if scales["x_scale"] == "log" else xv[j]
        yc = np.sqrt(y_edges[i] * y_edges[i + 1]) if scales["y_scale"] == "log" else yv[i]
        if np.isfinite(value):
            dark = norm(value) > 0.6 if cmap == "Reds" else norm(value) < 0.45
            text, color = format_cell(value, integer), "white" if dark else "black"
        else:
            text, color = "n.r.", "0.35"
        ax.text(xc, yc, text, ha="center", va="center", fontsize="xx-small", color=color, zorder=4)


def _draw_map(ax, fig, panel, xv, yv, scales, boundaries) -> None:
    title, values, integer, cmap, label, limits = panel
    norm = Normalize(*limits) if limits else _time_norm(values)
    masked = np.ma.masked_invalid(values)
    colormap = matplotlib.colormaps[cmap].with_extremes(bad="0.85")
    mesh = ax.pcolormesh(
        scales["x_edges"], scales["y_edges"], masked, cmap=colormap, norm=norm, shading="flat"
    )
    ax.set_xscale(scales["x_scale"])
    ax.set_yscale(scales["y_scale"])
    if values.size <= style.MAX_ANNOTATED_CELLS:
        _annotate(ax, values, xv, yv, scales, norm, integer, cmap)
    for boundary in boundaries:
        boundary(ax)
    ax.set_xlim(scales["x_lim"])
    ax.set_ylim(scales["y_edges"][0], scales["y_edges"][-1])
    ax.set_title(title, fontsize="small")
    fig.colorbar(mesh, ax=ax, label=label, shrink=0.85, pad=0.02)


def _boundaries(ds, selection, x_lim) -> tuple[list, list]:
    """The paper's boundaries on an eta x varpi map (callables drawing them) and the x limits."""
    boundaries = []
    bound = _theorem6_eta(ds, selection)
    if np.isfinite(bound) and bound > 0:
        x_lim = [min(x_lim[0], bound / 1.5), max(x_lim[1], bound * 1.5)]

        def theorem6(ax, bound=bound):
            ax.axvline(
                bound,
                color=style.BLUE,
                lw=1.2,
                ls="-.",
                zorder=3,
                label=rf"$\eta = \Delta/(100 \lambda_1^2) = {bound:.3g}$: Theorem 6 needs "
                r"$\eta$ at or left of this line",
            )

        boundaries.append(theorem6)
    scale = _divergence_scale(ds, selection)
    eta_line = np.geomspace(x_lim[0], x_lim[1], 200)
    varpi_line = 1.0 / (np.sqrt(3.0 * eta_line) * scale)

    def divergence(ax, eta_line=eta_line, varpi_line=varpi_line, scale=scale):
        ax.plot(
            eta_line,
            varpi_line,
            color=style.BLACK,
            lw=1.2,
            ls="--",
            zorder=3,
            label=r"$\sigma_1(X_0) = 1/\sqrt{3\eta}$, i.e. "
            rf"$\varpi = 1/({scale:.3g} \sqrt{{3\eta}})$: Theorem 6 needs $\varpi$ below; "
            "far above, GD diverges",
        )

    boundaries.append(divergence)
    return boundaries, x_lim


@styled
def map_figures(
    ds: xr.Dataset, *, options: FigureOptions | None = None
) -> list[tuple[dict, object]]:
    """Maps over two grid axes of a map sweep, one figure per group of the other axes.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset whose grid varies along two or more axes other than d
        (:func:`map_axes`), e.g. ``config/eta_varpi_map.yaml`` (eta x varpi at one d).
    options : FigureOptions, optional
        The ``figures:`` section (style).

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        Group coordinates (every dim but the two map axes and seed) and its figure: panels
        over (x, y) = (eta, varpi) when both vary (else the first two map axes) with the
        fraction of runs that diverged (status diverged or nonfinite), the median t_eps at
        the smallest eps and the median escape time of the first and last signal k. Values
        are written in the cells up to :data:`mfsim.output.style.MAX_ANNOTATED_CELLS` cells.
        Empty when the sweep is not a map sweep.

    Notes
    -----
    Medians count runs that did not reach the stage as later than all others, so a cell whose
    median run did not reach it is grey ("n.r."), not the median of the fast ones. On
    eta x varpi maps two of the paper's boundaries are drawn: the divergence limit
    sigma_1(X_0) = 1/sqrt(3 eta) (section 4, after Theorem 6), i.e. varpi = 1/(sqrt(3 eta)
    s) with s the median sigma_1(N_0) of the runs, and Theorem 6's step-size condition
    eta <= Delta / (100 lambda_1^2).
    """
    xy = map_xy(ds)
    if xy is None:
        return []
    x, y = xy
    _, selections = style.groups(ds["status"], [x, y, "seed"])
    xv = ds[x].values.astype(float)
    yv = ds[y].values.astype(float)
    x_edges, x_scale = edges(xv)
    y_edges, y_scale = edges(yv)
    out = []
    for selection in selections:
        if not bool(run_exists(ds.sel(selection)).any()):
            continue
        x_lim = [x_edges[0], x_edges[-1]]
        boundaries = []
        if (x, y) == MAP_PREFERENCE:
            boundaries, x_lim = _boundaries(ds, selection, x_lim)
        scales = {
            "x_edges": x_edges,
            "y_edges": y_edges,
            "x_scale": x_scale,
            "y_scale": y_scale,
            "x_lim": x_lim,
        }
        panels = _map_panels(ds, selection, x, y)
        n = len(panels)
        n_cols = min(n, 2)
        n_rows = -(-n // n_cols)
        fig = style.new_figure(style.panel_width(n), 2.7 * n_rows + 1.3)
        axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
        for ax, panel in zip(axes, panels, strict=False):
            _draw_map(ax, fig, panel, xv, yv, scales, boundaries)
            ax.set_xlabel(f"{style.axis_name(x)} ({x_scale} scale)")
            ax.set_ylabel(f"{style.axis_name(y)} ({y_scale} scale)")
        for ax in axes[n:]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=1)
        fig.suptitle(
            f"Map over {style.axis_name(x)} and {style.axis_name(y)}\n"
            f"{style.group_title(selection)}; grey (n.r.): not reached by the median run"
        )
        out.append((selection, fig))
    return out


def plot_maps(ds: xr.Dataset, path_stem, *, options: FigureOptions | None = None) -> list[Path]:
    """Write the maps of a map sweep (see :func:`map_figures`); none for other sweeps.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    path_stem : str or pathlib.Path
        Output stem (suffixed with the varying coordinates of the other axes, if any).
    options : FigureOptions, optional
        The ``figures:`` section.

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    return style.save_all(map_figures(ds, options=options), path_stem, figure_sizes(ds), options)
