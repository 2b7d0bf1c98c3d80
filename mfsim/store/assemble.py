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
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import xarray as xr
import yaml

from mfsim._version import __version__
from mfsim.config.axes import round_significant
from mfsim.config.model import SweepConfig, parse
from mfsim.config.problems import PROBLEM_LABEL_LENGTH
from mfsim.datamodel import (
    AXES,
    BATCH_SCALAR_DIMS,
    BATCH_SCALARS,
    MISSING_VALUES,
    NONDETERMINISTIC_VARIABLES,
    PROBLEM_DIM,
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

__all__ = ["ASSEMBLE_BLOCK_BYTES", "assemble"]

#: Bytes of sweep-store data a streaming assembly holds in memory at once (one block).
ASSEMBLE_BLOCK_BYTES = 128 * 2**20


class _GridIndex:
    """Positions of grid values along each grid axis (exact matching; ``d`` as stored, int64 or
    float64 by :func:`mfsim.store.layout.d_coordinate`)."""

    def __init__(self, axes: dict, dims: tuple = AXES):
        self.dims = dims
        self.values = {}
        for axis in dims:
            vals = axes[axis]
            if axis == "d":
                self.values[axis] = d_coordinate(vals)
                continue
            if axis == "kappa":
                vals = [np.nan if v is None else v for v in vals]
            dtype = np.int64 if axis in ("r", "seed") else np.float64
            if axis == PROBLEM_DIM:
                dtype = f"<U{PROBLEM_LABEL_LENGTH}"
            self.values[axis] = np.asarray(vals, dtype=dtype)
        self.shape = tuple(len(self.values[axis]) for axis in dims)

    def positions(self, axis: str, values: np.ndarray, where: str) -> np.ndarray:
        grid = self.values[axis]
        values = np.asarray(values, dtype=grid.dtype)
        if axis == "kappa" and np.isnan(grid).all():
            if not np.isnan(values).all():
                raise ValueError(f"{where}: kappa values {np.unique(values)} are not in the grid")
            return np.zeros(values.shape, dtype=np.int64)
        # stored d is not monotone in d beyond float64 (-log10(d) there): search in sorted order
        order = np.argsort(grid, kind="stable")
        pos = order[np.clip(np.searchsorted(grid[order], values), 0, len(grid) - 1)]
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
    block_bytes: int = ASSEMBLE_BLOCK_BYTES,
    workers: int = 1,
    client=None,
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
    block_bytes : int, default :data:`ASSEMBLE_BLOCK_BYTES`
        Bytes of data held in memory at once when the store is larger than
        :data:`mfsim.store.layout.IN_MEMORY_WRITE_BYTES` (rounded to whole storage chunks).
    workers : int, default 1
        Threads that fill and write blocks at once (streaming route); memory grows to about
        `workers` x `block_bytes`.
    client : distributed.Client, optional
        Write the blocks as tasks of this Dask client instead (its workers must see the
        chunk stores and `out_path`'s directory). The result is the same, file for file, as
        with one writer.

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
        `allow_missing`); `workers` not a positive integer.

    Notes
    -----
    Layout: dims ``(d, kappa, varpi, varpi_exponent, eta, r, seed)`` then the variable's own
    dims; ``t_star``/``t_sharp`` on ``(d, kappa, eta, r)``; coordinates ``varpi_effective``
    ``(d, varpi, varpi_exponent)``, ``kappa_realized``, ``lambda_1``, ``Delta`` ``(d, kappa, r)``
    and ``lambda_k`` ``(d, kappa, r, k)``; ``d`` is int64 when every d of the grid is below
    2^53, else float64, with ``log10_d`` ``(d)`` computed from the exact integers. Storage
    chunks hold one ``d`` and all seeds and steps of one or more grid points (about 1 MB or
    more). A store larger than :data:`mfsim.store.layout.IN_MEMORY_WRITE_BYTES` is streamed:
    a first pass reads only the coordinates of each chunk store (one open at a time), then
    blocks of about `block_bytes` aligned with the storage chunks are filled from the chunk
    stores holding their runs and written with region writes (``Dataset.to_zarr(region=)``).
    Memory is then bounded by `block_bytes`, a few open chunk stores, one byte per grid cell
    (the coverage check) and the per-(d, kappa, eta, r) batch scalars, whatever the number of
    runs or chunk stores (times `workers`: blocks are disjoint, so several writers can fill
    and write them at once). A smaller store is built whole and written at once (the same files,
    faster).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"assemble: workers = {workers!r}; an integer of at least 1 is allowed")
    config = parse(config)
    axes, dims = sweep_axes(config)
    index = _GridIndex(axes, dims)
    identity = identity_hash(config)
    paths = [Path(p) for p in chunk_paths]
    if not paths:
        raise ValueError("assemble: no chunk stores given")
    template = open_chunk_store(paths[0], identity)
    if not np.array_equal(template["step"].values, config.run.recorded_steps):
        raise ValueError(f"{paths[0]}: recorded steps differ from the config's")
    specs = _variable_specs(template, axes, dims)
    store_bytes = sum(math.prod(shape) * dtype.itemsize for _, shape, dtype, _, _ in specs.values())
    in_memory = store_bytes <= IN_MEMORY_WRITE_BYTES
    blocks = _Blocks(specs, index.shape, math.inf if in_memory else block_bytes, dims)
    survey = _survey(paths, config, index, identity, blocks, specs, allow_missing)
    coords = _sweep_coords(config, index, template, survey.spectrum_coords, survey.lambda_k)
    attrs = _sweep_attrs(config, template, paths, survey.filled, dims)
    info = {
        "kind": "sweep",
        "sweep": config.sweep,
        "n_chunks": len(paths),
        "n_runs": int(survey.filled.sum()),
        "mfsim_version": __version__,
    }
    scalars = survey.scalars
    with atomic_store(out_path, info, estimate_bytes=lambda: sweep_store_disk_bytes(config)) as tmp:
        if in_memory:
            # small: the whole store in memory (one block), written at once (no dask template,
            # no region writes); the same files as the streaming path
            reader = _ChunkReader(paths, index, identity)
            data = _fill_block(specs, blocks, 0, survey.stores_of_block.get(0, []), reader)
            ds, encoding = _template(specs, coords, attrs, {**data, **scalars})
            to_zarr(ds, tmp, encoding=encoding)
        else:
            ds, encoding = _template(specs, coords, attrs)
            to_zarr(ds, tmp, encoding=encoding, compute=False)
            layout = _BlockLayout(str(tmp), specs, blocks, index, identity)
            _write_blocks(layout, survey.stores_of_block, paths, workers, client)
            # the batch scalars (no varpi or seed dim) once, whole: small, and a block that
            # covers only some varpi values must not overwrite them with fill values
            whole = {dim: slice(0, index.shape[dims.index(dim)]) for dim in BATCH_SCALAR_DIMS}
            part = xr.Dataset(
                {name: (BATCH_SCALAR_DIMS, values) for name, values in scalars.items()}
            )
            part.to_zarr(tmp, region=whole, zarr_format=ZARR_FORMAT, consolidated=False)
        _reconsolidate(tmp)
    return Path(out_path)


