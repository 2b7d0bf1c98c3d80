"""Chunk stores: the runs of one chunk along the dim ``run``, written atomically.

Layout (``results/<sweep>/chunks/<chunk_id>.zarr``): every variable of the batch Dataset with
``seed`` replaced by ``run``, ``k`` padded to the sweep's largest r, the batch scalars
(``t_star``, ``t_sharp``) repeated per run, and per-run coordinates ``d, kappa, varpi,
varpi_exponent, eta, r, seed`` (the grid position; ``kappa`` as requested, NaN for families
that fix it) plus ``log10_d, varpi_effective, kappa_realized, lambda_1, Delta, lambda_k``.
``d`` is int64 when every d of the chunk is below 2^53, else float64
(:func:`mfsim.store.layout.d_coordinate`; a chunk may hold several d and r values, see
:func:`mfsim.plan.grid.make_chunks`); ``log10_d`` is computed from the exact integers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim._version import __version__
from mfsim.config.problems import PROBLEM_LABEL_LENGTH, ProblemVariant
from mfsim.datamodel import RUN_DIM, SHARED_DIMS, fill_value
from mfsim.plan.chunk_plan import ChunkPlan
from mfsim.plan.grid import Batch
from mfsim.store.atomic import (
    IncompleteStoreError,
    atomic_store,
    read_marker,
    require_complete,
    store_problems,
)
from mfsim.store.layout import (
    d_coordinate,
    dataset_disk_bytes,
    log10_d_coordinate,
    plain_encoding,
    set_coord_attrs,
    to_zarr,
)

__all__ = [
    "batch_to_runs",
    "chunk_store_problems",
    "open_chunk_store",
    "runs_dataset",
    "write_chunk_store",
]


def _pad_k(values: np.ndarray, axis: int, k_max: int, fill) -> np.ndarray:
    missing = k_max - values.shape[axis]
    if missing <= 0:
        return values
    shape = list(values.shape)
    shape[axis] = missing
    return np.concatenate([values, np.full(shape, fill, dtype=values.dtype)], axis=axis)


def batch_to_runs(ds: xr.Dataset, batch: Batch, k_max: int, *, with_problem: bool = False) -> dict:
    """The runs of one batch Dataset: ``seed`` -> ``run``, ``k`` padded to `k_max`.

    With `with_problem` (a sweep that runs problems besides factorization) the runs also get
    the per-run coordinates ``problem``, ``measurements``, ``imbalance``
    (:data:`mfsim.datamodel.PROBLEM_COORD_ATTRS`).

    Returns a dict of plain arrays (``variables``, ``coords``, ``shared``, ``attrs``,
    ``n_runs``), cheap to send from a Dask worker.
    """
    n = ds.sizes["seed"]
    variables = {}
    for name, var in ds.data_vars.items():
        values = np.asarray(var.values)
        if var.dims == ():
            variables[name] = ((RUN_DIM,), np.full(n, values.item(), dtype=values.dtype), var.attrs)
            continue
        dims = tuple(RUN_DIM if dim == "seed" else dim for dim in var.dims)
        if "k" in dims:
            values = _pad_k(values, dims.index("k"), k_max, fill_value(values.dtype))
        variables[name] = (dims, values, var.attrs)
    point = batch.point
    coords = {
        "d": np.repeat(d_coordinate([point.d]), n),
        "log10_d": np.repeat(log10_d_coordinate([point.d]), n),
        "kappa": np.full(n, np.nan if point.kappa is None else point.kappa, dtype=np.float64),
        "varpi": np.full(n, point.varpi, dtype=np.float64),
        "varpi_exponent": np.full(n, point.varpi_exponent, dtype=np.float64),
        "eta": np.full(n, point.eta, dtype=np.float64),
        "r": np.full(n, point.r, dtype=np.int64),
        "seed": np.asarray(ds["seed"].values, dtype=np.int64),
        "varpi_effective": np.full(n, float(ds["varpi_effective"]), dtype=np.float64),
        "kappa_realized": np.full(n, float(ds["kappa_realized"]), dtype=np.float64),
        "lambda_1": np.full(n, float(ds["lambda_1"]), dtype=np.float64),
        "Delta": np.full(n, float(ds["Delta"]), dtype=np.float64),
        "lambda_k": np.broadcast_to(
            _pad_k(np.asarray(ds["lambda_k"].values, np.float64), 0, k_max, np.nan), (n, k_max)
        ).copy(),
    }
    if with_problem:
        coords.update(problem_run_coords(point, n))
    shared = {name: np.asarray(ds[name].values) for name in SHARED_DIMS}
    attrs = {key: value for key, value in ds.attrs.items() if key != "spectrum_params"}
    return {"variables": variables, "coords": coords, "shared": shared, "attrs": attrs, "n_runs": n}


def problem_run_coords(point, n: int) -> dict:
    """The per-run problem coordinates of `n` runs of grid point `point`."""
    variant = ProblemVariant(0, point.problem, point.measurements, point.imbalance)
    label = variant.label(point.measurements_unit or "ratio")
    return {
        "problem": np.full(n, label, dtype=f"<U{PROBLEM_LABEL_LENGTH}"),
        "measurements": np.full(n, np.nan if point.measurements is None else point.measurements),
        "imbalance": np.full(n, np.nan if point.imbalance is None else point.imbalance),
    }


def runs_dataset(parts: Sequence[dict], plan: ChunkPlan) -> xr.Dataset:
    """Concatenate the runs of the batches of a chunk (canonical order) into one Dataset."""
    first = parts[0]
    data_vars = {}
    for name, (dims, _, attrs) in first["variables"].items():
        values = np.concatenate([part["variables"][name][1] for part in parts], axis=0)
        data_vars[name] = xr.Variable(dims, values, attrs)
    coords = {
        name: (
            (RUN_DIM,) if name != "lambda_k" else (RUN_DIM, "k"),
            np.concatenate([part["coords"][name] for part in parts], axis=0),
        )
        for name in first["coords"]
    }
    # d of the chunk's d values together (a batch alone could pick int64 where another batch
    # of the same chunk needs float64)
    d_values = [
        batch.point.d
        for batch, part in zip(plan.chunk.batches, parts, strict=True)
        for _ in range(part["n_runs"])
    ]
    coords["d"] = ((RUN_DIM,), d_coordinate(d_values))
    coords.update({name: (name, values) for name, values in first["shared"].items()})
    coords["k"] = ("k", np.arange(1, plan.k_max + 1, dtype=np.int64))
    ds = xr.Dataset(data_vars, coords=coords)
    set_coord_attrs(ds)
    ds.attrs.update(first["attrs"])
    ds.attrs.update(
        {
            "mfsim_store": "chunk",
            "mfsim_chunk_id": plan.chunk_id,
            "mfsim_batch_keys": json.dumps([batch.key for batch in plan.chunk.batches]),
            "mfsim_run_identity": plan.identity_hash,
            "mfsim_version": __version__,
            "sweep": plan.sweep,
        }
    )
    return ds


def _run_storage_chunks(var: xr.Variable, plan: ChunkPlan) -> tuple[int, ...]:
    """One storage chunk per batch along ``run`` (all other dims whole)."""
    per_batch = max(batch.n_runs for batch in plan.chunk.batches)
    return tuple(per_batch if dim == RUN_DIM else size for dim, size in var.sizes.items())


def write_chunk_store(parts: Sequence[dict], plan: ChunkPlan, out_path) -> Path:
    """Write the runs of a chunk (results of :func:`batch_to_runs`, canonical order) as a
    complete chunk store at `out_path`, atomically (:func:`mfsim.store.atomic.atomic_store`)."""
    ds = runs_dataset(parts, plan)
    info = {
        "kind": "chunk",
        "chunk_id": plan.chunk_id,
        "n_runs": plan.chunk.n_runs,
        "run_identity": plan.identity_hash,
        "mfsim_version": __version__,
    }
    encoding = plain_encoding(ds)
    for name, var in ds.data_vars.items():
        encoding.setdefault(name, {})["chunks"] = _run_storage_chunks(var, plan)
    with atomic_store(out_path, info, estimate_bytes=dataset_disk_bytes(ds, encoding)) as tmp:
        to_zarr(ds, tmp, encoding=encoding)
    return Path(out_path)


def chunk_store_problems(path: str | os.PathLike, plan: ChunkPlan) -> list[str]:
    """Why the store at `path` cannot be reused as the chunk of `plan` (empty: it can).

    Not complete (:func:`mfsim.store.atomic.store_problems`: no marker, files missing or of
    another size than the marker lists), a marker of another chunk, run count or run settings,
    or (markers of older versions, without a file list) content that cannot be opened or holds
    another number of runs.
    """
    problems = store_problems(path)
    if problems:
        return problems
    marker = read_marker(path)
    expected = {
        "chunk_id": plan.chunk_id,
        "n_runs": plan.chunk.n_runs,
        "run_identity": plan.identity_hash,
    }
    problems = [
        f"its marker says {key} = {marker[key]!r}, the plan {value!r}"
        for key, value in expected.items()
        if key in marker and marker[key] != value
    ]
    if problems or "files" in marker:
        return problems
    try:
        n_runs = xr.open_zarr(path, consolidated=True, chunks=None).sizes.get(RUN_DIM)
    except Exception as error:  # any unreadable store is recomputed
        return [f"it cannot be opened ({type(error).__name__}: {error})"]
    if n_runs != plan.chunk.n_runs:
        return [f"it holds {n_runs} runs, the plan {plan.chunk.n_runs}"]
    return []


_REMEDY = "delete it and rerun its chunk (the same command recomputes it)"


def open_chunk_store(path: str | os.PathLike, identity: str) -> xr.Dataset:
    """Open a complete chunk store of the run settings `identity` (lazily).

    Raises
    ------
    IncompleteStoreError
        Missing store, no completion marker, files that differ from the marker's list, or not
        an mfsim chunk store.
    ValueError
        A chunk store of other run settings.
    """
    path = Path(path)
    if not path.is_dir():
        raise IncompleteStoreError(f"{path}: chunk store does not exist")
    require_complete(path, "chunk store", _REMEDY)
    ds = xr.open_zarr(path, consolidated=True, chunks=None)
    if ds.attrs.get("mfsim_store") != "chunk":
        raise IncompleteStoreError(f"{path}: not an mfsim chunk store")
    if ds.attrs.get("mfsim_run_identity") != identity:
        raise ValueError(
            f"{path}: chunk store of other run settings (spectrum or run section "
            "differ from the config); rerun the sweep"
        )
    return ds
