"""Figures of a sweep: stage-time scaling, error curves, Gram heat maps, maps over two grid axes
(e.g. eta x varpi), the paper's Figure 1.

Every ``plot_*`` function writes ``<stem>.png`` and ``<stem>.pdf`` (one stem per figure) and
returns the list of files written; the matching ``*_figures`` / ``figure1_figure`` builders return
the :class:`matplotlib.figure.Figure` objects without writing. Figures are created with
:class:`matplotlib.figure.Figure` directly (no pyplot state, rendered by the Agg canvas), so
they are safe in worker processes and never need closing.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import multiprocessing as mp
import re
import textwrap
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib
import matplotlib.lines
import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from mfsim.analysis.scaling import VERDICT_NO_RUNS, VERDICT_UNDEFINED, classify_runs, fits_for
from mfsim.datamodel import FAILED_STATUSES, NO_RUN

__all__ = [
    "error_curves_figures",
    "figure1_figure",
    "heatmap_figures",
    "map_axes",
    "map_figures",
    "plot_error_curves",
    "plot_figure1",
    "plot_heatmaps",
    "plot_maps",
    "plot_scaling",
    "scaling_figures",
]

MODEL_STYLE = {
    "log": {"color": "tab:orange", "label": "a + b log d"},
    "power": {"color": "tab:green", "label": "c d^alpha"},
    "const": {"color": "0.4", "label": "constant", "linestyle": ":"},
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


#: Parses of mathtext (the 10^k tick labels of log axes) kept by :func:`shared_mathtext_parses`.
MATHTEXT_CACHE_SIZE = 1024


@functools.cache
def _shared_parse_cached():
    """The replacement of ``MathTextParser._parse_cached`` used by
    :func:`shared_mathtext_parses` (one per process, with its cache), or None if matplotlib's
    cache does not have the expected form."""
    import matplotlib as mpl
    from matplotlib.mathtext import MathTextParser

    parse = getattr(MathTextParser.__dict__.get("_parse_cached"), "__wrapped__", None)
    expected = ["self", "s", "dpi", "prop", "antialiased", "load_glyph_flags"]
    if parse is None or list(inspect.signature(parse).parameters) != expected:
        return None
    if not hasattr(MathTextParser("path"), "_output_type"):
        return None
    parsers: dict = {}  # output type -> the first parser of that type
    settings = sorted(key for key in mpl.rcParams if key.startswith("mathtext."))

    @functools.lru_cache(MATHTEXT_CACHE_SIZE)
    def by_output_type(output_type, rc, s, dpi, prop, antialiased, load_glyph_flags):
        return parse(parsers[output_type], s, dpi, prop, antialiased, load_glyph_flags)

    def _parse_cached(self, s, dpi, prop, antialiased, load_glyph_flags):
        output_type = self._output_type
        parsers.setdefault(output_type, self)
        # the mathtext rcParams are read while parsing: part of the key, as prop and dpi are
        rc = tuple(str(mpl.rcParams[key]) for key in settings)
        return by_output_type(output_type, rc, s, dpi, prop, antialiased, load_glyph_flags)

    _parse_cached.cache_info = by_output_type.cache_info
    return _parse_cached


@contextlib.contextmanager
def shared_mathtext_parses():
    """Within the block, every matplotlib renderer reuses the mathtext parses of the others.

    Matplotlib caches a parse (pyparsing, then box layout) in ``MathTextParser._parse_cached``,
    an LRU cache keyed on the parser *instance*, and every renderer makes its own parser: each
    savefig parsed every 10^k tick label again, about 0.05 s per file. The parse depends on the
    parser only through its output type (class-level parser and font tables), so within the
    block the cache is keyed on the output type instead (and the ``mathtext.*`` rcParams): the
    same layouts, hence the same pixels and PDF bytes. The cache lives on between blocks;
    matplotlib's own method is restored on exit. Yields False (and changes nothing) if
    matplotlib's cache does not have the expected form.
    """
    from matplotlib.mathtext import MathTextParser

    shared = _shared_parse_cached()
    if shared is None:
        yield False
        return
    original = MathTextParser.__dict__["_parse_cached"]
    MathTextParser._parse_cached = shared
    try:
        yield True
    finally:
        MathTextParser._parse_cached = original


def _save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; returns the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with shared_mathtext_parses():
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
    return status.notnull() & (status != NO_RUN)


# --------------------------------------------------------------------------------------------
# Scaling
# --------------------------------------------------------------------------------------------
def _index_dim(da: xr.DataArray) -> str | None:
    return "k" if "k" in da.dims else ("eps" if "eps" in da.dims else None)


def _draw_scaling_panel(
    ax, runs: xr.Dataset, fit: xr.Dataset, rng: np.random.Generator, theory=None
) -> None:
    """One panel: runs (dims d, seed) of one group and index, the group's fit, and optionally
    the small-signal theory ``(d_curve, prediction, slope)`` (rise panels).

    Beyond d = 1e250 matplotlib's log axis overflows, so the axis is log10 d (linear)."""
    d_raw = runs["d"].values.astype(float)
    huge = _huge_d(d_raw)
    axis = np.log10 if huge else (lambda v: np.asarray(v, dtype=float))
    d = axis(d_raw)
    n_seed = runs.sizes["seed"]
    shift = rng.uniform(-0.06, 0.06, size=(d.size, n_seed))
    x = d[:, None] + shift * (np.ptp(d) / 50.0 if huge else 0.0)
    if not huge:
        x = d[:, None] * np.exp(shift * np.log(10.0))
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

    curve_d = axis(fit["d_curve"].values)
    # a fit speaks for the d it was fitted on: its curves are not drawn beyond them
    fitted = d[counts >= 2] if (counts >= 2).any() else d
    inside = (curve_d >= fitted.min() * (1 - 1e-12)) & (curve_d <= fitted.max() * (1 + 1e-12))
    for model in ("log", "power", "const"):
        style = MODEL_STYLE[model]
        curve = np.where(inside, fit["curve"].sel(model=model).values, np.nan)
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
                np.where(inside, fit["curve_lo"].sel(model=model).values, np.nan),
                np.where(inside, fit["curve_hi"].sel(model=model).values, np.nan),
                color=style["color"],
                alpha=0.2,
                lw=0,
            )

    if theory is not None:
        theory_d, theory_y, theory_slope = theory
        ax.plot(
            axis(theory_d),
            theory_y,
            color="tab:purple",
            lw=1.4,
            ls="--",
            label="small-signal theory (docs/transition.md)",
            zorder=4,
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
    if huge:
        margin = 0.03 * np.ptp(d)
        ax.set_xlim(d.min() - margin, d.max() + margin)
    else:
        ax.set_xscale("log")
        ax.set_xlim(d.min() / 1.6, d.max() * 1.6)
    ax.grid(True, which="major", alpha=0.3)
    ax.text(
        0.02,
        0.98,
        _fit_summary(fit, None if theory is None else theory[2]),
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=6.8,
        family="monospace",
        bbox={"facecolor": "white", "alpha": 0.75, "lw": 0},
    )


def _huge_d(d: np.ndarray) -> bool:
    """d values beyond what matplotlib's log axis handles (it overflows near 1e308)."""
    return bool(np.nanmax(d) > 1e250)


def _fit_summary(fit: xr.Dataset, theory_slope: float | None = None) -> str:
    """Text box of one panel: b and alpha with intervals, the Box-Cox alpha, CV RMSE per model,
    preferred model, and the theory's slope when given."""
    if not np.isfinite(float(fit["log_slope"])):
        why = str(fit["case_text"].values) if "case_text" in fit else ""
        why = why or str(fit["caveat"].values)
        caveat = textwrap.fill(why, 45)
        return f"no fit: {fit['verdict'].values}" + (f"\n{caveat}" if caveat else "")

    def interval(name: str) -> str:
        value, lo, hi = (float(fit[name + s]) for s in ("", "_lo", "_hi"))
        return f"{value:.3g} [{lo:.3g}, {hi:.3g}]"

    cv = ", ".join(
        f"{m} {float(fit['cv_rmse'].sel(model=m)):.3g}" for m in ("const", "log", "power")
    )
    preferred = str(fit["preferred_model"].values)
    decisive = " (decisive)" if bool(fit["decisive"].values) else ""
    lines = [f"b     = {interval('log_slope')}"]
    if theory_slope is not None:
        lines.append(f"b theory = {theory_slope:.3g}")
    lines.append(f"alpha = {interval('power_exponent')}")
    if "boxcox_alpha" in fit:
        lines.append(f"Box-Cox alpha = {interval('boxcox_alpha')}")
    lines += [f"CV RMSE: {cv}", f"preferred: {preferred}{decisive}"]
    return "\n".join(lines)


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
    number of runs that did not reach the stage at each d. Rise panels also show the
    small-signal prediction (:func:`mfsim.analysis.linearized.predicted_rise`, no fitted
    parameter) where the spectrum has a flat top bulk level.
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
        theory = _rise_theory(ds, fit, selection) if quantity == "rise" else None
        for ax, value in zip(axes, index_values, strict=True):
            sel = {index: value} if index else {}
            fit_panel = fit_g.sel(sel)
            panel_theory = None
            if theory is not None and index == "k" and int(value) <= len(theory[2]):
                k = int(value) - 1
                panel_theory = (theory[0], theory[1][:, k], float(theory[2][k]))
            _draw_scaling_panel(ax, runs_g.sel(sel), fit_panel, rng, panel_theory)
            head = f"{index} = {_fmt(value)}" if index else quantity
            ax.set_title(f"{head}: {fit_panel['verdict'].values}", fontsize=9)
            missed = int(runs_g.sel(sel)["not_reached"].sum())
            scale = "log10 d" if _huge_d(runs_g["d"].values) else "d (log scale)"
            ax.set_xlabel(scale + ("\nred: not reached / runs" if missed else ""))
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
            ncol=min(len(labels), 4 if n > 1 else 3),
            fontsize=7.5,
            frameon=False,
        )
        fig.suptitle(f"{quantity} vs d\n{_title(selection)}", fontsize=10)
        out.append((selection, fig))
    return out