def sweep_axes(config: SweepConfig) -> tuple[dict, tuple]:
    """The grid values and dims of the sweep store: :data:`~mfsim.datamodel.AXES`, and for a
    sweep that runs problems besides factorization the ``problem`` dim before ``seed``."""
    axes = config.grid.axes
    if not config.grid.has_problems:
        return axes, AXES
    axes[PROBLEM_DIM] = config.grid.problem_labels
    return axes, AXES[:-1] + (PROBLEM_DIM, AXES[-1])


def problem_coords(variants) -> dict:
    """The coordinates ``measurements`` and ``imbalance`` along the ``problem`` dim."""
    nan = np.nan
    return {
        "measurements": (PROBLEM_DIM, [nan if v.measurements is None else v.measurements
                                       for v in variants]),
        "imbalance": (PROBLEM_DIM, [nan if v.imbalance is None else v.imbalance
                                    for v in variants]),
    }  # fmt: skip


def _reconsolidate(path: Path) -> None:
    import zarr

    zarr.consolidate_metadata(str(path), zarr_format=ZARR_FORMAT)


def _sweep_coords(config: SweepConfig, index, template, spectrum_coords, lambda_k) -> dict:
    grid = config.grid
    coords = {axis: (axis, index.values[axis]) for axis in index.dims}
    if PROBLEM_DIM in index.dims:
        coords.update(problem_coords(config.grid.problems))
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


