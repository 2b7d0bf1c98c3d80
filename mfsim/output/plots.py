"""Figures of a sweep: stage-time scaling, error curves, Gram heat maps, the paper's Figure 1.

Every ``plot_*`` function writes ``<stem>.png`` and ``<stem>.pdf`` (one stem per figure) and
returns the list of files written; the matching ``*_figures`` / ``figure1_figure`` builders return
the :class:`matplotlib.figure.Figure` objects without writing. Figures are created with
:class:`matplotlib.figure.Figure` directly (no pyplot state, rendered by the Agg canvas), so
they are safe in worker processes and never need closing.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from mfsim.analysis.scaling import VERDICT_NO_RUNS, VERDICT_UNDEFINED, classify_runs, fits_for

__all__ = [
    "error_curves_figures",
    "figure1_figure",
    "heatmap_figures",
    "plot_error_curves",
    "plot_figure1",
    "plot_heatmaps",
    "plot_scaling",
    "scaling_figures",
]

MODEL_STYLE = {
    "log": {"color": "tab:orange", "label": "a + b log d"},
    "power": {"color": "tab:green", "label": "c d^alpha"},
    "const": {"color": "0.4", "label": "m", "linestyle": ":"},
}
HEATMAP_CMAP = "RdBu_r"
FORMATS = ("png", "pdf")
DPI = 150


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def _fmt(value) -> str:
    """Compact text for a coordinate value."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _groups(da: xr.DataArray, inner: Sequence[str]) -> tuple[list[str], list[dict]]:
    """Outer dims of ``da`` (all but ``inner``) and every combination of their coordinates."""
    outer = [dim for dim in da.dims if dim not in inner]
    values = [da[dim].values for dim in outer]
    return outer, [dict(zip(outer, combo, strict=True)) for combo in itertools.product(*values)]


def _title(selection: dict) -> str:
    return ", ".join(f"{dim}={_fmt(v)}" for dim, v in selection.items())


def _stem(path_stem, selection: dict, sizes: dict) -> Path:
    """``path_stem`` plus the coordinates of the dims that vary (size > 1) in the sweep."""
    parts = [f"{dim}-{_fmt(v)}" for dim, v in selection.items() if sizes.get(dim, 1) > 1]
    label = re.sub(r"[^A-Za-z0-9.+=_-]", "_", "_".join(parts))
    stem = Path(path_stem)
    return stem.with_name(f"{stem.name}_{label}") if label else stem


def _save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; returns the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = stem.with_name(f"{stem.name}.{fmt}")
        fig.savefig(path, dpi=DPI)
        paths.append(path)
    return paths


def _save_all(figures, path_stem, sizes: dict) -> list[Path]:
    """Save (selection, figure) pairs, one stem per selection; return the files written."""
    paths = []
    for selection, fig in figures:
        paths += _save(fig, _stem(path_stem, selection, sizes))
    return paths


def _existing_seeds(ds: xr.Dataset, selection: dict) -> xr.DataArray | None:
    """Boolean over seed (and remaining dims) of existing runs (status != -1), if known."""
    if "status" not in ds.data_vars:
        return None
    status = ds["status"].sel(selection)
    return status.notnull() & (status != -1)


# --------------------------------------------------------------------------------------------
# Scaling
# --------------------------------------------------------------------------------------------
def _index_dim(da: xr.DataArray) -> str | None:
    return "k" if "k" in da.dims else ("eps" if "eps" in da.dims else None)


