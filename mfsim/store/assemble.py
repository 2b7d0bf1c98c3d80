"""Assembly: complete chunk stores -> the sweep store ``results/<sweep>/sweep.zarr``.

Sweep store layout: dense over the grid dims :data:`mfsim.datamodel.AXES` ``(d, kappa, varpi,
varpi_exponent, eta, r, seed)`` followed by the variable's own dims (``k``, ``step``, ``eps``,
``heatmap_step``, ``row``, ``col``). A cell without a run holds the fill value of
:func:`mfsim.datamodel.fill_value`. Assembling only copies values, so every data variable except
:data:`mfsim.datamodel.NONDETERMINISTIC_VARIABLES` is bit-identical whatever the chunking.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from mfsim._version import __version__
from mfsim.config.axes import round_significant
from mfsim.config.model import SweepConfig, parse
from mfsim.datamodel import (
    AXES,
    BATCH_SCALAR_DIMS,
    BATCH_SCALARS,
    MISSING_VALUES,
    NONDETERMINISTIC_VARIABLES,
    RUN_DIM,
    SHARED_DIMS,
    SPECTRUM_COORDS,
    VARIABLE_ATTRS,
    fill_value,
)
from mfsim.plan.grid import GridPoint, identity_hash
from mfsim.store.atomic import atomic_store
from mfsim.store.chunk_store import open_chunk_store
from mfsim.store.footprint import sweep_store_disk_bytes
from mfsim.store.layout import (
    IN_MEMORY_WRITE_BYTES,
    ZARR_FORMAT,
    d_coordinate,
    log10_d_coordinate,
    set_coord_attrs,
    sweep_storage_chunks,
    to_zarr,
)
from mfsim.store.provenance import provenance_attrs

__all__ = ["assemble"]


class _GridIndex:
    """Positions of grid values along each grid axis (exact matching; ``d`` as stored, int64 or
    float64 by :func:`mfsim.store.layout.d_coordinate`)."""

    def __init__(self, axes: dict):
        self.values = {}
        for axis in AXES:
            vals = axes[axis]
            if axis == "d":
                self.values[axis] = d_coordinate(vals)
                continue
            if axis == "kappa":
                vals = [np.nan if v is None else v for v in vals]
            dtype = np.int64 if axis in ("r", "seed") else np.float64
            self.values[axis] = np.asarray(vals, dtype=dtype)
        self.shape = tuple(len(self.values[axis]) for axis in AXES)

    def positions(self, axis: str, values: np.ndarray, where: str) -> np.ndarray:
        grid = self.values[axis]
        values = np.asarray(values, dtype=grid.dtype)
        if axis == "kappa" and np.isnan(grid).all():
            if not np.isnan(values).all():
                raise ValueError(f"{where}: kappa values {np.unique(values)} are not in the grid")
            return np.zeros(values.shape, dtype=np.int64)
        pos = np.clip(np.searchsorted(grid, values), 0, len(grid) - 1)
        bad = grid[pos] != values
        if bad.any():
            raise ValueError(
                f"{where}: {axis} = {values[bad][0]!r} is not a value of the config's "
                f"grid {grid.tolist()} (a chunk store of another config?)"
            )
        return pos


def _kappa_coordinate(config: SweepConfig) -> np.ndarray:
    """The kappa grid values; for families that fix kappa the common realized value (or NaN)."""
    grid = config.grid
    if grid.kappa != (None,):
        return np.asarray(grid.kappa, dtype=np.float64)
    from mfsim.spectra import spectrum

    family, params = config.spectrum.family, config.spectrum.family_params()
    realized = {spectrum(family, d, r=r, **params).kappa for d in grid.d for r in grid.r}
    # rounded like range values (mfsim.config.axes): figure1 gives 5.0, not 5.000...1
    value = round_significant(realized.pop()) if len(realized) == 1 else np.nan
    return np.array([value])


def assemble(
    chunk_paths: Iterable[str | os.PathLike],
    config: SweepConfig | Mapping,
    out_path: str | os.PathLike,
    *,
    allow_missing: bool = False,
) -> Path:
    """Combine complete chunk stores into the sweep store, written atomically.

    Parameters
    ----------
    chunk_paths : iterable of path
        Chunk stores written by :func:`mfsim.run_chunk` for this config.
    config : SweepConfig, mapping or path
        The sweep config (parsed here unless already a :class:`~mfsim.config.SweepConfig`).
    out_path : path
        The sweep store (``results/<sweep>/sweep.zarr``).
    allow_missing : bool, default False
        Accept grid cells without a run (fill values there). By default every run of the grid
        must be present exactly once.

    Returns
    -------
    pathlib.Path
        `out_path`.

    Raises
    ------
    mfsim.store.atomic.IncompleteStoreError
        A chunk store without the completion marker (the message names it).
    ValueError
        A store of another config, a run present twice, or missing runs (unless
        `allow_missing`).

    Notes
    -----
    Layout: dims ``(d, kappa, varpi, varpi_exponent, eta, r, seed)`` then the variable's own
    dims; ``t_star``/``t_sharp`` on ``(d, kappa, eta, r)``; coordinates ``varpi_effective``
    ``(d, varpi, varpi_exponent)``, ``kappa_realized``, ``lambda_1``, ``Delta`` ``(d, kappa, r)``
    and ``lambda_k`` ``(d, kappa, r, k)``; ``d`` is int64 when every d of the grid is below
    2^53, else float64, with ``log10_d`` ``(d)`` computed from the exact integers. Storage
    chunks hold one ``d`` and all seeds and steps of one or more grid points (about 1 MB or
    more). A store larger than :data:`mfsim.store.layout.IN_MEMORY_WRITE_BYTES` is written one
    ``d`` value at a time, so memory holds one d-slice of the sweep; a smaller one is built
    whole and written at once (the same files, faster).
    """
    config = parse(config)
    axes = config.grid.axes
    index = _GridIndex(axes)
    identity = identity_hash(config)
    k_max = config.grid.k_max
    paths = [Path(p) for p in chunk_paths]
    stores = [open_chunk_store(path, identity) for path in paths]
    if not stores:
        raise ValueError("assemble: no chunk stores given")
    template = stores[0]

    steps = config.run.recorded_steps
    if not np.array_equal(template["step"].values, steps):
        raise ValueError(f"{paths[0]}: recorded steps differ from the config's")

    # pass 1: grid positions of every run, spectrum coordinates, coverage
    filled = np.zeros(index.shape, dtype=bool)
    spectrum_shape = (len(axes["d"]), len(axes["kappa"]), len(axes["r"]))
    spectrum_coords = {name: np.full(spectrum_shape, np.nan) for name in SPECTRUM_COORDS}
    lambda_k = np.full(spectrum_shape + (k_max,), np.nan)
    positions = []
    for path, store in zip(paths, stores, strict=True):
        if store.sizes.get("k") != k_max or not np.array_equal(store["step"].values, steps):
            raise ValueError(f"{path}: k or step dims differ from the config's")
        pos = tuple(index.positions(axis, store[axis].values, str(path)) for axis in AXES)
        if filled[pos].any() or len(set(zip(*pos, strict=True))) != len(pos[0]):
            raise ValueError(f"{path}: holds runs that another chunk store also holds")
        filled[pos] = True
        positions.append(pos)
        spec_pos = (pos[0], pos[1], pos[5])
        for name in SPECTRUM_COORDS:
            spectrum_coords[name][spec_pos] = store[name].values
        lambda_k[spec_pos] = store["lambda_k"].values
    n_missing = int(filled.size - filled.sum())
    if n_missing and not allow_missing:
        first = tuple(int(i) for i in np.argwhere(~filled)[0])
        where = ", ".join(
            f"{axis}={index.values[axis][i]}" for axis, i in zip(AXES, first, strict=True)
        )
        raise ValueError(
            f"assemble: {n_missing} of {filled.size} runs of the grid are missing "
            f"(e.g. {where}); pass all chunk stores or allow_missing=True"
        )

    coords = _sweep_coords(config, index, template, spectrum_coords, lambda_k)
    specs = _variable_specs(template, axes)
    info = {
        "kind": "sweep",
        "sweep": config.sweep,
        "n_chunks": len(stores),
        "n_runs": int(filled.sum()),
        "mfsim_version": __version__,
    }
    attrs = _sweep_attrs(config, template, stores, filled)
    by_d: dict[int, list[int]] = {}
    for number, pos in enumerate(positions):
        for i_d in np.unique(pos[0]):
            by_d.setdefault(int(i_d), []).append(number)

    def d_slice(i_d: int) -> xr.Dataset:
        return _d_slice(specs, [(stores[n], positions[n]) for n in by_d.get(i_d, [])], i_d)

    store_bytes = sum(math.prod(shape) * dtype.itemsize for _, shape, dtype, _, _ in specs.values())
    with atomic_store(out_path, info, estimate_bytes=lambda: sweep_store_disk_bytes(config)) as tmp:
        if store_bytes <= IN_MEMORY_WRITE_BYTES:
            # small: the whole store in memory, written at once (no dask template, no region
            # writes); the same files as the d-slice path
            slices = [d_slice(i_d) for i_d in range(len(axes["d"]))]
            data = {name: np.concatenate([s[name].values for s in slices]) for name in specs}
            ds, encoding = _template(specs, coords, attrs, data)
            to_zarr(ds, tmp, encoding=encoding)
        else:
            ds, encoding = _template(specs, coords, attrs)
            to_zarr(ds, tmp, encoding=encoding, compute=False)
            for i_d in range(len(axes["d"])):
                d_slice(i_d).to_zarr(
                    tmp,
                    region={"d": slice(i_d, i_d + 1)},
                    zarr_format=ZARR_FORMAT,
                    consolidated=False,
                )
        _reconsolidate(tmp)
    return Path(out_path)


def _reconsolidate(path: Path) -> None:
    import zarr

    zarr.consolidate_metadata(str(path), zarr_format=ZARR_FORMAT)


def _sweep_coords(config: SweepConfig, index, template, spectrum_coords, lambda_k) -> dict:
    grid = config.grid
    coords = {axis: (axis, index.values[axis]) for axis in AXES}
    coords["log10_d"] = ("d", log10_d_coordinate(grid.d))
    coords["kappa"] = ("kappa", _kappa_coordinate(config))
    for name in ("k",) + SHARED_DIMS:
        coords[name] = (name, np.asarray(template[name].values))
    varpi_eff = np.empty((len(grid.d), len(grid.varpi), len(grid.varpi_exponent)))
    for i, d in enumerate(grid.d):
        for j, c in enumerate(grid.varpi):
            for m, a in enumerate(grid.varpi_exponent):
                point = GridPoint(d=d, r=1, kappa=None, varpi=c, varpi_exponent=a, eta=1.0)
                varpi_eff[i, j, m] = point.varpi_effective
    coords["varpi_effective"] = (("d", "varpi", "varpi_exponent"), varpi_eff)
    for name, values in spectrum_coords.items():
        coords[name] = (("d", "kappa", "r"), values)
    coords["lambda_k"] = (("d", "kappa", "r", "k"), lambda_k)
    return coords


def _variable_specs(template: xr.Dataset, axes: dict) -> dict:
    """name -> (dims, shape, dtype, fill, attrs) of every data variable of the sweep store."""
    sizes = {axis: len(axes[axis]) for axis in AXES}
    sizes.update({dim: template.sizes[dim] for dim in ("k",) + SHARED_DIMS})
    specs = {}
    order = {name: i for i, name in enumerate(VARIABLE_ATTRS)}
    names = sorted(template.data_vars, key=lambda name: (order.get(name, len(order)), name))
    for name in names:
        var = template[name]
        if name in BATCH_SCALARS:
            dims = BATCH_SCALAR_DIMS
        else:
            dims = AXES + tuple(dim for dim in var.dims if dim != RUN_DIM)
        dtype = np.dtype(var.dtype)
        attrs = {key: value for key, value in var.attrs.items() if key != "_FillValue"}
        specs[name] = (dims, tuple(sizes[dim] for dim in dims), dtype, fill_value(dtype), attrs)
    return specs


def _sweep_attrs(config: SweepConfig, template, stores, filled) -> dict:
    attrs = {
        key: value
        for key, value in template.attrs.items()
        if not key.startswith("mfsim_") and key != "sweep"
    }
    attrs.update(
        {
            "mfsim_store": "sweep",
            **provenance_attrs(),
            "sweep": config.sweep,
            "config": yaml.safe_dump(config.as_dict(), sort_keys=False, default_flow_style=None),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "n_runs": int(filled.sum()),
            "n_missing_runs": int(filled.size - filled.sum()),
            "n_chunks": len(stores),
            "grid_dims": " ".join(AXES),
            "missing_values": MISSING_VALUES,
            "nondeterministic_variables": " ".join(NONDETERMINISTIC_VARIABLES),
        }
    )
    return attrs


def _template(specs: dict, coords: dict, attrs: dict, data: dict | None = None):
    """The sweep store's Dataset and encoding: metadata, coordinates and data variables,
    from `data` (name -> full array) or, without it, empty (dask arrays of fill values, to be
    written with ``compute=False`` and filled one d-slice at a time)."""
    data_vars = {}
    encoding = {}
    for name, (dims, shape, dtype, fill, var_attrs) in specs.items():
        sizes = dict(zip(dims, shape, strict=True))
        storage_chunks = sweep_storage_chunks(dims, sizes, dtype.itemsize)
        if data is None:
            import dask.array as da

            values = da.full(shape, fill, dtype=dtype, chunks=storage_chunks)
        else:
            values = data[name]
        data_vars[name] = xr.Variable(dims, values, var_attrs)
        encoding[name] = {"chunks": storage_chunks}
        if dtype.kind in "iub":
            encoding[name]["_FillValue"] = None
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    set_coord_attrs(ds)
    for name in ("d", "log10_d", "r", "seed", "k", "step", "heatmap_step", "row", "col"):
        encoding[name] = {"_FillValue": None}
    return ds, encoding


def _d_slice(specs: dict, members: list, i_d: int) -> xr.Dataset:
    """The d-slice ``i_d`` of every data variable, filled from the chunk stores holding it."""
    arrays = {
        name: np.full((1,) + shape[1:], fill, dtype=dtype)
        for name, (_, shape, dtype, fill, _) in specs.items()
    }
    for store, pos in members:
        sel = pos[0] == i_d
        if not sel.any():
            continue
        run_idx = np.flatnonzero(sel)
        grid_pos = (np.zeros(run_idx.size, dtype=np.int64),) + tuple(p[sel] for p in pos[1:])
        scalar_pos = (grid_pos[0], grid_pos[1], grid_pos[4], grid_pos[5])
        part = store.isel({RUN_DIM: run_idx}).load()
        for name in specs:
            values = part[name].values
            target = scalar_pos if name in BATCH_SCALARS else grid_pos
            arrays[name][target] = values
    return xr.Dataset({name: (specs[name][0], values) for name, values in arrays.items()})
