"""The paper's Figure 1 for one run: the error curve, then heat maps at the marked steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from mfsim.output import style
from mfsim.output.heatmaps import GRAM_LABEL, draw_heatmap, symmetric_norm
from mfsim.output.style import FigureOptions, styled

__all__ = ["figure1_figure", "plot_figure1"]


@styled
def figure1_figure(ds_single_run: xr.Dataset, *, options: FigureOptions | None = None):
    """The paper's Figure 1 for one run: error curve, then heat maps at the marked steps.

    Parameters
    ----------
    ds_single_run : xarray.Dataset
        One run: ``error`` with dim ``step`` and ``top_gram`` with dims ``heatmap_step, row,
        col``; their other dims (e.g. ``seed``, grid dims) must have size 1. Other variables
        (with dims ``k``, ``eps``, ...) are ignored, so ``mfsim.simulate(..., seeds=[s])``
        output works as is.
    options : FigureOptions, optional
        The ``figures:`` section (style).

    Returns
    -------
    matplotlib.figure.Figure
        Left the error curve (log y) with the heat-map steps as points, then one heat map per
        ``heatmap_step`` with a shared symmetric color scale and a colorbar; full page width.

    Raises
    ------
    ValueError
        If a dim other than ``step, heatmap_step, row, col`` has a size other than 1.

    Notes
    -----
    The error at a heat-map step that is not a recorded step is interpolated linearly in
    ``log error`` between the neighbouring recorded steps.
    """
    keep = {"step", "heatmap_step", "row", "col"}
    used = ds_single_run[["error", "top_gram"]]
    extra = {dim: size for dim, size in used.sizes.items() if dim not in keep}
    if any(size != 1 for size in extra.values()):
        raise ValueError(f"not a single run: dims {extra} must have size 1")
    run = used.isel({dim: 0 for dim in extra})
    steps = run["step"].values.astype(float)
    error = run["error"].transpose("step").values.astype(float)
    hsteps = run["heatmap_step"].values.astype(float)
    gram = run["top_gram"].transpose("heatmap_step", "row", "col").values
    labels = [str(v) for v in run["row"].values]

    n = hsteps.size
    fig = style.new_figure(style.DOUBLE_COLUMN_WIDTH, 2.3)
    grid = fig.add_gridspec(1, n + 1, width_ratios=[2.3] + [1.0] * n)
    ax0 = fig.add_subplot(grid[0, 0])
    ok = np.isfinite(error) & (error > 0)
    ax0.plot(steps[ok], error[ok], color=style.BLUE, lw=1.3)
    with np.errstate(divide="ignore"):
        marked = np.exp(np.interp(hsteps, steps[ok], np.log(error[ok]), left=np.nan, right=np.nan))
    ax0.plot(hsteps, marked, "o", color=style.VERMILLION, ms=4.5, zorder=5)
    for t, e in zip(hsteps, marked, strict=True):
        if np.isfinite(e):
            ax0.annotate(
                style.fmt(t), (t, e), textcoords="offset points", xytext=(4, 4),
                fontsize="x-small", color=style.VERMILLION,
            )  # fmt: skip
    ax0.set_yscale("log")
    ax0.set_xlabel("steps $t$")
    ax0.set_ylabel(r"error $\|\Sigma - X_t X_t^\top\|_F$")
    ax0.grid(True, alpha=0.3)
    shown = {
        c: run[c].values
        for c in ("d", "r", "eta", "varpi_effective")
        if c in run.coords and run[c].size == 1
    }
    ax0.set_title(style.group_title(shown), fontsize="x-small")

    norm = symmetric_norm(gram)
    values = gram.size <= style.MAX_ANNOTATED_CELLS
    image = None
    axes = []
    for j in range(n):
        ax = fig.add_subplot(grid[0, j + 1])
        image = draw_heatmap(ax, gram[j], norm, labels, values)
        ax.set_title(f"t = {style.fmt(hsteps[j])}", fontsize="small")
        axes.append(ax)
    if axes:
        fig.colorbar(image, ax=axes, shrink=0.7, label=GRAM_LABEL)
    return fig


def plot_figure1(ds_single_run: xr.Dataset, path_stem, *, options=None) -> list[Path]:
    """Write the paper's Figure 1 for one run (see :func:`figure1_figure`).

    Parameters
    ----------
    ds_single_run : xarray.Dataset
        Single-run Dataset (dims ``seed`` of size 1, ``step``, ``heatmap_step``, ``row``,
        ``col``).
    path_stem : str or pathlib.Path
        Output stem; writes ``<path_stem>.png`` and ``<path_stem>.pdf``.
    options : FigureOptions, optional
        The ``figures:`` section.

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    return style.save(figure1_figure(ds_single_run, options=options), Path(path_stem), options)
