"""Heat maps of the top 3x3 block of the Gram matrix X_t X_t^T at the configured steps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.colors import Normalize

from mfsim.output import style
from mfsim.output.selection import existing_seeds, figure_sizes, map_xy
from mfsim.output.style import FigureOptions, styled

__all__ = ["heatmap_figures", "plot_heatmaps"]

GRAM_LABEL = r"$(X_t X_t^\top)_{ij}$"


def draw_heatmap(ax, block: np.ndarray, norm: Normalize, labels: Sequence, values: bool) -> object:
    """A block of the Gram matrix, its values written in the cells if `values`; returns the
    image."""
    image = ax.imshow(block, cmap=style.HEATMAP_CMAP, norm=norm)
    ax.set_xticks(range(block.shape[1]), labels[: block.shape[1]], fontsize="x-small")
    ax.set_yticks(range(block.shape[0]), labels[: block.shape[0]], fontsize="x-small")
    ax.tick_params(length=0)
    if not np.isfinite(block).any():
        ax.text(
            1, 1, "run stopped\nbefore this step", ha="center", va="center", fontsize="xx-small",
            color="0.4",
        )  # fmt: skip
    if not values:
        return image
    for (i, j), v in np.ndenumerate(block):
        if np.isfinite(v):
            dark = abs(norm(v) - 0.5) > 0.3
            ax.text(
                j,
                i,
                format_gram(v),
                ha="center",
                va="center",
                fontsize="xx-small",
                color="white" if dark else "black",
            )
    return image


def format_gram(value: float) -> str:
    """Two decimals, or scientific notation for small nonzero entries (5e-05 is not 0.00)."""
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return style.scientific(value)
    return f"{value:.2f}"


def symmetric_norm(values: np.ndarray) -> Normalize:
    """Color scale symmetric about 0, shared by all heat maps of a figure."""
    vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    return Normalize(vmin=-vmax, vmax=vmax)


def _heatmap_rows(ds: xr.Dataset, selection: dict, along: str) -> list[tuple[str, np.ndarray]]:
    """(row label, blocks (heatmap_step, row, col)) of the first existing seed per `along`."""
    g = ds["top_gram"].sel(selection).sortby(along)
    g = g.transpose(along, "seed", "heatmap_step", "row", "col")
    exists = existing_seeds(ds, selection)
    rows = []
    for i, value in enumerate(g[along].values):
        values = g.values[i]
        ok = np.isfinite(values).any(axis=(1, 2, 3))
        if exists is not None:
            ok &= exists.sel({along: value}).transpose("seed").values
        if ok.any():
            first = int(np.flatnonzero(ok)[0])
            label = f"{along} = {style.compact(value)}\n(seed {style.fmt(g['seed'].values[first])})"
            rows.append((label, values[first]))
    return rows


def _heatmap_figure(rows, hsteps: np.ndarray, labels: Sequence, title: str):
    blocks = np.stack([blocks for _, blocks in rows])
    norm = symmetric_norm(blocks)
    values = blocks.size <= style.MAX_ANNOTATED_CELLS
    n_rows, n_cols = len(rows), hsteps.size
    # fixed layout (inches): constrained layout is slow with dozens of axes
    left, right, bottom = 0.75, 1.0, 0.25
    width = style.DOUBLE_COLUMN_WIDTH if n_cols > 2 else style.COLUMN_WIDTH * 1.35
    cell = min(1.25, (width - left - right) / n_cols)
    lines = style.wrap(title, int(width * 13))
    top = 0.45 + 0.16 * len(lines)
    height = top + cell * n_rows + bottom
    fig = style.new_figure(width, height, layout=None)
    grid_width = cell * n_cols
    axes = fig.subplots(
        n_rows,
        n_cols,
        squeeze=False,
        gridspec_kw={
            "left": left / width,
            "right": (left + grid_width) / width,
            "bottom": bottom / height,
            "top": 1 - top / height,
            "wspace": 0.25,
            "hspace": 0.25,
        },
    )
    image = None
    for i, ((label, row_blocks), ax_row) in enumerate(zip(rows, axes, strict=True)):
        for j, ax in enumerate(ax_row):
            image = draw_heatmap(ax, row_blocks[j], norm, labels, values)
            if i == 0:
                ax.set_title(f"t = {style.fmt(hsteps[j])}", fontsize="small")
        ax_row[0].set_ylabel(label, fontsize="x-small")
    cax = fig.add_axes(
        (
            (left + grid_width + 0.3) / width,
            bottom / height + 0.1,
            0.14 / width,
            1 - (top + bottom) / height - 0.2,
        )
    )
    fig.colorbar(image, cax=cax, label=GRAM_LABEL)
    fig.suptitle("\n".join(lines), y=1 - 0.1 / height, fontsize="medium")
    return fig


@styled
def heatmap_figures(
    ds: xr.Dataset, *, options: FigureOptions | None = None
) -> list[tuple[dict, object]]:
    """Heat maps of ``top_gram`` (top 3x3 block of X X^T) at the configured steps.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with ``top_gram(..., d, ..., seed, heatmap_step, row, col)``.
    options : FigureOptions, optional
        The ``figures:`` section (style).

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        One figure per grid group: one row of heat maps per d (the first existing seed of each
        d), one column per ``heatmap_step`` (``run.heatmap_steps``), a shared symmetric color
        scale and one colorbar axes. Values are written in the cells (below 0.01 in magnitude
        in scientific notation) only when the figure has at most
        :data:`mfsim.output.style.MAX_ANNOTATED_CELLS` cells; larger figures show colors only.
        In a map sweep one figure per group of the other axes, with one row per value of the
        map's x axis (eta) at the middle value of its y axis (varpi), instead of one figure
        per cell.
    """
    hsteps = ds["heatmap_step"].values
    labels = [str(v) for v in ds["row"].values]
    xy = map_xy(ds)
    if xy is None:
        along, inner = "d", ["d", "seed", "heatmap_step", "row", "col"]
    else:
        x, y = xy
        along, inner = x, [x, y, "seed", "heatmap_step", "row", "col"]
        middle = ds[y].values[(ds.sizes[y] - 1) // 2]
    _, selections = style.groups(ds["top_gram"], inner)
    out = []
    for selection in selections:
        chosen = dict(selection) if xy is None else {**selection, y: middle}
        rows = _heatmap_rows(ds, chosen, along)
        if not rows:
            continue
        shown = {k: v for k, v in chosen.items() if k != along}
        title = (
            r"Top $3 \times 3$ block of $X_t X_t^\top$ at the configured steps: "
            + style.group_title(shown)
        )
        out.append((selection, _heatmap_figure(rows, hsteps, labels, title)))
    return out


def plot_heatmaps(ds: xr.Dataset, path_stem, *, options: FigureOptions | None = None) -> list[Path]:
    """Write the heat-map figures (see :func:`heatmap_figures`).

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
    figures = heatmap_figures(ds, options=options)
    return style.save_all(figures, path_stem, figure_sizes(ds), options)