def _draw_scaling_panel(ax, runs: xr.Dataset, fit: xr.Dataset, rng: np.random.Generator) -> None:
    """One panel: runs (dims d, seed) of one group and index, and the group's fit."""
    d = runs["d"].values.astype(float)
    n_seed = runs.sizes["seed"]
    jitter = np.exp(rng.uniform(-0.06, 0.06, size=(d.size, n_seed)) * np.log(10.0))
    x = d[:, None] * jitter
    reached = runs["reached"].values
    bound = runs["bound_dominated"].values
    value = runs["value"].values
    ax.scatter(
        x[reached], value[reached], s=9, color="tab:blue", alpha=0.45, lw=0, label="seeds (reached)"
    )
    if bound.any():
        ax.scatter(
            x[bound],
            value[bound],
            s=14,
            color="0.5",
            marker="x",
            lw=0.8,
            label="bound-dominated (not fitted)",
        )
    with np.errstate(all="ignore"):
        counts = reached.sum(axis=1)
        medians = np.array(
            [np.median(value[i, reached[i]]) if counts[i] else np.nan for i in range(d.size)]
        )
    ax.plot(d, medians, "D", color="k", ms=4.5, label="median", zorder=5)

    curve_d = fit["d_curve"].values
    for model in ("log", "power", "const"):
        style = MODEL_STYLE[model]
        curve = fit["curve"].sel(model=model).values
        if not np.isfinite(curve).any():
            continue
        ax.plot(
            curve_d,
            curve,
            color=style["color"],
            lw=1.6,
            ls=style.get("linestyle", "-"),
            label=f"fit {style['label']}" + (" (95% band)" if model != "const" else ""),
            zorder=4,
        )
        if model != "const":
            ax.fill_between(
                curve_d,
                fit["curve_lo"].sel(model=model).values,
                fit["curve_hi"].sel(model=model).values,
                color=style["color"],
                alpha=0.2,
                lw=0,
            )

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
                fontsize=6.5,
                color="tab:red",
            )
    ax.set_xscale("log")
    ax.set_xlim(d.min() / 1.6, d.max() * 1.6)
    ax.grid(True, which="major", alpha=0.3)
    ax.text(
        0.02,
        0.98,
        _fit_summary(fit),
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=6.8,
        family="monospace",
        bbox={"facecolor": "white", "alpha": 0.75, "lw": 0},
    )


def _fit_summary(fit: xr.Dataset) -> str:
    """Text box of one panel: b and alpha with intervals, CV RMSE per model, preferred model."""
    if not np.isfinite(float(fit["log_slope"])):
        caveat = textwrap.fill(str(fit["caveat"].values), 45)
        return f"no fit: {fit['verdict'].values}" + (f"\n{caveat}" if caveat else "")

    def interval(name: str) -> str:
        value, lo, hi = (float(fit[name + s]) for s in ("", "_lo", "_hi"))
        return f"{value:.3g} [{lo:.3g}, {hi:.3g}]"

    cv = ", ".join(
        f"{m} {float(fit['cv_rmse'].sel(model=m)):.3g}" for m in ("const", "log", "power")
    )
    preferred = str(fit["preferred_model"].values)
    decisive = " (decisive)" if bool(fit["decisive"].values) else ""
    return (
        f"b     = {interval('log_slope')}\n"
        f"alpha = {interval('power_exponent')}\n"
        f"CV RMSE: {cv}\n"
        f"preferred: {preferred}{decisive}"
    )


def scaling_figures(ds: xr.Dataset, fits: xr.Dataset, quantity: str) -> list[tuple[dict, Figure]]:
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

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        The group's coordinates and its figure, with one axes per k (or eps) for which the
        quantity is defined in that group. Groups without any defined index are skipped.

    Notes
    -----
    Panels show the stage time against d on a log axis, so ``a + b log d`` is a straight line:
    seeds as points jittered by up to ``10^{+-0.06}`` in d, medians (diamonds), fitted log,
    power and const curves, with pointwise bootstrap percentile bands for log and power, and the
    number of runs that did not reach the stage at each d.
    """
    runs = classify_runs(ds, quantity).sortby("d")
    fit = fits_for(fits, quantity)
    index = _index_dim(runs["value"])
    inner = ["d", "seed"] + ([index] if index else [])
    _, selections = _groups(runs["value"], inner)
    out = []
    for selection in selections:
        runs_g, fit_g = runs.sel(selection), fit.sel(selection)
        if index:
            verdicts = fit_g["verdict"].values
            keep = [
                i for i, v in enumerate(verdicts) if v not in (VERDICT_UNDEFINED, VERDICT_NO_RUNS)
            ]
            index_values = fit_g[index].values[keep]
        else:
            keep = (
                [] if str(fit_g["verdict"].values) in (VERDICT_UNDEFINED, VERDICT_NO_RUNS) else [0]
            )
            index_values = [None] * len(keep)
        if not keep:
            continue
        n = len(index_values)
        fig = Figure(figsize=(max(0.6 + 3.9 * n, 6.0), 5.1), layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)[0]
        rng = np.random.default_rng(0)
        for ax, value in zip(axes, index_values, strict=True):
            sel = {index: value} if index else {}
            fit_panel = fit_g.sel(sel)
            _draw_scaling_panel(ax, runs_g.sel(sel), fit_panel, rng)
            head = f"{index} = {_fmt(value)}" if index else quantity
            ax.set_title(f"{head}: {fit_panel['verdict'].values}", fontsize=9)
            missed = int(runs_g.sel(sel)["not_reached"].sum())
            ax.set_xlabel("d (log scale)" + ("\nred: not reached / runs" if missed else ""))
        axes[0].set_ylabel(f"{quantity} (steps)")
        handles, labels = axes[0].get_legend_handles_labels()
        for ax in axes[1:]:  # bound-dominated markers may only appear in later panels
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=min(len(labels), 4),
            fontsize=7.5,
            frameon=False,
        )
        fig.suptitle(f"{quantity} vs d\n{_title(selection)}", fontsize=10)
        out.append((selection, fig))
    return out


def plot_scaling(ds: xr.Dataset, fits: xr.Dataset, quantity: str, path_stem) -> list[Path]:
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

    Returns
    -------
    list of pathlib.Path
        Files written (PNG then PDF for each figure).
    """
    return _save_all(scaling_figures(ds, fits, quantity), path_stem, dict(ds.sizes))


