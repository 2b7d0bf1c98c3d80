"""Noise (coupling) curves sigma_1(u_k K_k^T) against the step beside their rounding floor."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim.output import style
from mfsim.output.error_curves import CLIP_MARGIN
from mfsim.output.selection import (
    existing_seeds,
    figure_sizes,
    map_xy,
    median_curve,
    nanpercentile_columns,
    smallest_and_largest_d,
    sort_by_d,
)
from mfsim.output.style import FigureOptions, styled

__all__ = ["noise_figures", "plot_noise"]


def _quartiles(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quartiles over runs where at least half of the runs still have a value."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        alive = np.isfinite(curves).sum(axis=0) >= curves.shape[0] / 2.0
        q1, q3 = nanpercentile_columns(curves, [25, 75])
    return np.where(alive, q1, np.nan), np.where(alive, q3, np.nan)


def _draw_panel(ax, sel, floor, selection, chosen, k, steps) -> None:
    ends, floors_drawn = [], []
    for color, d in zip((style.BLUE, style.VERMILLION), chosen, strict=False):
        curves = sel.sel(d=d, k=k).transpose("seed", "step").values
        curves = curves[np.isfinite(curves).any(axis=1)]
        median = median_curve(curves)
        q1, q3 = _quartiles(curves)
        ax.fill_between(steps, q1, q3, color=color, alpha=0.15, lw=0)
        label = f"d = {style.compact(d)}"
        ax.plot(steps, median, color=color, lw=1.5, label=f"{label}: median of {len(curves)} seeds")
        end = steps[np.isfinite(median)].max() if np.isfinite(median).any() else 0.0
        if floor is not None:
            fl = floor.sel(selection).sel(d=d, k=k).transpose("seed", "step").values
            fl_median = median_curve(fl[np.isfinite(fl).any(axis=1)])
            floors_drawn.append(fl_median)
            ax.plot(
                steps, fl_median, color=color, lw=0.9, ls="--", label=f"{label}: rounding floor"
            )
            below = np.flatnonzero(np.isfinite(median) & (median <= fl_median))
            if below.size:
                end = min(end, steps[below[0]])
        ends.append(end)
    last = max(ends) if ends else steps.max()
    ax.set_xlim(0, min(steps.max(), CLIP_MARGIN * last) if last > 0 else steps.max())
    ax.set_yscale("log")
    if floors_drawn:  # below the floor a float64 iterate resolves nothing
        bottom, top = ax.get_ylim()
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ceiling = np.nanmax(np.array(floors_drawn), axis=0)
        ax.fill_between(
            steps,
            bottom,
            ceiling,
            color="0.88",
            lw=0,
            zorder=0,
            label="below the floor: not resolved (docs/accuracy.md)",
        )
        ax.set_ylim(bottom, top)
    ax.set_xlabel("steps $t$")
    ax.set_title(rf"noise of signal $k = {int(k)}$: $\sigma_1(u_k K_k^\top)$", fontsize="small")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right", fontsize="x-small")


@styled
def noise_figures(
    ds: xr.Dataset, *, options: FigureOptions | None = None
) -> list[tuple[dict, object]]:
    """Noise sigma_1(u_k K_k^T) versus step beside its rounding floor, one figure per group.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with ``noise(..., d, ..., seed, k, step)`` and, when the engine stored it,
        ``noise_floor`` with the same dims.
    options : FigureOptions, optional
        The ``figures:`` section (style).

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        Group coordinates and the figure: one panel per k < r (property 4 of Theorem 6 is about
        these), the median over seeds of the smallest and the largest d (solid, with the
        interquartile band) and the median ``noise_floor`` (dashed): below it a float64 iterate
        does not resolve the noise (docs/accuracy.md). Empty for a map sweep.

    Notes
    -----
    The step axis is linear and the noise axis logarithmic, so a geometric decay
    (1 - eta Delta/6)^t (property 4) is a straight line; the axis ends 1.5x after every median
    has met its floor or the runs stopped. A median is drawn only where at least half of the
    runs still have a value.
    """
    if map_xy(ds) is not None or "noise" not in ds:
        return []
    noise = ds["noise"]
    floor = ds["noise_floor"] if "noise_floor" in ds else None
    _, selections = style.groups(noise, ["d", "seed", "k", "step"])
    steps = ds["step"].values.astype(float)
    out = []
    for selection in selections:
        r = int(selection["r"]) if "r" in selection else int(ds["k"].max())
        ks = [k for k in ds["k"].values if k < r]
        exists = existing_seeds(ds, selection)
        sel = noise.sel(selection)
        if exists is not None:
            sel = sel.where(exists)
        sel = sort_by_d(sel).transpose("d", ...)
        has_run = np.isfinite(sel.values).reshape(sel.sizes["d"], -1).any(axis=1)
        d_with_runs = sel["d"].values[has_run]
        if not ks or d_with_runs.size == 0:
            continue
        n_cols = min(len(ks), 3)
        n_rows = -(-len(ks) // n_cols)
        fig = style.new_figure(
            style.panel_width(len(ks)) * (1.35 if n_cols == 1 else 1), 0.8 + 2.8 * n_rows
        )
        axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
        chosen = smallest_and_largest_d(d_with_runs)
        for ax, k in zip(axes, ks, strict=False):
            _draw_panel(ax, sel, floor, selection, chosen, k, steps)
        for ax in axes[len(ks) :]:
            ax.set_visible(False)
        for ax in axes[::n_cols]:
            ax.set_ylabel(r"noise $\sigma_1(u_k K_k^\top)$")
        fig.suptitle(f"Noise decay (a straight line is geometric)\n{style.group_title(selection)}")
        out.append((selection, fig))
    return out


def plot_noise(ds: xr.Dataset, path_stem, *, options: FigureOptions | None = None) -> list[Path]:
    """Write the noise figures (see :func:`noise_figures`); returns the files written."""
    return style.save_all(noise_figures(ds, options=options), path_stem, figure_sizes(ds), options)