def _rise_theory(ds: xr.Dataset, fit: xr.Dataset, selection: dict):
    """(d_curve, predicted rise (n, r), slope (r,)) of one group; None where it does not apply."""
    from mfsim.analysis.linearized import predicted_rise

    def value(name, default=None):
        if name in selection:
            return _scalar_value(selection[name])
        if name in ds.coords and ds[name].size == 1:
            return _scalar_value(ds[name].values)
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


def _scalar_value(value):
    value = value.item() if hasattr(value, "item") else value
    return value


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
# Map sweeps (two grid axes other than d)
# --------------------------------------------------------------------------------------------
#: Preferred (x, y) axes of a map: the paper's step size and initialization scale.
MAP_PREFERENCE = ("eta", "varpi")
#: Status codes (``status.flag_values``) of runs that blew up.
DIVERGED_STATUS = FAILED_STATUSES
#: Above this many cells a map shows colors only (no value written in the cells).
MAX_ANNOTATED_CELLS = 150


def map_axes(ds: xr.Dataset) -> list[str]:
    """Grid axes other than d and seed that hold more than one value, in grid order.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset (``attrs["grid_dims"]`` names the grid axes; else the dims of ``status``).

    Returns
    -------
    list of str
        Two or more names make the sweep a *map sweep*: its figures are maps over two of these
        axes (:func:`map_figures`) instead of one figure per grid cell.
    """
    names = str(ds.attrs.get("grid_dims", "")).split()
    if not names:
        source = ds["status"] if "status" in ds else ds["error"]
        names = [dim for dim in source.dims if dim != "step"]
    return [dim for dim in names if dim not in ("d", "seed") and ds.sizes.get(dim, 1) > 1]


