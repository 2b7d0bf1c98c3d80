"""Figures of a sweep: the public names of every figure family, and :func:`plot_sweep`.

One module per figure family: :mod:`~mfsim.output.scaling_plots` (stage time against d),
:mod:`~mfsim.output.overlays` (slopes across eta, kappa, varpi), :mod:`~mfsim.output.maps`
(maps over two grid axes), :mod:`~mfsim.output.error_curves`, :mod:`~mfsim.output.noise`,
:mod:`~mfsim.output.heatmaps`, :mod:`~mfsim.output.figure1`; the shared style (fonts, palette,
column widths, the ``figures:`` options) in :mod:`~mfsim.output.style`.

Every ``plot_*`` function writes ``<stem>.png`` and ``<stem>.pdf`` (one stem per figure) and
returns the list of files written; the matching ``*_figures`` / ``figure1_figure`` builders
return the :class:`matplotlib.figure.Figure` objects without writing. Figures are created with
:class:`matplotlib.figure.Figure` directly (no pyplot state, rendered by the Agg canvas), so
they are safe in worker processes and never need closing; they are built and saved in the
project's own style (:func:`mfsim.output.style.style_context`), whatever the user's
matplotlibrc says.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim.analysis.scaling import VERDICT_NO_RUNS, VERDICT_UNDEFINED, fit_quantities, fits_for
from mfsim.output.error_curves import error_curves_figures, plot_error_curves
from mfsim.output.figure1 import figure1_figure, plot_figure1
from mfsim.output.heatmaps import heatmap_figures, plot_heatmaps
from mfsim.output.maps import map_figures, plot_maps
from mfsim.output.noise import noise_figures, plot_noise
from mfsim.output.overlays import overlay_figures, plot_overlays
from mfsim.output.scaling_plots import plot_scaling, scaling_figures
from mfsim.output.selection import map_axes
from mfsim.output.style import DPI, FigureOptions, figure_options
from mfsim.output.transition_map_figures import plot_transition_map

__all__ = [
    "DPI",
    "FigureOptions",
    "error_curves_figures",
    "figure1_figure",
    "figure_options",
    "heatmap_figures",
    "map_axes",
    "map_figures",
    "noise_figures",
    "overlay_figures",
    "plot_error_curves",
    "plot_figure1",
    "plot_heatmaps",
    "plot_maps",
    "plot_noise",
    "plot_overlays",
    "plot_scaling",
    "plot_sweep",
    "scaling_figures",
]


def plot_sweep(
    ds: xr.Dataset,
    fits: xr.Dataset,
    out_dir,
    workers: int = 1,
    options: FigureOptions | dict | None = None,
) -> list[Path]:
    """Every figure of a sweep: scaling per fitted quantity (when d varies), overlays across
    the other grid axes (when one varies), maps (map sweeps, :func:`map_axes`), error curves,
    noise, heat maps.

    Parameters
    ----------
    ds : xarray.Dataset
        The sweep store (loaded in memory when ``workers > 1``).
    fits : xarray.Dataset or None
        Output of :func:`mfsim.analysis.scaling.fit_all`; only used when d has several values.
    out_dir : str or pathlib.Path
        Directory for the PNG and PDF files (created).
    workers : int
        Processes drawing the figure groups (scaling of each quantity, overlays, maps, error
        curves, noise, heat maps) at the same time; 1 draws them in this process. Each group
        is drawn by the same code either way, so the files do not depend on `workers`.
    options : FigureOptions or dict, optional
        The ``figures:`` config section (:func:`mfsim.output.style.figure_options`).

    Returns
    -------
    list of pathlib.Path
        In the same order whatever `workers` is.

    Raises
    ------
    ValueError
        For a ``figures:`` key or value that does not exist (named in the message).
    """
    options = figure_options(options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = []
    if ds.sizes["d"] > 1:  # a fit against d needs several d
        tasks += [("scaling", quantity) for quantity in fit_quantities(fits)]
        tasks += [("overlays", None)]
    tasks += [("maps", None), ("error_curves", None), ("noise", None), ("heatmaps", None)]
    tasks += [("transition_map", None)]  # map sweeps only (mfsim.output.transition_map_figures)
    if workers <= 1 or len(tasks) <= 1 or "fork" not in mp.get_all_start_methods():
        return [path for task in tasks for path in _draw_task(ds, fits, out_dir, task, options)]
    # the children inherit ds and fits through fork (no pickling); drawing is CPU-bound in
    # matplotlib, so processes, not threads
    if ds.sizes["d"] > 1:
        # imported once here, inherited by the workers that draw the small-signal theory
        import mfsim.analysis.linearized  # noqa: F401
    global _FORKED
    _FORKED = (ds, fits, out_dir, options)
    # the workers take tasks in this order: the kinds with the most figures or panels first,
    # so that no worker starts a long one when the others are about to finish
    order = sorted(range(len(tasks)), key=lambda i: _task_rank(tasks[i], fits))
    try:
        context = mp.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            done = dict(zip(order, pool.map(_draw_forked, [tasks[i] for i in order]), strict=True))
    finally:
        _FORKED = None
    return [path for i in range(len(tasks)) for path in done[i]]


def _task_rank(task, fits) -> tuple[int, int]:
    """Sort key of a :func:`plot_sweep` task: its kind's place in :data:`_TASK_PRIORITY`, then,
    among scaling figures, the most panels first (one per group and k or eps with a fit)."""
    kind, quantity = task
    panels = 0
    if kind == "scaling":
        verdicts = np.asarray(fits_for(fits, quantity)["verdict"].values).ravel()
        panels = int(np.sum(~np.isin(verdicts, [VERDICT_UNDEFINED, VERDICT_NO_RUNS])))
    return _TASK_PRIORITY.index(kind), -panels


#: Task kinds of :func:`plot_sweep`, the longest first (maps, the figures of map sweeps, have
#: several panels; overlays compute the small-signal prediction of every group).
_TASK_PRIORITY = (
    "maps",
    "transition_map",
    "overlays",
    "heatmaps",
    "noise",
    "error_curves",
    "scaling",
)

#: (ds, fits, out_dir, options) of the running plot_sweep, read by its forked workers.
_FORKED = None


def _draw_forked(task) -> list[Path]:
    ds, fits, out_dir, options = _FORKED
    return _draw_task(ds, fits, out_dir, task, options)


def _draw_task(ds: xr.Dataset, fits, out_dir: Path, task, options: FigureOptions) -> list[Path]:
    kind, quantity = task
    if kind == "scaling":
        return plot_scaling(ds, fits, quantity, out_dir / f"scaling_{quantity}", options=options)
    if kind == "overlays":
        return plot_overlays(ds, fits, out_dir, options=options)
    if kind == "maps":
        return plot_maps(ds, out_dir / "maps", options=options)
    if kind == "transition_map":
        return plot_transition_map(ds, out_dir / "transition_map", options=options)
    if kind == "error_curves":
        return plot_error_curves(ds, out_dir / "error_curves", options=options)
    if kind == "noise":
        return plot_noise(ds, out_dir / "noise", options=options)
    return plot_heatmaps(ds, out_dir / "heatmaps", options=options)
