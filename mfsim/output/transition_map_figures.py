"""Figures of the transition map (:mod:`mfsim.analysis.transition_map`): the slope / theory
ratio map and the collapse of t_k^* eta Delta / ln d. Map sweeps only (:func:`is_map`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from mfsim.analysis.transition_map import AGREEMENT, is_map, map_points
from mfsim.output import style
from mfsim.output.style import FigureOptions, styled

__all__ = ["collapse_figure", "plot_transition_map", "ratio_map_figure"]


def _axis_values(rows, name):
    return sorted({row["point"][name] for row in rows})


@styled
def ratio_map_figure(rows: list[dict], *, options: FigureOptions | None = None) -> Figure:
    """Panels (rows: t_1^* and the last rise; columns: varpi) of kappa x eta cells coloured by
    the measured / predicted slope ratio (white at 1; grey: t_1^* not measured in the sampled
    d at 3 or more d values), each cell annotated with its ratio."""
    kappas, etas, varpis = (_axis_values(rows, n) for n in ("kappa", "eta", "varpi"))
    fig = Figure(figsize=(style.DOUBLE_COLUMN_WIDTH, 1.2 + 1.6 * 2), layout="constrained")
    axes = fig.subplots(2, len(varpis), squeeze=False, sharex=True, sharey=True)
    norm = TwoSlopeNorm(vcenter=1.0, vmin=1 - 3 * AGREEMENT, vmax=1 + 3 * AGREEMENT)
    image = None
    for row_index, (label, value) in enumerate(
        (("t_1^*", lambda r: r["t_star_ratio"]), ("rise_r", lambda r: r["rise_ratios"][-1]))
    ):
        for col, varpi in enumerate(varpis):
            ax = axes[row_index, col]
            grid = np.full((len(etas), len(kappas)), np.nan)
            for r in rows:
                if r["point"]["varpi"] == varpi:
                    i, j = etas.index(r["point"]["eta"]), kappas.index(r["point"]["kappa"])
                    grid[i, j] = value(r)
            image = ax.imshow(grid, origin="lower", cmap="RdBu_r", norm=norm, aspect="auto")
            ax.set_facecolor("0.85")
            for (i, j), cell in np.ndenumerate(grid):
                ax.text(j, i, "not meas." if not np.isfinite(cell) else f"{cell:.2f}",
                        ha="center", va="center", fontsize="x-small")  # fmt: skip
            ax.set_xticks(range(len(kappas)), [f"{k:g}" for k in kappas])
            ax.set_yticks(range(len(etas)), [f"{e:g}" for e in etas])
            ax.set_title(rf"${label.replace('_1^*', '_1^*')}$, $\varpi$ = {varpi:g}")
            if row_index == 1:
                ax.set_xlabel(r"$\kappa$")
            if col == 0:
                ax.set_ylabel(r"$\eta$")
    fig.colorbar(image, ax=axes, label="measured / predicted log slope")
    return fig


@styled
def collapse_figure(rows: list[dict], *, options: FigureOptions | None = None) -> Figure:
    """t_1^* eta Delta / ln d (median over the measured runs) against log10 d, one line per
    grid point, coloured by kappa: where the small-signal theory holds the curves of equal
    kappa collapse whatever eta is (every stage time scales like 1 / (eta Delta))."""
    kappas = _axis_values(rows, "kappa")
    colours = dict(zip(kappas, style.PALETTE, strict=False))
    fig = Figure(figsize=(style.COLUMN_WIDTH, 2.6), layout="constrained")
    ax = fig.subplots()
    for kappa in kappas:
        first = True
        for row in rows:
            if row["point"]["kappa"] != kappa or not np.isfinite(row["collapse"]).any():
                continue
            label = rf"$\kappa$ = {kappa:g}" if first else None
            ax.plot(row["log10_d"], row["collapse"], "o-", ms=2, lw=0.8,
                    color=colours.get(kappa), label=label)  # fmt: skip
            first = False
    ax.set_xlabel(r"$\log_{10} d$")
    ax.set_ylabel(r"$t_1^*\,\eta\,\Delta / \ln d$")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return fig


def plot_transition_map(
    ds: xr.Dataset, path_stem, *, options: FigureOptions | None = None
) -> list[Path]:
    """Write ``<stem>_ratios`` and ``<stem>_collapse`` (PNG and PDF) of a map sweep; nothing
    for other sweeps."""
    if not is_map(ds):
        return []
    rows = map_points(ds)
    stem = Path(path_stem)
    paths = style.save(ratio_map_figure(rows, options=options), f"{stem}_ratios", options)
    paths += style.save(collapse_figure(rows, options=options), f"{stem}_collapse", options)
    return paths
