"""The fit table: one row per quantity x group x k (or eps) of a scaling Dataset, tidy.

``scaling.zarr`` (:func:`mfsim.analysis.scaling.fit_all`) holds its results as variables
``<quantity>__<statistic>`` over the group dims; :func:`fits_table` lays them out as a
``pandas.DataFrame`` with a column per group coordinate (``kappa``, ``varpi``,
``varpi_exponent``, ``eta``, ``r``), the index ``k`` or ``eps``, the verdict and its words,
the slopes with their bootstrap intervals, counts, and the small-signal theory's slope where it
applies, so that "does the slope of t_1^* change with eta?" is one filter of one table.
:func:`write_fit_table` writes it as CSV and Parquet with a data dictionary
(:func:`column_descriptions`). Reads the scaling Dataset only (its variables and attributes).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from mfsim.analysis.scaling import fit_quantities, fits_for
from mfsim.datamodel import GRID_DIMS, PROBLEM_COORD_ATTRS, PROBLEM_DIM, stored_dimension_log10
from mfsim.small_signal import chain_estimate, rise_slope, signal_levels, t_k_star_slope

__all__ = ["COLUMNS", "column_descriptions", "fits_table", "write_fit_table"]

#: Group coordinates, in the order of the sweep store's dims (``d`` is what is fitted against).
GROUP_COLUMNS = tuple(dim for dim in GRID_DIMS if dim != "d") + (PROBLEM_DIM,)

#: The columns this module computes or fixes, with their descriptions and units. Every other
#: column is a per-group statistic copied from the scaling Dataset, described by that
#: variable's own ``description`` (or ``long_name``) attribute.
COLUMNS = {
    "quantity": ("stage quantity fitted against d (a variable of sweep.zarr)", ""),
    "kappa": ("condition number kappa = lambda_1 / Delta requested (group coordinate)", "1"),
    "varpi": ("initialization scale c of the grid; varpi_effective = c d^-varpi_exponent", "1"),
    "varpi_exponent": ("initialization exponent a (group coordinate; 0: large init)", "1"),
    "eta": ("step size eta (group coordinate)", "1"),
    "r": ("rank r (group coordinate)", "1"),
    **{
        name: (f"{text[2]} (sweeps with a problem dim)", text[1])
        for name, text in PROBLEM_COORD_ATTRS.items()
    },  # fmt: skip
    "k": ("signal index k (per-k quantities; empty for t_eps)", "1"),
    "eps": ("accuracy level epsilon of t_eps (empty for per-k quantities)", "1"),
    "d_min": (
        "smallest d that entered the fit (used_in_fit); as stored: -log10 d beyond float64",
        "1",
    ),
    "d_max": (
        "largest d that entered the fit (used_in_fit); as stored: -log10 d beyond float64",
        "1",
    ),
    "eta_log_slope": (
        "eta x log_slope: the slope against ln d in gradient-flow time eta t, where a stage "
        "time proportional to 1/eta has the same value at every eta",
        "1",
    ),
    "theory_log_slope": (
        "small-signal prediction of the slope against ln d (rise: 1 / (2 ln(1 + eta (lambda_k "
        "- lambda_(r+1)))); measured literal t_k^*: eq. T of docs/transition.md; 0 for a "
        "bound-dominated t_k^*); the asymptotic slope, without the finite-d transient; "
        "NaN where theory_note says why",
        "steps",
    ),
    "theory_note": ("what theory_log_slope is, or why it is missing", ""),
}
#: Columns summed over d from per-d counts of the scaling Dataset.
_SUMMED = ("n_runs", "n_reached", "n_not_reached", "n_bound_dominated", "n_diverged")
_UNDEFINED_VERDICT = "not defined"


def _description(var: xr.DataArray) -> tuple[str, str]:
    attrs = var.attrs
    text = attrs.get("description") or attrs.get("long_name") or ""
    return str(text), str(attrs.get("units", ""))


def _group_frame(fit: xr.Dataset, index_dim: str) -> tuple[pd.DataFrame, dict]:
    """Per-group columns of one quantity's fits (:func:`mfsim.analysis.scaling.fits_for`)."""
    group_dims = [dim for dim in fit["verdict"].dims]
    columns: dict[str, xr.DataArray] = {}
    described: dict[str, tuple[str, str]] = {}
    for name, var in fit.data_vars.items():
        extra = [dim for dim in var.dims if dim not in group_dims]
        if not extra:
            columns[name] = var
            described[name] = _description(var)
        elif extra == ["model"]:
            for model in var["model"].values:
                column = f"{name}_{model}"
                columns[column] = var.sel(model=model, drop=True)
                text, units = _description(var)
                described[column] = (f"{text} (model {model})", units)
        elif extra == ["d"] and name in _SUMMED:
            columns[name] = var.sum("d")
            text, units = _description(var)
            described[name] = (f"{text}; summed over the d values of the group", units)
    used = fit["used_in_fit"].astype(bool)
    d_values = xr.broadcast(fit["d"].astype(float), used)[0]
    # stored d is -log10 d beyond float64: the smallest and largest are found by log10 d
    order = d_values.copy(data=stored_dimension_log10(d_values.values)).where(used)
    columns["d_min"] = d_values.where(used & (order == order.min("d"))).max("d")
    columns["d_max"] = d_values.where(used & (order == order.max("d"))).max("d")
    frame = xr.Dataset(columns).to_dataframe().reset_index()
    keep = [c for c in frame.columns if c in columns or c in group_dims]
    frame = frame[keep]
    if index_dim == "k":
        frame["eps"] = np.nan
    else:
        frame["k"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    return frame, described


def _spectrum_params(config) -> tuple[str, dict] | None:
    """(family, parameters) of the sweep config, or None."""
    if config is None:
        return None
    if isinstance(config, xr.Dataset):
        if "config" not in config.attrs:
            return _batch_spectrum(config.attrs)
        config = config.attrs["config"]
    if isinstance(config, os.PathLike) or (isinstance(config, str) and "\n" not in config):
        config = Path(config).read_text(encoding="utf-8")  # a path (YAML text has lines)
    if isinstance(config, str):
        import yaml

        config = yaml.safe_load(config)
    if hasattr(config, "spectrum"):  # a SweepConfig
        return config.spectrum.family, config.spectrum.family_params()
    if not isinstance(config, Mapping) or "spectrum" not in config:
        return None
    from mfsim.config.model import SpectrumSpec

    section = SpectrumSpec.from_section(config["spectrum"])
    return section.family, section.family_params()


def _batch_spectrum(attrs: Mapping) -> tuple[str, dict] | None:
    """(family, parameters) from the attributes of a ``mfsim.simulate`` result, or None."""
    import ast

    family = attrs.get("spectrum")
    try:
        params = ast.literal_eval(str(attrs.get("spectrum_params", "")))
    except (ValueError, SyntaxError):
        return None  # e.g. a custom spectrum's eigenvalue array
    if not isinstance(family, str) or not isinstance(params, dict):
        return None
    params.pop("kappa", None)  # a grid coordinate of the table
    return family, params


def _theory(row: pd.Series, spectrum) -> tuple[float, str]:
    quantity = row["quantity"]
    if quantity not in ("rise", "t_k_star"):
        return math.nan, f"no small-signal prediction for {quantity}"
    if spectrum is None:
        return math.nan, "the sweep's spectrum is unknown (no config given)"
    if row["varpi_exponent"] != 0:
        return math.nan, "varpi depends on d (varpi_exponent != 0)"
    family, params = spectrum
    kappa = None if pd.isna(row["kappa"]) else float(row["kappa"])
    levels = signal_levels(family, int(row["r"]), kappa, **params)
    if levels is None:
        return math.nan, f"no bulk level the {family} signals compete with"
    top, level = levels
    k, eta = int(row["k"]), float(row["eta"])
    ramp = "" if family in ("flat", "staircase") else " (bulk ramp taken as 32 flat levels)"
    if quantity == "rise":
        slope = float(rise_slope(eta, top, level)[k - 1])
        return slope, "asymptotic rise slope 1 / (2 ln rho_k) per ln d" + ramp
    if row.get("case") == "bound-dominated":
        return 0.0, "bound-dominated: ceil(t^sharp) at every d, slope 0 by construction"
    if not np.isfinite(row["d_max"]):
        return math.nan, "no d entered the fit"
    d_max = row["d_max"]  # stored: -log10 d beyond float64
    log10_d_max = math.log10(d_max) if d_max > 0 else -d_max
    chain = chain_estimate(log10_d_max, top, level, eta=eta, varpi=row["varpi"])
    delta = min(a - b for a, b in zip((*top, level)[:-1], (*top, level)[1:], strict=True))
    # t_init,1 = 0 and t_init,k+1 = t_k + t_k^*: which of t_init,k and rise_k sets t_k
    t_init = np.concatenate([[0.0], chain.t_k[:-1] + chain.t_k_star[:-1]])
    init_later = t_init > chain.rise[:-1]
    slopes = t_k_star_slope(eta, top, level, delta, chain.bound_dominated, init_later)
    return float(slopes[k - 1]), "asymptotic t_k^* slope per ln d, eq. T" + ramp


def fits_table(scaling: xr.Dataset, config=None) -> pd.DataFrame:
    """The fits of a scaling Dataset as one tidy table.

    Parameters
    ----------
    scaling : xarray.Dataset
        The output of :func:`mfsim.analysis.scaling.fit_all` (``scaling.zarr``).
    config : SweepConfig, mapping, YAML text or path, or xarray.Dataset, optional
        The sweep's config (a sweep Dataset: its ``config`` attribute), for the theory columns.

    Returns
    -------
    pandas.DataFrame
        One row per quantity x group x k (or eps) where the quantity is defined: the columns
        of :data:`COLUMNS` and every per-group statistic of the scaling Dataset (verdict,
        ``verdict_detail``, ``case``, ``preferred_model``, ``log_slope`` with ``_lo``/``_hi``,
        ``power_exponent``, ``boxcox_alpha``, ... ; per-model statistics as
        ``<statistic>_<model>``; per-d counts summed over d). Described by
        :func:`column_descriptions`.

    Raises
    ------
    ValueError
        `scaling` holds no fitted quantity (no ``<quantity>__verdict`` variable).
    """
    quantities = fit_quantities(scaling)
    if not quantities:
        raise ValueError(
            "scaling: no fitted quantity (variables '<quantity>__verdict'); pass the output of "
            "mfsim.fit_all, e.g. xr.open_zarr('results/<sweep>/scaling.zarr')"
        )
    spectrum = _spectrum_params(config)
    frames = []
    for quantity in quantities:
        fit = fits_for(scaling, quantity).load()
        index_dim = "eps" if "eps" in fit["verdict"].dims else "k"
        frame, _ = _group_frame(fit, index_dim)
        frame = frame[frame["verdict"].astype(str) != _UNDEFINED_VERDICT]
        frame.insert(0, "quantity", quantity)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["eta_log_slope"] = table["eta"] * table["log_slope"]
    theory = [_theory(row, spectrum) for _, row in table.iterrows()]
    table["theory_log_slope"] = [t[0] for t in theory]
    table["theory_note"] = [t[1] for t in theory]
    first = ["quantity", *[c for c in GROUP_COLUMNS if c in table.columns], "k", "eps"]
    words = [c for c in ("verdict", "verdict_detail", "case", "case_text") if c in table]
    slopes = [c for c in ("log_slope", "log_slope_lo", "log_slope_hi") if c in table]
    theory_columns = ["eta_log_slope", "theory_log_slope", "theory_note"]
    middle = words + slopes + theory_columns + ["d_min", "d_max"]
    # the same order whatever the variable order of the Dataset (a store lists them sorted)
    rest = sorted(c for c in table.columns if c not in first + middle)
    table = table[first + middle + rest].reset_index(drop=True)
    table["k"] = table["k"].astype("Int64")
    return table


def column_descriptions(scaling: xr.Dataset, table: pd.DataFrame) -> pd.DataFrame:
    """The data dictionary of a fit table: ``column``, ``description``, ``units``.

    Raises
    ------
    ValueError
        A column has no description (neither in :data:`COLUMNS` nor in the attributes of the
        scaling variable it comes from).
    """
    described: dict[str, tuple[str, str]] = dict(COLUMNS)
    for quantity in fit_quantities(scaling):
        fit = fits_for(scaling, quantity)
        index_dim = "eps" if "eps" in fit["verdict"].dims else "k"
        _, found = _group_frame(fit, index_dim)
        for name, value in found.items():
            if value[0]:
                described.setdefault(name, value)
    rows = []
    for column in table.columns:
        text, units = described.get(column, ("", ""))
        if not text:
            raise ValueError(f"fit table column {column!r} has no description")
        rows.append({"column": column, "description": text, "units": units})
    return pd.DataFrame(rows)


def write_fit_table(scaling: xr.Dataset, directory, config=None) -> list[Path]:
    """Write ``fit_table.csv``, ``fit_table.parquet`` and ``fit_table.columns.csv`` (the data
    dictionary) into `directory` (beside ``scaling.zarr``); return their paths.

    The Parquet file carries each column's description and units as field metadata. Each file
    is written to a temporary name and renamed.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    table = fits_table(scaling, config)
    dictionary = column_descriptions(scaling, table)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = {row.column: row for row in dictionary.itertuples()}
    fields = [
        field.with_metadata(
            {"description": meta[field.name].description, "units": meta[field.name].units}
        )
        for field in arrow.schema
    ]
    arrow = arrow.cast(pa.schema(fields, metadata=arrow.schema.metadata))
    paths = {
        "csv": directory / "fit_table.csv",
        "parquet": directory / "fit_table.parquet",
        "columns": directory / "fit_table.columns.csv",
    }
    writers = {
        "csv": lambda p: table.to_csv(p, index=False),
        "parquet": lambda p: pq.write_table(arrow, p),
        "columns": lambda p: dictionary.to_csv(p, index=False),
    }
    for kind, path in paths.items():
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        writers[kind](tmp)
        os.replace(tmp, path)
    return list(paths.values())