def _variable_specs(template: xr.Dataset, axes: dict, grid_dims: tuple = AXES) -> dict:
    """name -> (dims, shape, dtype, fill, attrs) of every data variable of the sweep store."""
    sizes = {axis: len(axes[axis]) for axis in grid_dims}
    sizes.update({dim: template.sizes[dim] for dim in ("k",) + SHARED_DIMS})
    specs = {}
    order = {name: i for i, name in enumerate(VARIABLE_ATTRS)}
    names = sorted(template.data_vars, key=lambda name: (order.get(name, len(order)), name))
    for name in names:
        var = template[name]
        if name in BATCH_SCALARS:
            dims = BATCH_SCALAR_DIMS
        else:
            dims = grid_dims + tuple(dim for dim in var.dims if dim != RUN_DIM)
        dtype = np.dtype(var.dtype)
        attrs = {key: value for key, value in var.attrs.items() if key != "_FillValue"}
        specs[name] = (dims, tuple(sizes[dim] for dim in dims), dtype, fill_value(dtype), attrs)
    return specs


def _sweep_attrs(config: SweepConfig, template, stores, filled, dims=AXES) -> dict:
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
            "grid_dims": " ".join(dims),
            "missing_values": MISSING_VALUES,
            "nondeterministic_variables": " ".join(NONDETERMINISTIC_VARIABLES),
        }
    )
    return attrs


def _template(specs: dict, coords: dict, attrs: dict, data: dict | None = None):
    """The sweep store's Dataset and encoding: metadata, coordinates and data variables,
    from `data` (name -> full array) or, without it, empty (dask arrays of fill values, to be
    written with ``compute=False`` and filled by region writes)."""
    data_vars = {}
    encoding = {}
    for name, (dims, shape, dtype, fill, var_attrs) in specs.items():
        sizes = dict(zip(dims, shape, strict=True))
        storage_chunks = sweep_storage_chunks(dims, sizes, dtype.itemsize)
        if data is None:
            import dask.array as da

            # one dask chunk: never computed (compute=False writes only the metadata), and a
            # graph of one task per storage chunk would grow with the store (~4 kB a task)
            values = da.full(shape, fill, dtype=dtype, chunks=shape)
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