def _map_xy(ds: xr.Dataset) -> tuple[str, str] | None:
    """(x, y) axes of the maps: eta and varpi when both vary, else the first two map axes."""
    axes = map_axes(ds)
    if len(axes) < 2:
        return None
    if all(dim in axes for dim in MAP_PREFERENCE):
        return MAP_PREFERENCE
    return axes[0], axes[1]


def _run_exists(ds: xr.Dataset) -> xr.DataArray:
    """Boolean over the grid: a run exists there (status >= 0; -1 marks a cell without a run).

    Without ``status``: where the error curve has a value.
    """
    if "status" not in ds:
        return ds["error"].notnull().any("step")
    return ds["status"].notnull() & (ds["status"] >= 0)


def _honest_median(values: xr.DataArray, exists: xr.DataArray, dim: str = "seed") -> xr.DataArray:
    """Median over `dim` counting runs that did not reach the stage (NaN) as later than all.

    NaN where the median run did not reach it (half of the runs or more, for an even count)
    or where no run exists: a median of the runs that happened to reach a stage would flatter
    slow cells.
    """
    exists = exists.broadcast_like(values)
    late = values.where(values.notnull() | ~exists, np.inf).where(exists)
    n_runs = exists.sum(dim)
    ordered = np.sort(late.transpose(..., dim).values, axis=-1)  # NaN (no run) last
    n = n_runs.transpose(*[d for d in late.dims if d != dim]).values
    median = np.full(n.shape, np.nan)
    for index in np.ndindex(n.shape):
        count = int(n[index])
        if count:
            row = ordered[index][:count]
            median[index] = 0.5 * (row[(count - 1) // 2] + row[count // 2])
    median[~np.isfinite(median)] = np.nan
    dims = [d for d in late.dims if d != dim]
    return xr.DataArray(median, dims=dims, coords={d: late[d] for d in dims})


def _edges(values: np.ndarray) -> tuple[np.ndarray, str]:
    """Cell edges around sorted axis values: geometric midpoints on a log axis when all are > 0
    and span a factor > 3, else arithmetic midpoints. Returns (edges, scale)."""
    values = np.asarray(values, dtype=float)
    log = values.size > 1 and values.min() > 0 and values.max() / values.min() > 3
    v = np.log(values) if log else values
    if v.size == 1:
        step = abs(v[0]) * 0.5 if v[0] else 0.5
        inner = np.array([v[0] - step, v[0] + step])
    else:
        mid = 0.5 * (v[1:] + v[:-1])
        inner = np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])
    return (np.exp(inner) if log else inner), ("log" if log else "linear")


def _format_cell(value: float, integer: bool) -> str:
    """Cell text: integers for step counts, 2 decimals, scientific notation when small."""
    if not np.isfinite(value):
        return ""
    if integer:
        return f"{value:.0f}"
    if value in (0.0, 1.0):
        return f"{value:.0f}"
    if abs(value) < 0.01:
        return _scientific(value)
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
    """(title, values (y, x), is_integer, colormap, colorbar label) of each map panel."""
    sub = ds.sel(selection)
    exists = _run_exists(sub)
    n_runs = exists.sum("seed")
    panels = []
    diverged = sub["status"].isin(list(DIVERGED_STATUS)) & exists
    fraction = (diverged.sum("seed") / n_runs.where(n_runs > 0)).transpose(y, x)
    panels.append(
        ("fraction of runs diverged", fraction.values, False, "Reds", "diverged / runs", (0, 1))
    )
    if "t_eps" in sub:
        eps = float(sub["eps"].values.min())
        t_eps = _honest_median(sub["t_eps"].sel(eps=eps), exists).transpose(y, x)
        panels.append(
            (f"median t_eps, eps = {_fmt(eps)}", t_eps.values, True, "viridis", "steps", None)
        )
    if "escape" in sub:
        escape = sub["escape"]
        ks = [k for k in escape["k"].values if escape.sel(k=k).notnull().any()]
        for k in sorted({ks[0], ks[-1]}) if ks else []:
            median = _honest_median(escape.sel(k=k), exists).transpose(y, x)
            panels.append(
                (f"median escape, k = {_fmt(k)}", median.values, True, "viridis", "steps", None)
            )
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


def _draw_map(ax, fig, panel, xv, yv, scales, boundaries) -> None:
    title, values, integer, cmap, label, limits = panel
    x_edges, y_edges = scales["x_edges"], scales["y_edges"]
    norm = Normalize(*limits) if limits else _time_norm(values)
    masked = np.ma.masked_invalid(values)
    colormap = matplotlib.colormaps[cmap].with_extremes(bad="0.85")
    mesh = ax.pcolormesh(x_edges, y_edges, masked, cmap=colormap, norm=norm, shading="flat")
    ax.set_xscale(scales["x_scale"])
    ax.set_yscale(scales["y_scale"])
    if values.size <= MAX_ANNOTATED_CELLS:
        for (i, j), value in np.ndenumerate(values):
            xc = np.sqrt(x_edges[j] * x_edges[j + 1]) if scales["x_scale"] == "log" else xv[j]
            yc = np.sqrt(y_edges[i] * y_edges[i + 1]) if scales["y_scale"] == "log" else yv[i]
            if np.isfinite(value):
                dark = norm(value) > 0.6 if cmap == "Reds" else norm(value) < 0.45
                text, color = _format_cell(value, integer), "white" if dark else "black"
            else:
                text, color = "n.r.", "0.35"
            ax.text(xc, yc, text, ha="center", va="center", fontsize=6, color=color, zorder=4)
    for boundary in boundaries:
        boundary(ax)
    ax.set_xlim(scales["x_lim"])
    ax.set_ylim(y_edges[0], y_edges[-1])
    ax.set_title(title, fontsize=9)
    fig.colorbar(mesh, ax=ax, label=label, shrink=0.85, pad=0.02)


