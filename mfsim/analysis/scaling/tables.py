"""Per-grid-point tables of the stage quantities (median and IQR over seeds)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from mfsim.analysis.scaling.runs import _RUN_COUNTS, STAGE_QUANTITIES, classify_runs


def stage_table(ds: xr.Dataset, quantities: Iterable[str] = STAGE_QUANTITIES) -> pd.DataFrame:
    """Median and IQR over seeds of each stage quantity, per grid point and k (or eps).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    quantities : iterable of str
        Stage variables (missing ones are skipped).

    Returns
    -------
    pandas.DataFrame
        Long format, one row per (quantity, grid point, k or eps): columns ``quantity``, the
        grid dims, ``d``, ``k`` and/or ``eps`` (NaN where not applicable), ``median``, ``q25``,
        ``q75``, ``iqr`` (over the reached, non-bound-dominated seeds), and the counts
        ``n_runs``, ``n_reached``, ``n_not_reached``, ``n_bound_dominated``, ``n_diverged``.

    Notes
    -----
    ``iqr = q75 - q25`` with linear-interpolation quantiles. Rows for grid cells without runs
    and for (k, r) where the quantity is not defined are omitted. Statistics are NaN if no seed
    reached the stage; the counts say why.
    """
    frames = []
    for quantity in quantities:
        if quantity not in ds.data_vars:
            continue
        runs = classify_runs(ds, quantity)
        kept = runs["value"].where(runs["reached"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            quartiles = kept.quantile([0.25, 0.5, 0.75], dim="seed", skipna=True)
        table = xr.Dataset(
            {
                "median": quartiles.sel(quantile=0.5, drop=True),
                "q25": quartiles.sel(quantile=0.25, drop=True),
                "q75": quartiles.sel(quantile=0.75, drop=True),
                **{name: runs[flag].sum("seed") for name, flag in _RUN_COUNTS.items()},
            }
        )
        table["iqr"] = table["q75"] - table["q25"]
        frame = table.to_dataframe().reset_index()
        frame = frame[(frame["n_runs"] > 0) & (frame["n_undefined"] == 0)]
        frame = frame.drop(columns="n_undefined")
        frame.insert(0, "quantity", quantity)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    stats = ["median", "q25", "q75", "iqr"]
    count_columns = ["n_runs", "n_reached", "n_not_reached", "n_bound_dominated", "n_diverged"]
    index = [c for c in ("d", "k", "eps") if c in out.columns]
    grid = [c for c in out.columns if c not in stats + count_columns + index + ["quantity"]]
    keys = ["quantity", *grid, *index]
    out = out[keys + stats + count_columns]
    order = {q: i for i, q in enumerate(dict.fromkeys(out["quantity"]))}
    out = out.sort_values(keys, key=lambda c: c.map(order) if c.name == "quantity" else c)
    out = out.reset_index(drop=True)
    for column in count_columns:
        out[column] = out[column].astype(np.int64)
    if "k" in out.columns:
        out["k"] = out["k"].astype("Int64")
    return out