class _Blocks:
    """A partition of the grid (dims :data:`AXES`) into blocks, each written by one region
    write: hyper-rectangles aligned with the storage chunks of every variable (so no storage
    chunk is written twice), grown from the innermost dim (``seed``) outwards while the block's
    data stays within `budget` bytes. ``budget = inf`` gives one block (the whole grid)."""

    def __init__(self, specs: dict, grid_shape: tuple, budget: float, grid_dims: tuple = AXES):
        self.dims = grid_dims
        sizes = dict(zip(grid_dims, grid_shape, strict=True))
        unit = dict.fromkeys(grid_dims, 1)
        cell_bytes = 0
        for name, (dims, shape, dtype, _, _) in specs.items():
            if name in BATCH_SCALARS:
                continue
            dim_sizes = dict(zip(dims, shape, strict=True))
            storage_chunks = sweep_storage_chunks(dims, dim_sizes, dtype.itemsize)
            storage = dict(zip(dims, storage_chunks, strict=True))
            for dim in grid_dims:
                unit[dim] = math.lcm(unit[dim], storage[dim])
            cell_bytes += dtype.itemsize * math.prod(shape[len(grid_dims) :])
        unit = {dim: min(unit[dim], sizes[dim]) for dim in grid_dims}
        block = dict(unit)
        for dim in reversed(grid_dims):
            others = cell_bytes * math.prod(block[o] for o in grid_dims if o != dim)
            if others * sizes[dim] <= budget:
                block[dim] = sizes[dim]
                continue
            fit = int(budget // max(1, others)) // unit[dim] * unit[dim]
            block[dim] = max(unit[dim], min(fit, sizes[dim]))
            break
        self.sizes = tuple(sizes[dim] for dim in grid_dims)
        self.block = tuple(block[dim] for dim in grid_dims)
        self.counts = tuple(-(-n // b) for n, b in zip(self.sizes, self.block, strict=True))
        self.count = math.prod(self.counts)

    def of(self, pos: tuple) -> np.ndarray:
        """Block numbers of grid positions `pos` (one int array per dim of AXES)."""
        index = tuple(p // b for p, b in zip(pos, self.block, strict=True))
        return np.ravel_multi_index(index, self.counts)

    def bounds(self, number: int) -> tuple[tuple, tuple]:
        index = np.unravel_index(number, self.counts)
        lo = tuple(int(i) * b for i, b in zip(index, self.block, strict=True))
        hi = tuple(min(a + b, n) for a, b, n in zip(lo, self.block, self.sizes, strict=True))
        return lo, hi

    def region(self, number: int) -> dict:
        lo, hi = self.bounds(number)
        return {dim: slice(a, b) for dim, a, b in zip(self.dims, lo, hi, strict=True)}


def _positions(store: xr.Dataset, index: _GridIndex, where: str) -> tuple:
    return tuple(index.positions(axis, store[axis].values, where) for axis in index.dims)


def _survey(paths, config: SweepConfig, index: _GridIndex, identity, blocks, specs, allow_missing):
    """Pass 1, coordinates and batch scalars only, one chunk store open at a time: coverage (a
    run twice or missing is an error before anything is written), spectrum coordinates, the
    batch scalars (per (d, kappa, eta, r): small) and the chunk stores of each block."""
    axes, k_max, steps = config.grid.axes, config.grid.k_max, config.run.recorded_steps
    filled = np.zeros(index.shape, dtype=bool)
    spectrum_shape = (len(axes["d"]), len(axes["kappa"]), len(axes["r"]))
    spectrum_coords = {name: np.full(spectrum_shape, np.nan) for name in SPECTRUM_COORDS}
    lambda_k = np.full(spectrum_shape + (k_max,), np.nan)
    stores_of_block: dict[int, list[int]] = {}
    scalars = {
        name: np.full(shape, fill, dtype=dtype)
        for name, (_, shape, dtype, fill, _) in specs.items()
        if name in BATCH_SCALARS
    }
    for number, path in enumerate(paths):
        store = open_chunk_store(path, identity)
        if store.sizes.get("k") != k_max or not np.array_equal(store["step"].values, steps):
            raise ValueError(f"{path}: k or step dims differ from the config's")
        pos = _positions(store, index, str(path))
        if filled[pos].any() or len(set(zip(*pos, strict=True))) != len(pos[0]):
            raise ValueError(f"{path}: holds runs that another chunk store also holds")
        filled[pos] = True
        spec_pos = (pos[0], pos[1], pos[5])
        for name in SPECTRUM_COORDS:
            spectrum_coords[name][spec_pos] = store[name].values
        lambda_k[spec_pos] = store["lambda_k"].values
        for name, values in scalars.items():
            values[(pos[0], pos[1], pos[4], pos[5])] = store[name].values
        for block in np.unique(blocks.of(pos)):
            stores_of_block.setdefault(int(block), []).append(number)
    n_missing = int(filled.size - filled.sum())
    if n_missing and not allow_missing:
        first = tuple(int(i) for i in np.argwhere(~filled)[0])
        where = ", ".join(
            f"{axis}={index.values[axis][i]}" for axis, i in zip(index.dims, first, strict=True)
        )
        raise ValueError(
            f"assemble: {n_missing} of {filled.size} runs of the grid are missing "
            f"(e.g. {where}); pass all chunk stores or allow_missing=True"
        )
    return SimpleNamespace(
        filled=filled,
        spectrum_coords=spectrum_coords,
        lambda_k=lambda_k,
        stores_of_block=stores_of_block,
        scalars=scalars,
    )


class _ChunkReader:
    """The chunk stores of pass 2 with their grid positions, the last `capacity` kept open
    (blocks are visited in grid order, the order chunks hold their runs in)."""

    def __init__(self, paths: list, index: _GridIndex, identity: str, capacity: int = 16):
        self.paths, self.index, self.identity = paths, index, identity
        self.capacity = capacity
        self.open: OrderedDict = OrderedDict()

    def get(self, number: int) -> tuple:
        if number in self.open:
            self.open.move_to_end(number)
            return self.open[number]
        path = self.paths[number]
        store = open_chunk_store(path, self.identity)
        self.open[number] = (store, _positions(store, self.index, str(path)))
        if len(self.open) > self.capacity:
            self.open.popitem(last=False)
        return self.open[number]


def _fill_block(specs: dict, blocks: _Blocks, number: int, members, reader) -> dict:
    """The values of block `number` of every variable but the batch scalars (name -> array of
    the block's shape), from the chunk stores `members` (numbers of `reader`'s stores)."""
    lo, hi = blocks.bounds(number)
    shape = tuple(b - a for a, b in zip(lo, hi, strict=True))
    arrays = {
        name: np.full(shape + spec_shape[len(blocks.dims) :], fill, dtype=dtype)
        for name, (_, spec_shape, dtype, fill, _) in specs.items()
        if name not in BATCH_SCALARS
    }
    for member in members:
        store, pos = reader.get(member)
        inside = np.ones(pos[0].shape, dtype=bool)
        for p, a, b in zip(pos, lo, hi, strict=True):
            inside &= (p >= a) & (p < b)
        run_idx = np.flatnonzero(inside)
        if not run_idx.size:
            continue
        grid_pos = tuple(p[run_idx] for p in pos)
        local = tuple(p - a for p, a in zip(grid_pos, lo, strict=True))
        part = store.isel({RUN_DIM: run_idx})[list(arrays)].load()
        for name, values in arrays.items():
            values[local] = part[name].values
    return arrays


@dataclass(frozen=True)
class _BlockLayout:
    """What a block write needs besides its chunk stores (small; sent to Dask workers)."""

    store: str  # path of the sweep store being written
    specs: dict
    blocks: _Blocks
    index: _GridIndex
    identity: str


def _write_block(layout: _BlockLayout, number: int, members, reader) -> None:
    """Fill block `number` from the chunk stores `members` of `reader` and write it into the
    sweep store with a region write (its own storage chunks only)."""
    data = _fill_block(layout.specs, layout.blocks, number, members, reader)
    block = xr.Dataset({name: (layout.specs[name][0], values) for name, values in data.items()})
    region = layout.blocks.region(number)
    block.to_zarr(layout.store, region=region, zarr_format=ZARR_FORMAT, consolidated=False)


def _write_block_task(layout: _BlockLayout, number: int, paths: list) -> None:
    """:func:`_write_block` as a Dask task: `paths` are the block's chunk stores."""
    reader = _ChunkReader(paths, layout.index, layout.identity)
    _write_block(layout, number, range(len(paths)), reader)


def _write_blocks(layout: _BlockLayout, stores_of_block: dict, paths: list, workers, client):
    """Every block of `layout`: in order on this thread (``workers = 1``, no client), on
    `workers` threads, or as tasks of a Dask `client`. Blocks are disjoint and aligned with the
    storage chunks, so no storage chunk is written by two writers and the files are the same
    whatever the order."""
    numbers = range(layout.blocks.count)
    members = [stores_of_block.get(number, []) for number in numbers]
    if client is not None:
        futures = client.map(
            _write_block_task,
            [layout] * len(numbers),
            numbers,
            [[paths[i] for i in block] for block in members],
            pure=False,
        )
        client.gather(futures)  # raises the first task's exception
        return
    if workers == 1:
        reader = _ChunkReader(paths, layout.index, layout.identity)
        for number in numbers:
            _write_block(layout, number, members[number], reader)
        return
    local = threading.local()

    def write(number: int) -> None:
        if not hasattr(local, "reader"):
            local.reader = _ChunkReader(paths, layout.index, layout.identity)
        _write_block(layout, number, members[number], local.reader)

    with ThreadPoolExecutor(workers) as pool:
        # list(): re-raise the first exception of a block
        list(pool.map(write, numbers))
