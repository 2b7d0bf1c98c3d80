"""Error curves ||Sigma - X_t X_t^T||_F against the step, with the median stage times marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.lines
import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm, Normalize

from mfsim.output import style
from mfsim.output.selection import (
    d_text,
    edges,
    existing_seeds,
    figure_sizes,
    honest_median,
    map_xy,
    median_curve,
    run_exists,
    smallest_and_largest_d,
    sort_by_d,
)
from mfsim.output.style import FigureOptions, styled

__all__ = ["error_curves_figures", "plot_error_curves"]

#: The x-axis ends this factor after the last median curve reached its floor.
CLIP_MARGIN = 1.5
#: Stage times marked on the median error curves: variable -> (marker, name).
STAGE_MARKERS = {"rise": ("^", "rise time"), "learned": ("o", "learned time")}


def floor_step(steps: np.ndarray, median: np.ndarray) -> float:
    """First step from which a median error curve stays within 10x of its final floor.

    NaN when the curve did not converge (its last value is above 1e-6 of its first).
    """
    ok = np.isfinite(median) & (median > 0)
    if ok.sum() < 2:
        return np.nan
    values, at = median[ok], steps[ok]
    floor = values[-1]
    if floor > 1e-6 * values[0]:
        return np.nan
    above = np.flatnonzero(values > 10.0 * max(floor, np.min(values)))
    return float(at[above[-1] + 1]) if above.size and above[-1] + 1 < at.size else float(at[0])


def step_axis(ax, steps, floors, medians, scale: str = "log") -> str | None:
    """Step axis, log (symlog: t = 0 shown, linear below 1) or linear, clipped after
    convergence.

    Returns the text that summarizes the clipped tail, or None when nothing is clipped.
    """
    if scale == "log":
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.6)
    last = float(steps.max())
    finite = [f for f in floors if np.isfinite(f)]
    if len(finite) != len(floors) or not finite:
        ax.set_xlim(0, last)
        return None
    end = CLIP_MARGIN * max(finite)
    # clip only when the tail would take over a quarter of the axis
    if scale == "log":
        small = np.log10(last + 1) - np.log10(end + 1) < 0.25 * np.log10(last + 1)
    else:
        small = last - end < 0.25 * last
    if end <= 0 or small:
        ax.set_xlim(0, last)
        return None
    ax.set_xlim(0, end)
    tails = ", ".join(f"{name}: {value:.1e}" for name, value in medians.items())
    return (
        f"not shown: t = {end:.0f} to {last:.0f}, where every median stays at its final value"
        + (f" ({tails})" if tails else "")
    )


def _mark_stages(ax, ds, selection, steps, median, color, factor: float = 1.0) -> None:
    """Markers on a median error curve at the median (over seeds) stage times of each k, with
    the k written beside and a thin vertical line, so that they stay apart at any d."""
    exists = run_exists(ds.sel(selection))
    ok = np.isfinite(median) & (median > 0)
    if ok.sum() < 2:
        return
    for name, (marker, _) in STAGE_MARKERS.items():
        if name not in ds:
            continue
        times = honest_median(ds[name].sel(selection), exists)
        for k in times["k"].values:
            t = float(times.sel(k=k))
            if not np.isfinite(t):
                continue
            y = np.exp(np.interp(t, steps[ok], np.log(median[ok])))
            ax.axvline(t * factor, color=color, lw=0.4, ls=":", alpha=0.7, zorder=1)
            ax.plot(
                [t * factor], [y], ls="", marker=marker, ms=5, mec=color, mfc="white", mew=1.1,
                zorder=5,
            )  # fmt: skip
            ax.annotate(
                str(int(k)),
                (t * factor, y),
                textcoords="offset points",
                xytext=(3, 4),
                fontsize="x-small",
                color=color,
            )


def _stage_legend(ax) -> tuple[list, list]:
    handles, labels = ax.get_legend_handles_labels()
    for marker, name in STAGE_MARKERS.values():
        if any(line.get_marker() == marker for line in ax.lines):
            handles.append(
                matplotlib.lines.Line2D([], [], ls="", marker=marker, color="0.3", mfc="white")
            )
            labels.append(f"median {name} of signal $k$ ($k$ beside)")
    return handles, labels


def _step_label(options: FigureOptions, scale: str) -> str:
    units = style.TIME_LABELS[options.time_units]
    return units + (" (log scale; linear below 1)" if scale == "log" else "")


def _error_label(error: xr.DataArray) -> str:
    return r"error $\|\Sigma - X_t X_t^\top\|_F$"


@styled
def error_curves_figures(
    ds: xr.Dataset, *, options: FigureOptions | None = None
) -> list[tuple[dict, object]]:
    """Error versus step, one figure per grid group (per group of the other axes in a map sweep).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with ``error(..., d, ..., seed, step)``.
    options : FigureOptions, optional
        The ``figures:`` section: ``step_axis`` (log or linear) and ``time_units`` (the step
        axis in steps t, eta t or eta Delta t).

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        Group coordinates and the figure. A sweep with fewer than two map axes
        (:func:`mfsim.output.selection.map_axes`): one axes with every run of the smallest and
        the largest d (thin lines) and their medians (thick), the median rise and learned times
        of each k marked on the medians. A map sweep: one panel per value of the map's x axis
        (eta), with one median curve per value of its y axis (varpi), colored by it.

    Notes
    -----
    The default step axis is logarithmic (symlog: t = 0 shown, linear below 1), so that the
    early stages (entering S, each signal rising, saddle escapes) get as much room as the
    linear convergence; a linear axis shows the linear convergence as a straight line. When
    every median has reached its floor (float64 rounding), the axis stops 1.5x after the last
    one did and a note gives the floors. Runs stop at different steps (NaN afterwards); a
    median is drawn only at steps where at least half of the runs still have a value, so it is
    not a median of the slow survivors.
    """
    options = style.figure_options(options)
    if map_xy(ds) is not None:
        return _map_error_curves(ds, options)
    error = ds["error"]
    _, selections = style.groups(error, ["d", "seed", "step"])
    steps = ds["step"].values.astype(float)
    out = []
    for selection in selections:
        err = sort_by_d(error.sel(selection))
        exists = existing_seeds(ds, selection)
        if exists is not None:
            err = err.where(exists)
        has_run = np.isfinite(err.values).any(axis=(1, 2))
        d_with_runs = err["d"].values[has_run]
        if d_with_runs.size == 0:
            continue
        factor = style.time_factor(ds, selection, options)
        fig = style.new_figure(style.COLUMN_WIDTH * 1.35, 3.3)
        ax = fig.subplots()
        chosen = smallest_and_largest_d(d_with_runs)
        floors, finals = [], {}
        for color, d in zip((style.BLUE, style.VERMILLION), chosen, strict=False):
            curves = err.sel(d=d).transpose("seed", "step").values
            curves = curves[np.isfinite(curves).any(axis=1)]
            for curve in curves:
                ax.plot(steps * factor, curve, color=color, lw=0.4, alpha=0.35)
            median = median_curve(curves)
            ax.plot(
                steps * factor,
                median,
                color=color,
                lw=1.8,
                label=f"d = {d_text(d, style.compact)}: median of {curves.shape[0]} seeds",
            )
            floors.append(floor_step(steps, median) * factor)
            _mark_stages(ax, ds, {**selection, "d": d}, steps, median, color, factor)
            finite = median[np.isfinite(median)]
            finals[f"d = {d_text(d, style.fmt)}"] = float(finite[-1]) if finite.size else np.nan
        # runs that stopped (converged) leave NaN after their stop: no axis beyond the last data
        alive = np.isfinite(err.transpose(..., "step").values).reshape(-1, steps.size).any(axis=0)
        shown = steps[: int(np.flatnonzero(alive)[-1]) + 1] if alive.any() else steps
        tail = step_axis(ax, shown * factor, floors, finals, options.step_axis)
        ax.set_yscale("log")
        ax.set_xlabel(_step_label(options, options.step_axis))
        ax.set_ylabel(_error_label(error))
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(*_stage_legend(ax), loc="lower left", fontsize="x-small")
        title = f"Error curves\n{style.group_title(selection)}"
        if tail:
            title += f"\n{tail}"
        ax.set_title(title, fontsize="x-small")
        out.append((selection, fig))
    return out


def _map_error_curves(ds: xr.Dataset, options: FigureOptions) -> list[tuple[dict, object]]:
    """Error curves of a map sweep: panels over x, median curves colored by y."""
    x, y = map_xy(ds)
    error = ds["error"]
    _, selections = style.groups(error, [x, y, "seed", "step"])
    steps = ds["step"].values.astype(float)
    yv = ds[y].values.astype(float)
    _, y_scale = edges(yv)
    norm = (LogNorm if y_scale == "log" else Normalize)(
        yv.min(), yv.max() if yv.max() > yv.min() else yv.min() + 1
    )
    colormap = matplotlib.colormaps["viridis"]
    out = []
    for selection in selections:
        exists = run_exists(ds.sel(selection))
        if not bool(exists.any()):
            continue
        err = error.sel(selection).where(exists)
        n = ds.sizes[x]
        n_cols = min(int(np.ceil(np.sqrt(n))), 3)
        n_rows = -(-n // n_cols)
        fig = style.new_figure(style.DOUBLE_COLUMN_WIDTH, 2.3 * n_rows + 0.8)
        axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
        for ax, xval in zip(axes, ds[x].values, strict=False):
            factor = style.time_factor(ds, {**selection, x: xval}, options)
            floors = []
            for yval in ds[y].values:
                curves = err.sel({x: xval, y: yval}).transpose("seed", "step").values
                curves = curves[np.isfinite(curves).any(axis=1)]
                if not curves.size:
                    continue
                median = median_curve(curves)
                ax.plot(steps * factor, median, color=colormap(norm(float(yval))), lw=1.1)
                floors.append(floor_step(steps, median) * factor)
            ax.set_yscale("log")
            tail = step_axis(ax, steps * factor, floors, {}, options.step_axis)
            note = f"\nclipped at {ax.get_xlim()[1]:.3g} (every median at its floor)"
            ax.set_title(style.coordinate_text(x, xval) + (note if tail else ""), fontsize="small")
            ax.set_xlabel(_step_label(options, options.step_axis))
            ax.grid(True, which="major", alpha=0.3)
        for ax in axes[n:]:
            ax.set_visible(False)
        for ax in axes[::n_cols]:
            ax.set_ylabel(_error_label(error))
        mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap)
        fig.colorbar(
            mappable, ax=list(axes[:n]), label=f"{style.axis_name(y)} (median over seeds)",
            shrink=0.8,
        )  # fmt: skip
        fig.suptitle(
            f"Error curves: median over seeds per {style.axis_name(y)}\n"
            f"{style.group_title(selection)}"
        )
        out.append((selection, fig))
    return out


def plot_error_curves(
    ds: xr.Dataset, path_stem, *, options: FigureOptions | None = None
) -> list[Path]:
    """Write the error-curve figures (see :func:`error_curves_figures`).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    path_stem : str or pathlib.Path
        Output stem (suffixed with the varying grid coordinates when there are several groups).
    options : FigureOptions, optional
        The ``figures:`` section.

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    figures = error_curves_figures(ds, options=options)
    return style.save_all(figures, path_stem, figure_sizes(ds), options)