def map_figures(ds: xr.Dataset) -> list[tuple[dict, Figure]]:
    """Maps over two grid axes of a map sweep, one figure per group of the other axes.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset whose grid varies along two or more axes other than d
        (:func:`map_axes`), e.g. ``config/eta_varpi_map.yaml`` (eta x varpi at one d).

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        Group coordinates (every dim but the two map axes and seed) and its figure: panels
        over (x, y) = (eta, varpi) when both vary (else the first two map axes) with the
        fraction of runs that diverged (status diverged or nonfinite), the median t_eps at
        the smallest eps and the median escape time of the first and last signal k. Empty
        when the sweep is not a map sweep.

    Notes
    -----
    Medians count runs that did not reach the stage as later than all others, so a cell whose
    median run did not reach it is grey ("n.r."), not the median of the fast ones. On
    eta x varpi maps two of the paper's boundaries are drawn: the divergence limit
    sigma_1(X_0) = 1/sqrt(3 eta) (section 4, after Theorem 6), i.e. varpi = 1/(sqrt(3 eta)
    s) with s the median sigma_1(N_0) of the runs, and Theorem 6's step-size condition
    eta <= Delta / (100 lambda_1^2).
    """
    xy = _map_xy(ds)
    if xy is None:
        return []
    x, y = xy
    _, selections = _groups(ds["status"], [x, y, "seed"])
    xv = ds[x].values.astype(float)
    yv = ds[y].values.astype(float)
    x_edges, x_scale = _edges(xv)
    y_edges, y_scale = _edges(yv)
    out = []
    for selection in selections:
        if not bool(_run_exists(ds.sel(selection)).any()):
            continue
        x_lim = [x_edges[0], x_edges[-1]]
        boundaries = []
        if (x, y) == MAP_PREFERENCE:
            bound = _theorem6_eta(ds, selection)
            if np.isfinite(bound) and bound > 0:
                x_lim = [min(x_lim[0], bound / 1.5), max(x_lim[1], bound * 1.5)]

                def theorem6(ax, bound=bound):
                    ax.axvline(
                        bound,
                        color="tab:blue",
                        lw=1.4,
                        ls="-.",
                        zorder=3,
                        label=f"eta = Delta/(100 lambda_1^2) = {bound:.3g}: Theorem 6 needs "
                        "eta at or left of this line",
                    )

                boundaries.append(theorem6)
            scale = _divergence_scale(ds, selection)
            eta_line = np.geomspace(x_lim[0], x_lim[1], 200)
            varpi_line = 1.0 / (np.sqrt(3.0 * eta_line) * scale)

            def divergence(ax, eta_line=eta_line, varpi_line=varpi_line, scale=scale):
                ax.plot(
                    eta_line,
                    varpi_line,
                    color="k",
                    lw=1.4,
                    ls="--",
                    zorder=3,
                    label=f"sigma_1(X_0) = 1/sqrt(3 eta), i.e. varpi = 1/({scale:.3g} "
                    "sqrt(3 eta)): Theorem 6 needs varpi below; far above, GD diverges",
                )

            boundaries.append(divergence)
        scales = {
            "x_edges": x_edges,
            "y_edges": y_edges,
            "x_scale": x_scale,
            "y_scale": y_scale,
            "x_lim": x_lim,
        }
        panels = _map_panels(ds, selection, x, y)
        n = len(panels)
        n_cols = n if n <= 3 else 2
        n_rows = -(-n // n_cols)
        fig = Figure(figsize=(5.0 * n_cols, 4.0 * n_rows + 1.1), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
        for ax, panel in zip(axes, panels, strict=False):
            _draw_map(ax, fig, panel, xv, yv, scales, boundaries)
            ax.set_xlabel(f"{x} ({x_scale} scale)")
            ax.set_ylabel(f"{y} ({y_scale} scale)")
        for ax in axes[n:]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(
                handles, labels, loc="outside lower center", ncol=1, fontsize=8, frameon=False
            )
        fig.suptitle(
            f"map over {x} x {y}\n{_title(selection)}; grey (n.r.): not reached by the median run",
            fontsize=10,
        )
        out.append((selection, fig))
    return out


def plot_maps(ds: xr.Dataset, path_stem) -> list[Path]:
    """Write the maps of a map sweep (see :func:`map_figures`); none for other sweeps.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    path_stem : str or pathlib.Path
        Output stem (suffixed with the varying coordinates of the other axes, if any).

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    return _save_all(map_figures(ds), path_stem, _figure_sizes(ds))


# --------------------------------------------------------------------------------------------
# Error curves
# --------------------------------------------------------------------------------------------
#: The x-axis ends this factor after the last median curve reached its floor.
CLIP_MARGIN = 1.5


def _floor_step(steps: np.ndarray, median: np.ndarray) -> float:
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


def _step_axis(ax, steps: np.ndarray, floors: list[float], medians: dict) -> str | None:
    """Log-scaled step axis (0 shown: symlog, linear below 1), clipped after convergence.

    Returns the text that summarizes the clipped tail, or None when nothing is clipped.
    """
    ax.set_xscale("symlog", linthresh=1.0, linscale=0.6)
    last = float(steps.max())
    finite = [f for f in floors if np.isfinite(f)]
    if len(finite) != len(floors) or not finite:
        ax.set_xlim(0, last)
        return None
    end = CLIP_MARGIN * max(finite)
    # clip only when the tail would take over a quarter of the log axis
    if end <= 0 or np.log10(last + 1) - np.log10(end + 1) < 0.25 * np.log10(last + 1):
        ax.set_xlim(0, last)
        return None
    ax.set_xlim(0, end)
    tails = ", ".join(f"{name}: {value:.1e}" for name, value in medians.items())
    return (
        f"not shown: t = {end:.0f} to {last:.0f}, where every median stays at its final value"
        + (f" ({tails})" if tails else "")
    )


#: Stage times marked on the median error curves: variable -> (marker, name).
STAGE_MARKERS = {"rise": ("^", "rise time"), "learned": ("o", "learned time")}


def _mark_stages(ax, ds: xr.Dataset, selection: dict, steps, median, color) -> None:
    """Markers on a median error curve at the median (over seeds) stage times of each k."""
    exists = _run_exists(ds.sel(selection))
    for name, (marker, _) in STAGE_MARKERS.items():
        if name not in ds:
            continue
        times = _honest_median(ds[name].sel(selection), exists)
        for k in times["k"].values:
            t = float(times.sel(k=k))
            if not np.isfinite(t):
                continue
            ok = np.isfinite(median) & (median > 0)
            if ok.sum() < 2:
                continue
            y = np.exp(np.interp(t, steps[ok], np.log(median[ok])))
            ax.plot([t], [y], ls="", marker=marker, ms=6, mec=color, mfc="white", mew=1.4, zorder=5)
            ax.annotate(
                str(int(k)),
                (t, y),
                textcoords="offset points",
                xytext=(3, 4),
                fontsize=7,
                color=color,
            )


def _median_curve(curves: np.ndarray) -> np.ndarray:
    """Median over runs at steps where at least half of the runs still have a value."""
    with np.errstate(all="ignore"):
        alive = np.isfinite(curves).sum(axis=0)
        return np.where(alive >= curves.shape[0] / 2.0, _nanmedian(curves), np.nan)


def error_curves_figures(ds: xr.Dataset) -> list[tuple[dict, Figure]]:
    """Error versus step, one figure per grid group (per group of the other axes in a map sweep).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with ``error(..., d, ..., seed, step)``.

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        Group coordinates and the figure. A sweep with fewer than two map axes
        (:func:`map_axes`): one axes with every run of the smallest and the largest d (thin
        lines) and their medians (thick). A map sweep: one panel per value of the map's x axis
        (eta), with one median curve per value of its y axis (varpi), colored by it.

    Notes
    -----
    The step axis is logarithmic (symlog: t = 0 shown, linear below 1), so that the early
    stages (entering S, each signal rising, saddle escapes) get as much room as the linear
    convergence; when every median has reached its floor (float64 rounding), the axis stops
    1.5x after the last one did and a note gives the floors. Runs stop at different steps (NaN
    afterwards); a median is drawn only at steps where at least half of the runs still have a
    value, so it is not a median of the slow survivors.
    """
    if _map_xy(ds) is not None:
        return _map_error_curves(ds)
    error = ds["error"]
    _, selections = _groups(error, ["d", "seed", "step"])
    steps = ds["step"].values.astype(float)
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
        fig = Figure(figsize=(7.0, 4.6), layout="constrained")
        ax = fig.subplots()
        chosen = sorted({d_with_runs.min(), d_with_runs.max()})
        floors, finals = [], {}
        for color, d in zip(("tab:blue", "tab:red"), chosen, strict=False):
            curves = err.sel(d=d).transpose("seed", "step").values
            curves = curves[np.isfinite(curves).any(axis=1)]
            for curve in curves:
                ax.plot(steps, curve, color=color, lw=0.5, alpha=0.35)
            median = _median_curve(curves)
            ax.plot(
                steps,
                median,
                color=color,
                lw=2.4,
                label=f"d = {_compact(d)}: median of {curves.shape[0]} seeds",
            )
            floors.append(_floor_step(steps, median))
            _mark_stages(ax, ds, {**selection, "d": d}, steps, median, color)
            finite = median[np.isfinite(median)]
            finals[f"d = {_fmt(d)}"] = float(finite[-1]) if finite.size else np.nan
        # runs that stopped (converged) leave NaN after their stop: no axis beyond the last data
        alive = np.isfinite(err.transpose(..., "step").values).reshape(-1, steps.size).any(axis=0)
        shown = steps[: int(np.flatnonzero(alive)[-1]) + 1] if alive.any() else steps
        tail = _step_axis(ax, shown, floors, finals)
        ax.set_yscale("log")
        ax.set_xlabel("step t (log scale; linear below 1)")
        ax.set_ylabel(error.attrs.get("long_name", "error"))
        ax.grid(True, which="major", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        for marker, name in STAGE_MARKERS.values():
            if any(line.get_marker() == marker for line in ax.lines):
                handles.append(
                    matplotlib.lines.Line2D([], [], ls="", marker=marker, color="0.3", mfc="white")
                )
                labels.append(f"median {name} of signal k (k written beside)")
        ax.legend(handles, labels, fontsize=8, loc="lower left")
        title = f"error curves\n{_title(selection)}"
        if tail:
            title += f"\n{tail}"
        ax.set_title(title, fontsize=8.5)
        out.append((selection, fig))
    return out


def _map_error_curves(ds: xr.Dataset) -> list[tuple[dict, Figure]]:
    """Error curves of a map sweep: panels over x, median curves colored by y."""
    x, y = _map_xy(ds)
    error = ds["error"]
    _, selections = _groups(error, [x, y, "seed", "step"])
    steps = ds["step"].values.astype(float)
    yv = ds[y].values.astype(float)
    _, y_scale = _edges(yv)
    norm = (LogNorm if y_scale == "log" else Normalize)(
        yv.min(), yv.max() if yv.max() > yv.min() else yv.min() + 1
    )
    colormap = matplotlib.colormaps["viridis"]
    out = []
    for selection in selections:
        exists = _run_exists(ds.sel(selection))
        if not bool(exists.any()):
            continue
        err = error.sel(selection).where(exists)
        n = ds.sizes[x]
        n_cols = int(np.ceil(np.sqrt(n)))
        n_rows = -(-n // n_cols)
        fig = Figure(figsize=(4.2 * n_cols + 1.0, 3.4 * n_rows + 0.8), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
        for ax, xval in zip(axes, ds[x].values, strict=False):
            floors, finals = [], {}
            for yval in ds[y].values:
                curves = err.sel({x: xval, y: yval}).transpose("seed", "step").values
                curves = curves[np.isfinite(curves).any(axis=1)]
                if not curves.size:
                    continue
                median = _median_curve(curves)
                ax.plot(steps, median, color=colormap(norm(float(yval))), lw=1.3)
                floors.append(_floor_step(steps, median))
            ax.set_yscale("log")
            tail = _step_axis(ax, steps, floors, finals)
            note = f"\nclipped at t = {ax.get_xlim()[1]:.0f} (every median at its floor)"
            ax.set_title(f"{x} = {_fmt(xval)}" + (note if tail else ""), fontsize=9)
            ax.set_xlabel("step t (log scale)")
            ax.grid(True, which="major", alpha=0.3)
        for ax in axes[n:]:
            ax.set_visible(False)
        for ax in axes[::n_cols]:
            ax.set_ylabel(error.attrs.get("long_name", "error"))
        mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap)
        fig.colorbar(
            mappable, ax=list(axes[:n]), label=f"{y} (median curve over seeds)", shrink=0.8
        )
        fig.suptitle(f"error curves: median over seeds per {y}\n{_title(selection)}", fontsize=10)
        out.append((selection, fig))
    return out


def _nanpercentile_columns(curves: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """``numpy.nanpercentile(curves, q, axis=0)``: shape (len(q), n_columns).

    numpy.nanpercentile works column by column in Python once any value is NaN (0.1 s for a
    noise figure); the columns without NaN go to numpy.percentile instead, which computes the
    same linear interpolation of the same order statistics, hence the same numbers.
    """
    has_nan = np.isnan(curves).any(axis=0)
    if curves.shape[0] == 0 or has_nan.all():
        return np.nanpercentile(curves, q, axis=0)
    out = np.empty((len(q), curves.shape[1]))
    out[:, ~has_nan] = np.percentile(curves[:, ~has_nan], q, axis=0)
    if has_nan.any():
        out[:, has_nan] = np.nanpercentile(curves[:, has_nan], q, axis=0)
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
    return _save_all(error_curves_figures(ds), path_stem, _figure_sizes(ds))


# --------------------------------------------------------------------------------------------
# Noise (coupling) curves
# --------------------------------------------------------------------------------------------
def noise_figures(ds: xr.Dataset) -> list[tuple[dict, Figure]]:
    """Noise sigma_1(u_k K_k^T) versus step beside its rounding floor, one figure per group.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with ``noise(..., d, ..., seed, k, step)`` and, when the engine stored it,
        ``noise_floor`` with the same dims.

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        Group coordinates and the figure: one panel per k < r (property 4 of Theorem 6 is about
        these), the median over seeds of the smallest and the largest d (solid, with the
        interquartile band) and the median ``noise_floor`` (dashed): below it a float64 iterate
        does not resolve the noise (docs/accuracy.md). Empty for a map sweep (:func:`map_axes`).

    Notes
    -----
    The step axis is linear and the noise axis logarithmic, so a geometric decay
    (1 - eta Delta/6)^t (property 4) is a straight line; the axis ends 1.5x after every median
    has met its floor or the runs stopped. A median is drawn only where at least half of the
    runs still have a value.
    """
    if _map_xy(ds) is not None or "noise" not in ds:
        return []
    noise = ds["noise"]
    floor = ds["noise_floor"] if "noise_floor" in ds else None
    _, selections = _groups(noise, ["d", "seed", "k", "step"])
    steps = ds["step"].values.astype(float)
    out = []
    for selection in selections:
        r = int(selection["r"]) if "r" in selection else int(ds["k"].max())
        ks = [k for k in ds["k"].values if k < r]
        exists = _existing_seeds(ds, selection)
        sel = noise.sel(selection)
        if exists is not None:
            sel = sel.where(exists)
        sel = sel.sortby("d").transpose("d", ...)
        has_run = np.isfinite(sel.values).reshape(sel.sizes["d"], -1).any(axis=1)
        d_with_runs = sel["d"].values[has_run]
        if not ks or d_with_runs.size == 0:
            continue
        fig = Figure(figsize=(5.2 * len(ks) + 0.6, 4.2), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(ks), squeeze=False).ravel())
        chosen = sorted({d_with_runs.min(), d_with_runs.max()})
        for ax, k in zip(axes, ks, strict=True):
            ends, floors_drawn = [], []
            for color, d in zip(("tab:blue", "tab:red"), chosen, strict=False):
                curves = sel.sel(d=d, k=k).transpose("seed", "step").values
                curves = curves[np.isfinite(curves).any(axis=1)]
                median = _median_curve(curves)
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                    alive = np.isfinite(curves).sum(axis=0) >= curves.shape[0] / 2.0
                    q1, q3 = _nanpercentile_columns(curves, [25, 75])
                q1, q3 = np.where(alive, q1, np.nan), np.where(alive, q3, np.nan)
                ax.fill_between(steps, q1, q3, color=color, alpha=0.15, lw=0)
                ax.plot(
                    steps,
                    median,
                    color=color,
                    lw=1.8,
                    label=f"d = {_compact(d)}: median of {curves.shape[0]} seeds",
                )
                end = steps[np.isfinite(median)].max() if np.isfinite(median).any() else 0.0
                if floor is not None:
                    fl = floor.sel(selection).sel(d=d, k=k).transpose("seed", "step").values
                    fl_median = _median_curve(fl[np.isfinite(fl).any(axis=1)])
                    floors_drawn.append(fl_median)
                    ax.plot(
                        steps,
                        fl_median,
                        color=color,
                        lw=1.0,
                        ls="--",
                        label=f"d = {_compact(d)}: rounding floor (noise_floor)",
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
            ax.set_xlabel("step t")
            ax.set_title(
                f"noise of signal k = {int(k)}: " + r"$\sigma_1(u_k K_k^\top)$", fontsize=9
            )
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=7, loc="upper right")
        axes[0].set_ylabel(noise.attrs.get("long_name", "noise"))
        fig.suptitle(f"noise decay (straight line = geometric)\n{_title(selection)}", fontsize=9)
        out.append((selection, fig))
    return out


def plot_noise(ds: xr.Dataset, path_stem) -> list[Path]:
    """Write the noise figures (see :func:`noise_figures`); returns the files written."""
    return _save_all(noise_figures(ds), path_stem, _figure_sizes(ds))


# --------------------------------------------------------------------------------------------
# Heat maps
# --------------------------------------------------------------------------------------------
def _draw_heatmap(ax, block: np.ndarray, norm: Normalize, labels: Sequence) -> object:
    """A 3x3 block with the values written in the cells; returns the image."""
    image = ax.imshow(block, cmap=HEATMAP_CMAP, norm=norm)
    ax.set_xticks(range(block.shape[1]), labels[: block.shape[1]], fontsize=7)
    ax.set_yticks(range(block.shape[0]), labels[: block.shape[0]], fontsize=7)
    ax.tick_params(length=0)
    if not np.isfinite(block).any():
        ax.text(
            1, 1, "run stopped\nbefore this step", ha="center", va="center", fontsize=7, color="0.4"
        )
    for (i, j), v in np.ndenumerate(block):
        if np.isfinite(v):
            dark = abs(norm(v) - 0.5) > 0.3
            ax.text(
                j,
                i,
                _format_gram(v),
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if dark else "black",
            )
    return image


def _format_gram(value: float) -> str:
    """Two decimals, or scientific notation for small nonzero entries (5e-05 is not 0.00)."""
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return _scientific(value)
    return f"{value:.2f}"


def _scientific(value: float) -> str:
    """-5.1e-5 (one decimal, exponent without padding)."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _symmetric_norm(values: np.ndarray) -> Normalize:
    """Color scale symmetric about 0, shared by all heat maps of a figure."""
    vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    return Normalize(vmin=-vmax, vmax=vmax)


def _heatmap_rows(ds: xr.Dataset, selection: dict, along: str) -> list[tuple[str, np.ndarray]]:
    """(row label, blocks (heatmap_step, row, col)) of the first existing seed per `along`."""
    g = ds["top_gram"].sel(selection).sortby(along)
    g = g.transpose(along, "seed", "heatmap_step", "row", "col")
    exists = _existing_seeds(ds, selection)
    rows = []
    for i, value in enumerate(g[along].values):
        values = g.values[i]
        ok = np.isfinite(values).any(axis=(1, 2, 3))
        if exists is not None:
            ok &= exists.sel({along: value}).transpose("seed").values
        if ok.any():
            first = int(np.flatnonzero(ok)[0])
            label = f"{along} = {_compact(value)}\n(seed {_fmt(g['seed'].values[first])})"
            rows.append((label, values[first]))
    return rows


def _compact(value) -> str:
    """Coordinate text that fits a row label: 1e+11 rather than 100000000000."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, int) and abs(value) >= 10**6:
        return f"{value:.4g}"
    return _fmt(value)


def _heatmap_figure(rows, hsteps: np.ndarray, labels: Sequence, title: str) -> Figure:
    norm = _symmetric_norm(np.stack([blocks for _, blocks in rows]))
    n_rows, n_cols = len(rows), hsteps.size
    # fixed layout (inches): constrained layout is slow with dozens of axes
    cell, left, right, bottom = 1.6, 0.9, 1.7, 0.35
    width = max(left + cell * n_cols + right, 5.0)
    lines = textwrap.wrap(title, width=int(width * 12))
    top = 0.55 + 0.17 * len(lines)
    height = top + cell * n_rows + bottom
    fig = Figure(figsize=(width, height))
    grid_width = cell * n_cols
    fig_left = (width - right - grid_width) if width > left + grid_width + right else left
    axes = fig.subplots(
        n_rows,
        n_cols,
        squeeze=False,
        gridspec_kw={
            "left": fig_left / width,
            "right": (fig_left + grid_width) / width,
            "bottom": bottom / height,
            "top": 1 - top / height,
            "wspace": 0.25,
            "hspace": 0.25,
        },
    )
    image = None
    for i, ((label, blocks), ax_row) in enumerate(zip(rows, axes, strict=True)):
        for j, ax in enumerate(ax_row):
            image = _draw_heatmap(ax, blocks[j], norm, labels)
            if i == 0:
                ax.set_title(f"t = {_fmt(hsteps[j])}", fontsize=9)
        ax_row[0].set_ylabel(label, fontsize=8)
    cax = fig.add_axes(
        (
            (fig_left + grid_width + 0.35) / width,
            bottom / height + 0.1,
            0.18 / width,
            1 - (top + bottom) / height - 0.2,
        )
    )
    fig.colorbar(image, cax=cax, label="(X_t X_t^T)_ij")
    fig.suptitle("\n".join(lines), fontsize=9, y=1 - 0.12 / height)
    return fig


def heatmap_figures(ds: xr.Dataset) -> list[tuple[dict, Figure]]:
    """Heat maps of ``top_gram`` (top 3x3 block of X X^T) at the configured steps.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset with ``top_gram(..., d, ..., seed, heatmap_step, row, col)``.

    Returns
    -------
    list of (dict, matplotlib.figure.Figure)
        One figure per grid group: one row of heat maps per d (the first existing seed of each
        d), one column per ``heatmap_step`` (``run.heatmap_steps``), a shared symmetric color
        scale and one colorbar axes. Entries below 0.01 in magnitude are written in scientific
        notation. In a map sweep (:func:`map_axes`) one figure per group of the other axes,
        with one row per value of the map's x axis (eta) at the middle value of its y axis
        (varpi), instead of one figure per cell.
    """
    hsteps = ds["heatmap_step"].values
    labels = [str(v) for v in ds["row"].values]
    xy = _map_xy(ds)
    if xy is None:
        along, inner = "d", ["d", "seed", "heatmap_step", "row", "col"]
    else:
        x, y = xy
        along, inner = x, [x, y, "seed", "heatmap_step", "row", "col"]
        middle = ds[y].values[(ds.sizes[y] - 1) // 2]
    _, selections = _groups(ds["top_gram"], inner)
    out = []
    for selection in selections:
        chosen = dict(selection) if xy is None else {**selection, y: middle}
        rows = _heatmap_rows(ds, chosen, along)
        if not rows:
            continue
        shown = {k: v for k, v in chosen.items() if k != along}
        title = f"top 3x3 block of X_t X_t^T at the configured steps: {_title(shown)}"
        out.append((selection, _heatmap_figure(rows, hsteps, labels, title)))
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
    return _save_all(heatmap_figures(ds), path_stem, _figure_sizes(ds))


def _figure_sizes(ds: xr.Dataset) -> dict:
    """Sizes for file stems: the map axes of a map sweep are inside each figure, not in names."""
    sizes = dict(ds.sizes)
    xy = _map_xy(ds)
    if xy is not None:
        sizes.update({dim: 1 for dim in xy})
    return sizes


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


def plot_sweep(ds: xr.Dataset, fits: xr.Dataset, out_dir, workers: int = 1) -> list[Path]:
    """Every figure of a sweep: scaling per fitted quantity (when d varies), maps (map sweeps,
    :func:`map_axes`), error curves, noise, heat maps.

    Parameters
    ----------
    ds : xarray.Dataset
        The sweep store (loaded in memory when ``workers > 1``).
    fits : xarray.Dataset or None
        Output of :func:`mfsim.analysis.scaling.fit_all`; only used when d has several values.
    out_dir : str or pathlib.Path
        Directory for the PNG and PDF files (created).
    workers : int
        Processes drawing the figure groups (scaling of each quantity, maps, error curves,
        noise, heat maps) at the same time; 1 draws them in this process. Each group is drawn
        by the same code either way, so the files do not depend on `workers`.

    Returns
    -------
    list of pathlib.Path
        In the same order whatever `workers` is.
    """
    from mfsim.analysis.scaling import fit_quantities

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = []
    if ds.sizes["d"] > 1:  # a fit against d needs several d
        tasks += [("scaling", quantity) for quantity in fit_quantities(fits)]
    tasks += [("maps", None), ("error_curves", None), ("noise", None), ("heatmaps", None)]
    if workers <= 1 or len(tasks) <= 1 or "fork" not in mp.get_all_start_methods():
        return [path for task in tasks for path in _draw_task(ds, fits, out_dir, task)]
    # the children inherit ds and fits through fork (no pickling); drawing is CPU-bound in
    # matplotlib, so processes, not threads
    if ("scaling", "rise") in tasks:
        # imported once here, inherited by the workers: the one drawing rise (the small-signal
        # theory) and a report written after the figures do not import scipy.special again
        import mfsim.analysis.linearized  # noqa: F401
    global _FORKED
    _FORKED = (ds, fits, out_dir)
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


#: Task kinds of :func:`plot_sweep`, the longest first (default sweep, one core: heat maps
#: 0.85 s, noise 0.3 s, error curves 0.4 s, one scaling figure 0.2-0.65 s; maps, the figures
#: of map sweeps, have several panels of up to 150 annotated cells).
_TASK_PRIORITY = ("maps", "heatmaps", "noise", "error_curves", "scaling")


#: (ds, fits, out_dir) of the running plot_sweep, read by its forked workers.
_FORKED = None


def _draw_forked(task) -> list[Path]:
    ds, fits, out_dir = _FORKED
    return _draw_task(ds, fits, out_dir, task)


def _draw_task(ds: xr.Dataset, fits, out_dir: Path, task) -> list[Path]:
    kind, quantity = task
    if kind == "scaling":
        return plot_scaling(ds, fits, quantity, out_dir / f"scaling_{quantity}")
    if kind == "maps":
        return plot_maps(ds, out_dir / "maps")
    if kind == "error_curves":
        return plot_error_curves(ds, out_dir / "error_curves")
    if kind == "noise":
        return plot_noise(ds, out_dir / "noise")
    return plot_heatmaps(ds, out_dir / "heatmaps")
