"""What the figures select from a sweep: existing runs, honest medians over seeds, map axes.

Shared by the figure modules of :mod:`mfsim.output`; no drawing here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from mfsim.datamodel import NO_RUN, stored_dimension_log10, stored_dimension_text

__all__ = ["map_axes"]

#: Preferred (x, y) axes of a map: the paper's step size and initialization scale.
MAP_PREFERENCE = ("eta", "varpi")


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
        axes (:func:`mfsim.output.maps.map_figures`) instead of one figure per grid cell.
    """
    names = str(ds.attrs.get("grid_dims", "")).split()
    if not names:
        source = ds["status"] if "status" in ds else ds["error"]
        names = [dim for dim in source.dims if dim != "step"]
    return [dim for dim in names if dim not in ("d", "seed") and ds.sizes.get(dim, 1) > 1]


def map_xy(ds: xr.Dataset) -> tuple[str, str] | None:
    """(x, y) axes of the maps: eta and varpi when both vary, else the first two map axes."""
    axes = map_axes(ds)
    if len(axes) < 2:
        return None
    if all(dim in axes for dim in MAP_PREFERENCE):
        return MAP_PREFERENCE
    return axes[0], axes[1]


def figure_sizes(ds: xr.Dataset) -> dict:
    """Sizes for file stems: the map axes of a map sweep are inside each figure, not in names."""
    sizes = dict(ds.sizes)
    xy = map_xy(ds)
    if xy is not None:
        sizes.update({dim: 1 for dim in xy})
    return sizes


def existing_seeds(ds: xr.Dataset, selection: dict) -> xr.DataArray | None:
    """Boolean over seed (and remaining dims) of existing runs (status != -1), if known."""
    if "status" not in ds.data_vars:
        return None
    status = ds["status"].sel(selection)
    return status.notnull() & (status != NO_RUN)


def run_exists(ds: xr.Dataset) -> xr.DataArray:
    """Boolean over the grid: a run exists there (status >= 0; -1 marks a cell without a run).

    Without ``status``: where the error curve has a value.
    """
    if "status" not in ds:
        return ds["error"].notnull().any("step")
    return ds["status"].notnull() & (ds["status"] >= 0)


def honest_median(values: xr.DataArray, exists: xr.DataArray, dim: str = "seed") -> xr.DataArray:
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


def nanmedian(curves: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN, NaN (without a warning) where a column is all NaN."""
    result = np.full(curves.shape[1], np.nan)
    ok = np.isfinite(curves).any(axis=0)
    result[ok] = np.nanmedian(curves[:, ok], axis=0)
    return result


def median_curve(curves: np.ndarray) -> np.ndarray:
    """Median over runs at steps where at least half of the runs still have a value."""
    with np.errstate(all="ignore"):
        alive = np.isfinite(curves).sum(axis=0)
        return np.where(alive >= curves.shape[0] / 2.0, nanmedian(curves), np.nan)


def nanpercentile_columns(curves: np.ndarray, q: Sequence[float]) -> np.ndarray:
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


def edges(values: np.ndarray) -> tuple[np.ndarray, str]:
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


def index_dim(da: xr.DataArray) -> str | None:
    """The index dim of a stage quantity: k (signal index) or eps (accuracy level)."""
    return "k" if "k" in da.dims else ("eps" if "eps" in da.dims else None)


def huge_d(d: np.ndarray) -> bool:
    """d values beyond what matplotlib's log axis handles (it overflows near 1e308), including
    stored d beyond float64 (negative: -log10 d, :func:`mfsim.datamodel.stored_dimension`)."""
    d = np.asarray(d, dtype=float)
    return bool((d < 0).any() or np.nanmax(d) > 1e250)


def sort_by_d(obj):
    """`obj` sorted by d: by ``log10_d`` when present (stored d is -log10 d beyond float64, not
    monotone in d), else by ``d``."""
    exact = "log10_d" in obj.coords and obj["log10_d"].dims == ("d",)
    return obj.sortby(obj["log10_d"]) if exact else obj.sortby("d")


def smallest_and_largest_d(stored: np.ndarray) -> list:
    """The stored d values of the smallest and largest d (one value if they are equal)."""
    stored = np.asarray(stored)
    order = stored_dimension_log10(stored)
    return list(dict.fromkeys([stored[np.argmin(order)], stored[np.argmax(order)]]))


def d_text(stored, plain) -> str:
    """A stored d as label text: ``plain(stored)`` in float64's range, ``1e+1000`` beyond
    (where the store holds -log10 d)."""
    return stored_dimension_text(stored) if float(stored) < 0 else plain(stored)