# --------------------------------------------------------------------------------------------
# Error curves
# --------------------------------------------------------------------------------------------
def error_curves_figures(ds: xr.Dataset) -> list[tuple[dict, Figure]]:
    """Error versus step for the smallest and the largest d, one figure per grid group.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with ``error(..., d, ..., seed, step)``.

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        Group coordinates and a one-axes figure.

    Notes
    -----
    Every existing run is a thin line, the median over seeds a thick line. Runs stop at
    different steps (NaN afterwards); the median is drawn only at steps where at least half of
    the runs of that d still have a value, so it is not a median of the slow survivors.
    """
    error = ds["error"]
    _, selections = _groups(error, ["d", "seed", "step"])
    steps = ds["step"].values
    out = []
    for selection in selections:
        err = error.sel(selection).sortby("d")
        exists = _existing_seeds(ds, selection)
        if exists is not None:
            err = err.where(exists)
        has_run = np.isfinite(err.values).any(axis=(1, 2))
        d_with_runs = err["d"].values[has_run]
        if d_with_runs.size == 0:
            continue
        fig = Figure(figsize=(6.4, 4.2), layout="constrained")
        ax = fig.subplots()
        chosen = sorted({d_with_runs.min(), d_with_runs.max()})
        for color, d in zip(("tab:blue", "tab:red"), chosen, strict=False):
            curves = err.sel(d=d).transpose("seed", "step").values
            curves = curves[np.isfinite(curves).any(axis=1)]
            for curve in curves:
                ax.plot(steps, curve, color=color, lw=0.5, alpha=0.35)
            with np.errstate(all="ignore"):
                alive = np.isfinite(curves).sum(axis=0)
                median = np.where(alive >= curves.shape[0] / 2.0, _nanmedian(curves), np.nan)
            ax.plot(
                steps,
                median,
                color=color,
                lw=2.4,
                label=f"d = {_fmt(d)}: median of {curves.shape[0]} seeds",
            )
        ax.set_yscale("log")
        ax.set_xlabel("step t")
        ax.set_ylabel(error.attrs.get("long_name", "error"))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"error curves ({_title(selection)})", fontsize=9)
        out.append((selection, fig))
    return out


def _nanmedian(curves: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN, NaN (without a warning) where a column is all NaN."""
    result = np.full(curves.shape[1], np.nan)
    ok = np.isfinite(curves).any(axis=0)
    result[ok] = np.nanmedian(curves[:, ok], axis=0)
    return result


def plot_error_curves(ds: xr.Dataset, path_stem) -> list[Path]:
    """Write the error-curve figures (see :func:`error_curves_figures`).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    path_stem : str or pathlib.Path
        Output stem (suffixed with the varying grid coordinates when there are several groups).

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    return _save_all(error_curves_figures(ds), path_stem, dict(ds.sizes))


# --------------------------------------------------------------------------------------------
# Heat maps
# --------------------------------------------------------------------------------------------
def _draw_heatmap(ax, block: np.ndarray, norm: Normalize, labels: Sequence) -> object:
    """A 3x3 block with the values written in the cells; returns the image."""
    image = ax.imshow(block, cmap=HEATMAP_CMAP, norm=norm)
    ax.set_xticks(range(block.shape[1]), labels[: block.shape[1]], fontsize=7)
    ax.set_yticks(range(block.shape[0]), labels[: block.shape[0]], fontsize=7)
    ax.tick_params(length=0)
    for (i, j), v in np.ndenumerate(block):
        if np.isfinite(v):
            dark = abs(norm(v) - 0.5) > 0.3
            text = f"{v:.2f}"
            ax.text(
                j,
                i,
                "0.00" if text == "-0.00" else text,
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if dark else "black",
            )
    return image


def _symmetric_norm(values: np.ndarray) -> Normalize:
    """Color scale symmetric about 0, shared by all heat maps of a figure."""
    vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    return Normalize(vmin=-vmax, vmax=vmax)


def heatmap_figures(ds: xr.Dataset) -> list[tuple[dict, Figure]]:
    """Heat maps of ``top_gram`` (top 3x3 block of X X^T), one figure per grid group.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with ``top_gram(..., d, ..., seed, heatmap_step, row, col)``.

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        One row of heat maps per d (the first existing seed of each d), one column per
        ``heatmap_step``, a shared symmetric color scale and one colorbar axes.
    """
    gram = ds["top_gram"]
    _, selections = _groups(gram, ["d", "seed", "heatmap_step", "row", "col"])
    hsteps = ds["heatmap_step"].values
    labels = [str(v) for v in ds["row"].values]
    out = []
    for selection in selections:
        g = gram.sel(selection).sortby("d").transpose("d", "seed", "heatmap_step", "row", "col")
        exists = _existing_seeds(ds, selection)
        rows = []
        for i, d in enumerate(g["d"].values):
            values = g.values[i]
            ok = np.isfinite(values).any(axis=(1, 2, 3))
            if exists is not None:
                ok &= exists.sel(d=d).transpose("seed").values
            if ok.any():
                first = int(np.flatnonzero(ok)[0])
                rows.append((d, g["seed"].values[first], values[first]))
        if not rows:
            continue
        norm = _symmetric_norm(np.stack([r[2] for r in rows]))
        n_rows, n_cols = len(rows), hsteps.size
        # fixed layout (inches): constrained layout is slow with dozens of axes
        cell, left, right, top, bottom = 1.6, 0.9, 1.4, 0.7, 0.35
        width, height = left + cell * n_cols + right, top + cell * n_rows + bottom
        fig = Figure(figsize=(width, height))
        axes = fig.subplots(
            n_rows,
            n_cols,
            squeeze=False,
            gridspec_kw={
                "left": left / width,
                "right": 1 - right / width,
                "bottom": bottom / height,
                "top": 1 - top / height,
                "wspace": 0.25,
                "hspace": 0.25,
            },
        )
        image = None
        for i, ((d, seed, blocks), ax_row) in enumerate(zip(rows, axes, strict=True)):
            for j, ax in enumerate(ax_row):
                image = _draw_heatmap(ax, blocks[j], norm, labels)
                if i == 0:
                    ax.set_title(f"t = {_fmt(hsteps[j])}", fontsize=9)
            ax_row[0].set_ylabel(f"d = {_fmt(d)}\n(seed {_fmt(seed)})", fontsize=8)
        cax = fig.add_axes(
            (
                1 - 1.0 / width,
                bottom / height + 0.1,
                0.18 / width,
                1 - (top + bottom) / height - 0.2,
            )
        )
        fig.colorbar(image, cax=cax, label="(X X^T)_ij")
        fig.suptitle(f"top 3x3 block of X_t X_t^T ({_title(selection)})", fontsize=9)
        out.append((selection, fig))
    return out


def plot_heatmaps(ds: xr.Dataset, path_stem) -> list[Path]:
    """Write the heat-map figures (see :func:`heatmap_figures`).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    path_stem : str or pathlib.Path
        Output stem (suffixed with the varying grid coordinates when there are several groups).

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    return _save_all(heatmap_figures(ds), path_stem, dict(ds.sizes))


# --------------------------------------------------------------------------------------------
# Figure 1
# --------------------------------------------------------------------------------------------
def figure1_figure(ds_single_run: xr.Dataset) -> Figure:
    """The paper's Figure 1 for one run: error curve, then heat maps at the marked steps.

    Parameters
    ----------
    ds_single_run : xarray.Dataset
        One run: ``error`` with dim ``step`` and ``top_gram`` with dims ``heatmap_step, row,
        col``; their other dims (e.g. ``seed``, grid dims) must have size 1. Other variables
        (with dims ``k``, ``eps``, ...) are ignored, so ``mfsim.simulate(..., seeds=[s])``
        output works as is.

    Returns
    -------
    matplotlib.figure.Figure
        Left the error curve (log y) with the heat-map steps as red points, then one heat map per
        ``heatmap_step`` with a shared symmetric color scale and a colorbar.

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
    fig = Figure(figsize=(4.4 + 2.1 * n, 3.4), layout="constrained")
    grid = fig.add_gridspec(1, n + 1, width_ratios=[2.3] + [1.0] * n)
    ax0 = fig.add_subplot(grid[0, 0])
    ok = np.isfinite(error) & (error > 0)
    ax0.plot(steps[ok], error[ok], color="tab:blue", lw=1.6)
    with np.errstate(divide="ignore"):
        marked = np.exp(np.interp(hsteps, steps[ok], np.log(error[ok]), left=np.nan, right=np.nan))
    ax0.plot(hsteps, marked, "o", color="red", ms=6, zorder=5)
    for t, e in zip(hsteps, marked, strict=True):
        if np.isfinite(e):
            ax0.annotate(
                _fmt(t), (t, e), textcoords="offset points", xytext=(4, 4), fontsize=7, color="red"
            )
    ax0.set_yscale("log")
    ax0.set_xlabel("step t")
    ax0.set_ylabel(run["error"].attrs.get("long_name", "error"))
    ax0.grid(True, alpha=0.3)
    title = ", ".join(
        f"{c}={_fmt(run[c].values)}"
        for c in ("d", "r", "eta", "varpi", "varpi_effective")
        if c in run.coords and run[c].size == 1
    )
    ax0.set_title(f"error ({title})" if title else "error", fontsize=9)

    norm = _symmetric_norm(gram)
    image = None
    axes = []
    for j in range(n):
        ax = fig.add_subplot(grid[0, j + 1])
        image = _draw_heatmap(ax, gram[j], norm, labels)
        ax.set_title(f"t = {_fmt(hsteps[j])}", fontsize=9)
        axes.append(ax)
    if axes:
        fig.colorbar(image, ax=axes, shrink=0.7, label="(X X^T)_ij")
    return fig


def plot_figure1(ds_single_run: xr.Dataset, path_stem) -> list[Path]:
    """Write the paper's Figure 1 for one run (see :func:`figure1_figure`).

    Parameters
    ----------
    ds_single_run : xarray.Dataset
        Single-run Dataset (dims ``seed`` of size 1, ``step``, ``heatmap_step``, ``row``,
        ``col``).
    path_stem : str or pathlib.Path
        Output stem; writes ``<path_stem>.png`` and ``<path_stem>.pdf``.

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    return _save(figure1_figure(ds_single_run), Path(path_stem))


def plot_sweep(ds: xr.Dataset, fits: xr.Dataset, out_dir) -> list[Path]:
    """Every figure of a sweep: scaling per fitted quantity, error curves, heat maps.

    Parameters
    ----------
    ds : xarray.Dataset
        The sweep store.
    fits : xarray.Dataset
        Output of :func:`mfsim.analysis.scaling.fit_all`.
    out_dir : str or pathlib.Path
        Directory for the PNG and PDF files (created).

    Returns
    -------
    list of pathlib.Path
    """
    from mfsim.analysis.scaling import fit_quantities

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for quantity in fit_quantities(fits):
        files += plot_scaling(ds, fits, quantity, out_dir / f"scaling_{quantity}")
    files += plot_error_curves(ds, out_dir / "error_curves")
    files += plot_heatmaps(ds, out_dir / "heatmaps")
    return files
