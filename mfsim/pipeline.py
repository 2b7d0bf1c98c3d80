"""Sweeps: run chunks of batches on Dask, write chunk stores atomically, assemble ``sweep.zarr``.

Flow (``docs/design.md``): a validated config expands into batches (one ``mfsim.simulate`` call
each) packed into chunks (one Snakemake job each, :mod:`mfsim.grid`). :func:`run_chunk` runs the
batches of one chunk as Dask tasks and writes a *chunk store*; :func:`assemble` combines the chunk
stores into the *sweep store*; :func:`sweep` does both without Snakemake.

Chunk store (``results/<sweep>/chunks/<chunk_id>.zarr``)
    The runs of the chunk, one after the other along a ``run`` dim, in canonical batch order:
    every variable of the batch Dataset with ``seed`` replaced by ``run``, ``k`` padded to the
    config's largest r, the batch scalars (``t_star``, ``t_sharp``) repeated per run, and per-run
    coordinates ``d, kappa, varpi, varpi_exponent, eta, r, seed`` (the grid position) plus
    ``varpi_effective, kappa_realized, lambda_1, Delta, lambda_k``.

Sweep store (``results/<sweep>/sweep.zarr``)
    Dense over the grid dims :data:`~mfsim.plan.grid.AXES` ``(d, kappa, varpi, varpi_exponent, eta,
    r, seed)`` followed by the variable's own dims (``k``, ``step``, ``eps``, ``heatmap_step``,
    ``row``, ``col``). A cell without a run holds NaN (floats), -1 (``status``, ``in_S``,
    ``in_R``) or False (``t_k_star_bound_dominated``).

Both stores are written atomically: into ``<out>.tmp-<uuid>``, then the completion marker
:data:`MARKER` is written inside, then the directory is renamed into place. A store without the
marker is never read.

Determinism: every run is computed by exactly one ``mfsim.simulate`` call whatever the chunking
and the number of workers, and assembling only copies values, so all data variables except
:data:`NONDETERMINISTIC_VARIABLES` (``wall_time``) are bit-identical across chunk sizes, worker
counts and reruns.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from mfsim import __version__
from mfsim.config.validate import ConfigError, load_config, read_eigenvalues_file
from mfsim.engine.dataset import VARIABLE_ATTRS
from mfsim.plan.grid import (
    AXES,
    Batch,
    Chunk,
    GridPoint,
    check_free_space,
    content_hash,
    grid_axes,
    make_chunks,
    recorded_steps,
    run_identity,
)

__all__ = [
    "MARKER",
    "NONDETERMINISTIC_VARIABLES",
    "GRID_DIMS",
    "IncompleteStoreError",
    "assemble",
    "chunk_store_path",
    "cluster_client",
    "is_complete",
    "run_chunk",
    "slurm_cluster_kwargs",
    "sweep",
    "sweep_to",
]

#: Completion marker: a JSON file written inside a store after all its data, before the rename.
MARKER = ".mfsim-complete"
#: Zarr format of both stores (format 2: stable consolidated metadata, read by every zarr).
ZARR_FORMAT = 2
#: Data variables that legitimately differ between reruns (timings).
NONDETERMINISTIC_VARIABLES = ("wall_time",)
#: Grid dims of the sweep store, in order (the seed dim follows them).
GRID_DIMS = tuple(axis for axis in AXES if axis != "seed")
#: Thread-count environment variables pinned in Dask workers.
THREAD_ENV_VARS = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)
#: Target size of a Zarr chunk of the sweep store (bytes); chunks hold whole seeds x steps blocks.
TARGET_CHUNK_BYTES = 2**20
#: :func:`sweep` keeps at most this many batches per worker submitted ahead of the chunk it
#: writes (bounds the results held in memory).
SUBMIT_AHEAD_PER_WORKER = 8
#: A grid point larger than this is split along ``seed`` into Zarr chunks of about half of it.
MAX_CHUNK_BYTES = 64 * 2**20

_RUN = "run"
_BATCH_SCALARS = ("t_star", "t_sharp")
#: Per-run coordinates of a chunk store besides the grid position.
_RUN_COORDS = ("varpi_effective", "kappa_realized", "lambda_1", "Delta")
#: Coordinates of the sweep store that depend on the spectrum only: dims (d, kappa, r).
_SPECTRUM_COORDS = ("kappa_realized", "lambda_1", "Delta")

_COORD_ATTRS = {
    "d": ("dimension d", "1", "Sigma is d x d, X is d x r"),
    "kappa": (
        "condition number kappa (requested)",
        "1",
        "grid value of lambda_1 / Delta; for families that fix kappa (figure1, custom) "
        "the realized value when it is the same at every grid point, else NaN",
    ),
    "varpi": ("initialization scale c", "1", "varpi_effective = c d^-varpi_exponent"),
    "varpi_exponent": (
        "initialization exponent a",
        "1",
        "varpi_effective = varpi d^-a; a = 0 is large initialization",
    ),
    "eta": ("step size eta", "1", "GD step size"),
    "r": ("rank r", "1", "X is d x r"),
    "seed": ("seed", "1", "run seed; X_0 depends on (seed, d, r) only"),
    "k": ("signal index k", "1", "1..max r; entries with k > r are NaN"),
    "step": ("step", "steps", "recorded GD steps (shared by all runs)"),
    "eps": ("accuracy level", "1", "epsilon of t_eps"),
    "heatmap_step": ("heat-map step", "steps", "steps at which top_gram is kept"),
    "row": ("row", "1", "row index of the top 3x3 block of X X^T"),
    "col": ("column", "1", "column index of the top 3x3 block of X X^T"),
    "varpi_effective": ("varpi", "1", "initialization scale of X_0 = varpi_effective N_0"),
    "kappa_realized": ("condition number", "1", "lambda_1 / Delta of the spectrum (section 4.1)"),
    "lambda_1": ("lambda_1", "1", "top eigenvalue of Sigma"),
    "Delta": ("eigengap", "1", "min_{i<=r}(lambda_i - lambda_{i+1})"),
    "lambda_k": ("lambda_k", "1", "top r eigenvalues of Sigma; NaN for k > r"),
}

logger = logging.getLogger(__name__)


class IncompleteStoreError(RuntimeError):
    """A store that lacks the completion marker (an interrupted or foreign write)."""


# --------------------------------------------------------------------------------------------
# configuration helpers


def _validated(config) -> dict:
    """A validated config with defaults (paths and raw dicts are loaded and checked)."""
    if isinstance(config, Mapping) and "sweep" not in config:
        config = {"sweep": "interactive", **config}
    return load_config(config, results_root=None)


def _spectrum_args(config: dict) -> tuple[str, dict]:
    """The spectrum family and its keyword parameters for :func:`mfsim.spectrum`."""
    spectrum = config["spectrum"]
    family = spectrum["family"]
    if family == "linear":
        params = {
            "lambda_1": float(spectrum["lambda_1"]),
            "bulk_bottom": float(spectrum["bulk_bottom"]),
        }
    elif family == "flat":
        params = {"lambda_1": float(spectrum["lambda_1"])}
    elif family == "custom":
        params = {"eigenvalues": read_eigenvalues_file(spectrum["eigenvalues_file"])}
    else:
        params = {}
    return family, params


def _run_kwargs(config: dict) -> dict:
    """Keyword arguments of :func:`mfsim.simulate` from the ``run`` section."""
    run = config["run"]
    return {
        "steps": int(run["steps"]),
        # the explicit grid of mfsim.grid, so the step coordinate is a function of the config
        "record": recorded_steps(run),
        "epsilons": tuple(float(e) for e in run["epsilons"]),
        "stop_error": float(run["stop_error"]),
        "learned_tolerance": float(run["learned_tolerance"]),
        "heatmap_steps": tuple(int(s) for s in run["heatmap_steps"]),
        "dtype": run["dtype"],
    }


def _identity_hash(config: dict) -> str:
    return content_hash(run_identity(config), 16)


def chunk_store_path(sweep_dir: str | os.PathLike, chunk: Chunk | str) -> Path:
    """``<sweep_dir>/chunks/<chunk_id>.zarr`` (the layout of the Snakemake workflow)."""
    chunk_id = chunk if isinstance(chunk, str) else chunk.chunk_id
    return Path(sweep_dir) / "chunks" / f"{chunk_id}.zarr"


def is_complete(path: str | os.PathLike) -> bool:
    """Whether `path` is a store whose completion marker is present."""
    return (Path(path) / MARKER).is_file()


# --------------------------------------------------------------------------------------------
# one batch (runs in a Dask worker or in-process)


def _pin_numba_threads(threads: int | None) -> None:
    """Use at most `threads` numba threads in the calling thread (``set_num_threads`` is
    thread-local). Before numba's pool starts, re-read ``NUMBA_NUM_THREADS`` from the environment
    (a Dask nanny sets it after the worker process may already have imported numba)."""
    import numba
    from numba.np.ufunc import parallel

    if not getattr(parallel, "_is_initialized", True):
        numba.core.config.reload_config()
    if threads is None:
        try:
            from distributed import get_worker

            threads = get_worker().state.nthreads
        except ValueError:  # not in a worker
            return
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _run_batch(
    batch: Batch,
    family: str,
    params: dict,
    run_kwargs: dict,
    k_max: int,
    threads: int | None = None,
) -> dict:
    """Run one batch; return its runs as a dict of arrays in chunk-store layout."""
    from mfsim.engine.simulation import simulate
    from mfsim.spectra import spectrum

    _pin_numba_threads(threads)
    point = batch.point
    spec = spectrum(family, point.d, r=point.r, kappa=point.kappa, **params)
    ds = simulate(spec, eta=point.eta, varpi=point.varpi_effective, seeds=batch.seeds, **run_kwargs)
    return _batch_to_runs(ds, batch, k_max)


def _pad_k(values: np.ndarray, axis: int, k_max: int, fill) -> np.ndarray:
    missing = k_max - values.shape[axis]
    if missing <= 0:
        return values
    shape = list(values.shape)
    shape[axis] = missing
    return np.concatenate([values, np.full(shape, fill, dtype=values.dtype)], axis=axis)


def _fill_value(dtype: np.dtype):
    if dtype == np.bool_:
        return False
    if np.issubdtype(dtype, np.integer):
        return -1
    return np.nan


def _batch_to_runs(ds: xr.Dataset, batch: Batch, k_max: int) -> dict:
    """The runs of one batch Dataset: ``seed`` -> ``run``, ``k`` padded to `k_max`."""
    n = ds.sizes["seed"]
    variables = {}
    for name, var in ds.data_vars.items():
        values = np.asarray(var.values)
        if var.dims == ():
            variables[name] = ((_RUN,), np.full(n, values.item(), dtype=values.dtype), var.attrs)
            continue
        dims = tuple(_RUN if dim == "seed" else dim for dim in var.dims)
        if "k" in dims:
            values = _pad_k(values, dims.index("k"), k_max, _fill_value(values.dtype))
        variables[name] = (dims, values, var.attrs)
    point = batch.point
    coords = {
        "d": np.full(n, point.d, dtype=np.int64),
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
    shared = {
        name: np.asarray(ds[name].values) for name in ("step", "eps", "heatmap_step", "row", "col")
    }
    attrs = {key: value for key, value in ds.attrs.items() if key != "spectrum_params"}
    return {"variables": variables, "coords": coords, "shared": shared, "attrs": attrs, "n_runs": n}


def _runs_dataset(parts: Sequence[dict], chunk: Chunk, config: dict, k_max: int) -> xr.Dataset:
    """Concatenate the runs of the batches of a chunk (canonical order) into one Dataset."""
    first = parts[0]
    data_vars = {}
    for name, (dims, _, attrs) in first["variables"].items():
        values = np.concatenate([part["variables"][name][1] for part in parts], axis=0)
        data_vars[name] = xr.Variable(dims, values, attrs)
    coords = {
        name: (
            (_RUN,) if name != "lambda_k" else (_RUN, "k"),
            np.concatenate([part["coords"][name] for part in parts], axis=0),
        )
        for name in first["coords"]
    }
    coords.update({name: (name, values) for name, values in first["shared"].items()})
    coords["k"] = ("k", np.arange(1, k_max + 1, dtype=np.int64))
    ds = xr.Dataset(data_vars, coords=coords)
    _set_coord_attrs(ds)
    ds.attrs.update(first["attrs"])
    ds.attrs.update(
        {
            "mfsim_store": "chunk",
            "mfsim_chunk_id": chunk.chunk_id,
            "mfsim_batch_keys": json.dumps([batch.key for batch in chunk.batches]),
            "mfsim_run_identity": _identity_hash(config),
            "mfsim_version": __version__,
            "sweep": config["sweep"],
        }
    )
    return ds


def _set_coord_attrs(ds: xr.Dataset) -> None:
    for name, (long_name, units, description) in _COORD_ATTRS.items():
        if name in ds.variables:
            ds[name].attrs.update(
                {"long_name": long_name, "units": units, "description": description}
            )


# --------------------------------------------------------------------------------------------
# progress


class _Progress:
    """One line per completed batch: runs done / total, runs/s, ETA."""

    def __init__(self, log, chunk: Chunk):
        self.log = log
        self.label = chunk.chunk_id
        self.total = chunk.n_runs
        self.n_batches = len(chunk.batches)
        self.done_runs = 0
        self.done_batches = 0
        self.started = time.perf_counter()

    def _emit(self, message: str) -> None:
        if self.log is None:
            return
        if isinstance(self.log, logging.Logger):
            self.log.info(message)
        else:
            self.log.write(message + "\n")
            with contextlib.suppress(AttributeError, ValueError, OSError):
                self.log.flush()

    def start(self) -> None:
        self._emit(f"chunk {self.label}: {self.n_batches} batches, {self.total} runs")

    def batch_done(self, batch: Batch) -> None:
        self.done_runs += batch.n_runs
        self.done_batches += 1
        elapsed = time.perf_counter() - self.started
        rate = self.done_runs / elapsed if elapsed > 0 else float("inf")
        eta = (self.total - self.done_runs) / rate if rate > 0 else float("nan")
        self._emit(
            f"chunk {self.label}: batch {self.done_batches}/{self.n_batches} "
            f"runs {self.done_runs}/{self.total} ({100 * self.done_runs / self.total:.0f}%) "
            f"{rate:.3g} runs/s ETA {eta:.1f} s"
        )

    def finished(self, path: Path) -> None:
        elapsed = time.perf_counter() - self.started
        self._emit(f"chunk {self.label}: wrote {path} ({self.total} runs in {elapsed:.2f} s)")


@contextlib.contextmanager
def _open_log(log):
    """Accept a Logger, a file-like object, a path or None."""
    if isinstance(log, str | os.PathLike):
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as stream:
            yield stream
    else:
        yield log


# --------------------------------------------------------------------------------------------
# atomic store writes


def _remove_stale_temporaries(out: Path) -> None:
    for stale in out.parent.glob(f"{out.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _write_marker(store: Path, info: dict) -> None:
    path = store / MARKER
    with open(path, "w", encoding="utf-8") as stream:
        json.dump({"complete": 1, **info}, stream, sort_keys=True)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _atomic_store(out_path: str | os.PathLike, info: dict):
    """Yield a temporary path to write a store into; on success write the marker and rename
    the store to `out_path` (replacing an existing one); on failure remove it."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)
    tmp = out.with_name(f"{out.name}.tmp-{uuid.uuid4().hex}")
    try:
        yield tmp
        _write_marker(tmp, info)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _to_zarr(ds: xr.Dataset, path: Path, **kwargs):
    return ds.to_zarr(path, mode="w-", zarr_format=ZARR_FORMAT, consolidated=True, **kwargs)


def _plain_encoding(ds: xr.Dataset) -> dict:
    """No ``_FillValue`` masking for ints and bools (their -1/False are data, not missing)."""
    return {
        name: {"_FillValue": None} for name, var in ds.variables.items() if var.dtype.kind in "iub"
    }


# --------------------------------------------------------------------------------------------
# run_chunk


def _submit(chunk: Chunk, config: dict, client, threads: int | None):
    """Start the batches of `chunk`; return ``(batch, handle)`` pairs in canonical order.

    With a client the handles are Dask futures with deterministic keys (batch key + chunk id,
    the latter covering the run settings); without one they are ``None`` (run on collect).
    """
    family, params = _spectrum_args(config)
    run_kwargs = _run_kwargs(config)
    k_max = max(grid_axes(config)["r"])
    args = (family, params, run_kwargs, k_max)
    if client is None:
        return [(batch, None) for batch in chunk.batches], args
    futures = [
        client.submit(_run_batch, batch, *args, key=f"mfsim-batch-{batch.key}-{chunk.chunk_id}")
        for batch in chunk.batches
    ]
    return list(zip(chunk.batches, futures, strict=True)), args


def _collect(pending, args, client, threads, progress: _Progress) -> list[dict]:
    """Results in canonical order; progress is reported in completion order."""
    if client is None:
        results = []
        for batch, _ in pending:
            results.append(_run_batch(batch, *args, threads=threads))
            progress.batch_done(batch)
        return results
    from distributed import as_completed

    futures = [future for _, future in pending]
    by_key = {future.key: batch for batch, future in pending}
    try:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the task's exception
            progress.batch_done(by_key[future.key])
        return client.gather(futures)
    finally:
        client.cancel([future for future in futures if not future.done()])


def run_chunk(
    chunk: Chunk | str,
    config,
    out_path: str | os.PathLike,
    client=None,
    log=None,
    *,
    threads: int | None = None,
) -> Path:
    """Run the batches of one chunk and write its chunk store atomically.

    Parameters
    ----------
    chunk : mfsim.plan.grid.Chunk or str
        The chunk, or its ``chunk_id`` (looked up in ``make_chunks(config)``).
    config : dict or path
        Sweep config (validated here; defaults injected).
    out_path : path
        The chunk store to write (``results/<sweep>/chunks/<chunk_id>.zarr``).
    client : distributed.Client, optional
        Run every batch as a Dask task on this client (``client.submit`` with the deterministic
        key ``mfsim-batch-<batch key>-<chunk id>``). Without a client the batches run
        in-process, one after the other, on `threads` numba threads.
    log : logging.Logger, file-like or path, optional
        Receives a progress line per completed batch (runs done / total, runs/s, ETA).
    threads : int, optional
        Numba threads for in-process runs (default: numba's setting). Workers use their own
        thread count.

    Returns
    -------
    pathlib.Path
        `out_path`, a complete store (:data:`MARKER` present).

    Notes
    -----
    Diverged runs are data (``status``), never failed tasks; an exception of a batch (a bug or
    an impossible spectrum) fails the chunk and leaves no store at `out_path`.
    """
    config = _validated(config)
    if isinstance(chunk, str):
        chunk = _find_chunk(config, chunk)
    pending, args = _submit(chunk, config, client, threads)
    return _write_chunk(chunk, config, out_path, pending, args, client, threads, log)


def _find_chunk(config: dict, chunk_id: str) -> Chunk:
    for chunk in make_chunks(config):
        if chunk.chunk_id == chunk_id:
            return chunk
    raise ConfigError(f"chunk {chunk_id!r} is not a chunk of sweep {config['sweep']!r}")


def _write_chunk(chunk, config, out_path, pending, args, client, threads, log) -> Path:
    with _open_log(log) as stream:
        progress = _Progress(stream, chunk)
        progress.start()
        results = _collect(pending, args, client, threads, progress)
        ds = _runs_dataset(results, chunk, config, args[3])
        info = {
            "kind": "chunk",
            "chunk_id": chunk.chunk_id,
            "n_runs": chunk.n_runs,
            "mfsim_version": __version__,
        }
        with _atomic_store(out_path, info) as tmp:
            encoding = _plain_encoding(ds)
            for name, var in ds.data_vars.items():
                encoding.setdefault(name, {})["chunks"] = _chunk_store_chunks(var, chunk)
            _to_zarr(ds, tmp, encoding=encoding)
        progress.finished(Path(out_path))
    return Path(out_path)


def _chunk_store_chunks(var: xr.Variable, chunk: Chunk) -> tuple[int, ...]:
    """One Zarr chunk per batch along ``run`` (all other dims whole)."""
    per_batch = max(batch.n_runs for batch in chunk.batches)
    return tuple(per_batch if dim == _RUN else size for dim, size in var.sizes.items())


# --------------------------------------------------------------------------------------------
# assemble


class _GridIndex:
    """Positions of grid values along each grid axis (exact float matching)."""

    def __init__(self, axes: dict):
        self.values = {}
        for axis in AXES:
            vals = axes[axis]
            if axis == "kappa":
                vals = [np.nan if v is None else v for v in vals]
            dtype = np.int64 if axis in ("d", "r", "seed") else np.float64
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


def _kappa_coordinate(config: dict, axes: dict) -> np.ndarray:
    """The kappa grid values; for families that fix kappa the common realized value (or NaN)."""
    if axes["kappa"] != [None]:
        return np.asarray(axes["kappa"], dtype=np.float64)
    from mfsim.spectra import spectrum

    family, params = _spectrum_args(config)
    realized = {spectrum(family, d, r=r, **params).kappa for d in axes["d"] for r in axes["r"]}
    # 12 significant digits, like range values of mfsim.grid: figure1 gives 5.0, not 5.000...1
    value = float(f"{realized.pop():.12g}") if len(realized) == 1 else np.nan
    return np.array([value])


def _zarr_chunks(dims: tuple, sizes: dict, itemsize: int) -> tuple[int, ...]:
    """Zarr chunks of a sweep-store variable: one d, all seeds and trailing dims of a grid
    point, grown along the inner grid dims until about :data:`TARGET_CHUNK_BYTES`."""
    chunks = {dim: sizes[dim] for dim in dims}
    grid_dims = [dim for dim in dims if dim in GRID_DIMS]
    for dim in grid_dims:
        chunks[dim] = 1
    point_bytes = itemsize * math.prod(chunks[dim] for dim in dims)
    if "seed" in chunks and point_bytes > MAX_CHUNK_BYTES:
        per_seed = point_bytes // max(1, chunks["seed"])
        chunks["seed"] = max(1, (MAX_CHUNK_BYTES // 2) // max(1, per_seed))
        return tuple(chunks[dim] for dim in dims)
    current = point_bytes
    for dim in reversed(grid_dims):
        if dim == "d" or current >= TARGET_CHUNK_BYTES:
            break
        grow = min(sizes[dim], math.ceil(TARGET_CHUNK_BYTES / current))
        chunks[dim] = grow
        current *= grow
    return tuple(chunks[dim] for dim in dims)


def _git_commit() -> tuple[str, bool | None]:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return commit, bool(dirty.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def _open_chunk_store(path: Path, identity: str) -> xr.Dataset:
    if not path.is_dir():
        raise IncompleteStoreError(f"{path}: chunk store does not exist")
    if not is_complete(path):
        raise IncompleteStoreError(
            f"{path}: not a complete chunk store (no {MARKER} marker; the job that wrote it was "
            "interrupted or it is not an mfsim store); delete it and rerun its chunk"
        )
    ds = xr.open_zarr(path, consolidated=True, chunks=None)
    if ds.attrs.get("mfsim_store") != "chunk":
        raise IncompleteStoreError(f"{path}: not an mfsim chunk store")
    if ds.attrs.get("mfsim_run_identity") != identity:
        raise ValueError(
            f"{path}: chunk store of other run settings (spectrum or run section "
            "differ from the config); rerun the sweep"
        )
    return ds


def assemble(
    chunk_paths: Iterable[str | os.PathLike],
    config,
    out_path: str | os.PathLike,
    *,
    allow_missing: bool = False,
) -> Path:
    """Combine complete chunk stores into the sweep store, written atomically.

    Parameters
    ----------
    chunk_paths : iterable of path
        Chunk stores written by :func:`run_chunk` for this config.
    config : dict or path
        The sweep config (validated here).
    out_path : path
        The sweep store (``results/<sweep>/sweep.zarr``).
    allow_missing : bool, default False
        Accept grid cells without a run (NaN / -1 / False there). By default every run of the
        grid must be present exactly once.

    Returns
    -------
    pathlib.Path
        `out_path`.

    Raises
    ------
    IncompleteStoreError
        A chunk store without the completion marker (the message names it).
    ValueError
        A store of another config, a run present twice, or missing runs (unless
        `allow_missing`).

    Notes
    -----
    Layout: dims ``(d, kappa, varpi, varpi_exponent, eta, r, seed)`` then the variable's own
    dims; ``t_star``/``t_sharp`` on ``(d, kappa, eta, r)``; coordinates ``varpi_effective``
    ``(d, varpi, varpi_exponent)``, ``kappa_realized``, ``lambda_1``, ``Delta`` ``(d, kappa, r)``
    and ``lambda_k`` ``(d, kappa, r, k)``. Zarr chunks hold one ``d`` and all seeds and steps of
    one or more grid points (about 1 MB or more). The store is written one ``d`` value at a
    time, so memory holds one d-slice of the sweep.
    """
    config = _validated(config)
    axes = grid_axes(config)
    index = _GridIndex(axes)
    identity = _identity_hash(config)
    k_max = max(axes["r"])
    paths = [Path(p) for p in chunk_paths]
    stores = [_open_chunk_store(path, identity) for path in paths]
    if not stores:
        raise ValueError("assemble: no chunk stores given")
    template = stores[0]

    steps = recorded_steps(config["run"])
    if not np.array_equal(template["step"].values, steps):
        raise ValueError(f"{paths[0]}: recorded steps differ from the config's")

    # pass 1: grid positions of every run, spectrum coordinates, coverage
    filled = np.zeros(index.shape, dtype=bool)
    spectrum_shape = (len(axes["d"]), len(axes["kappa"]), len(axes["r"]))
    spectrum_coords = {name: np.full(spectrum_shape, np.nan) for name in _SPECTRUM_COORDS}
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
        for name in _SPECTRUM_COORDS:
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

    coords = _sweep_coords(config, axes, index, template, spectrum_coords, lambda_k)
    specs = _variable_specs(template, axes, k_max)
    info = {
        "kind": "sweep",
        "sweep": config["sweep"],
        "n_chunks": len(stores),
        "n_runs": int(filled.sum()),
        "mfsim_version": __version__,
    }
    with _atomic_store(out_path, info) as tmp:
        _write_template(tmp, specs, coords, _sweep_attrs(config, template, stores, filled))
        by_d: dict[int, list[int]] = {}
        for number, pos in enumerate(positions):
            for i_d in np.unique(pos[0]):
                by_d.setdefault(int(i_d), []).append(number)
        for i_d in range(len(axes["d"])):
            slab = _slab(specs, [(stores[n], positions[n]) for n in by_d.get(i_d, [])], i_d)
            slab.to_zarr(
                tmp, region={"d": slice(i_d, i_d + 1)}, zarr_format=ZARR_FORMAT, consolidated=False
            )
        _reconsolidate(tmp)
    return Path(out_path)


def _reconsolidate(path: Path) -> None:
    import zarr

    zarr.consolidate_metadata(str(path), zarr_format=ZARR_FORMAT)


def _sweep_coords(config, axes, index, template, spectrum_coords, lambda_k) -> dict:
    coords = {axis: (axis, index.values[axis]) for axis in AXES}
    coords["kappa"] = ("kappa", _kappa_coordinate(config, axes))
    for name in ("k", "step", "eps", "heatmap_step", "row", "col"):
        coords[name] = (name, np.asarray(template[name].values))
    varpi_eff = np.empty((len(axes["d"]), len(axes["varpi"]), len(axes["varpi_exponent"])))
    for i, d in enumerate(axes["d"]):
        for j, c in enumerate(axes["varpi"]):
            for m, a in enumerate(axes["varpi_exponent"]):
                point = GridPoint(d=d, r=1, kappa=None, varpi=c, varpi_exponent=a, eta=1.0)
                varpi_eff[i, j, m] = point.varpi_effective
    coords["varpi_effective"] = (("d", "varpi", "varpi_exponent"), varpi_eff)
    for name, values in spectrum_coords.items():
        coords[name] = (("d", "kappa", "r"), values)
    coords["lambda_k"] = (("d", "kappa", "r", "k"), lambda_k)
    return coords


def _variable_specs(template: xr.Dataset, axes: dict, k_max: int) -> dict:
    """name -> (dims, shape, dtype, fill, attrs) of every data variable of the sweep store."""
    sizes = {axis: len(axes[axis]) for axis in AXES}
    sizes.update(
        {dim: template.sizes[dim] for dim in ("k", "step", "eps", "heatmap_step", "row", "col")}
    )
    specs = {}
    order = {name: i for i, name in enumerate(VARIABLE_ATTRS)}
    names = sorted(template.data_vars, key=lambda name: (order.get(name, len(order)), name))
    for name in names:
        var = template[name]
        if name in _BATCH_SCALARS:
            dims = ("d", "kappa", "eta", "r")
        else:
            dims = AXES + tuple(dim for dim in var.dims if dim != _RUN)
        dtype = np.dtype(var.dtype)
        attrs = {key: value for key, value in var.attrs.items() if key != "_FillValue"}
        specs[name] = (dims, tuple(sizes[dim] for dim in dims), dtype, _fill_value(dtype), attrs)
    return specs


def _sweep_attrs(config, template, stores, filled) -> dict:
    commit, dirty = _git_commit()
    attrs = {
        key: value
        for key, value in template.attrs.items()
        if not key.startswith("mfsim_") and key != "sweep"
    }
    attrs.update(
        {
            "mfsim_store": "sweep",
            "mfsim_version": __version__,
            "git_commit": commit,
            "git_dirty": "unknown" if dirty is None else int(dirty),
            "sweep": config["sweep"],
            "config": yaml.safe_dump(config, sort_keys=False, default_flow_style=None),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "n_runs": int(filled.sum()),
            "n_missing_runs": int(filled.size - filled.sum()),
            "n_chunks": len(stores),
            "grid_dims": " ".join(AXES),
            "missing_values": "cells without a run: NaN (float), -1 (status, in_S, in_R), "
            "False (t_k_star_bound_dominated)",
            "nondeterministic_variables": " ".join(NONDETERMINISTIC_VARIABLES),
        }
    )
    return attrs


def _write_template(path: Path, specs: dict, coords: dict, attrs: dict) -> None:
    """Metadata, coordinates and empty data variables (filled slab by slab afterwards)."""
    import dask.array as da

    data_vars = {}
    encoding = {}
    for name, (dims, shape, dtype, fill, var_attrs) in specs.items():
        sizes = dict(zip(dims, shape, strict=True))
        chunks = _zarr_chunks(dims, sizes, dtype.itemsize)
        data_vars[name] = xr.Variable(
            dims, da.full(shape, fill, dtype=dtype, chunks=chunks), var_attrs
        )
        encoding[name] = {"chunks": chunks}
        if dtype.kind in "iub":
            encoding[name]["_FillValue"] = None
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    _set_coord_attrs(ds)
    for name in ("d", "r", "seed", "k", "step", "heatmap_step", "row", "col"):
        encoding[name] = {"_FillValue": None}
    _to_zarr(ds, path, encoding=encoding, compute=False)


def _slab(specs: dict, members: list, i_d: int) -> xr.Dataset:
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
        part = store.isel({_RUN: run_idx}).load()
        for name in specs:
            values = part[name].values
            target = scalar_pos if name in _BATCH_SCALARS else grid_pos
            arrays[name][target] = values
    return xr.Dataset({name: (specs[name][0], values) for name, values in arrays.items()})


# --------------------------------------------------------------------------------------------
# Dask clusters


def _worker_env(threads_per_worker: int = 1) -> dict:
    return {name: str(threads_per_worker) for name in THREAD_ENV_VARS}


@contextlib.contextmanager
def cluster_client(dask_config: Mapping | None = None, threads: int = 1):
    """A ``distributed.Client`` for the config's ``dask`` section (context manager).

    Parameters
    ----------
    dask_config : mapping, optional
        The ``dask`` section: ``cluster`` is ``local`` (default), ``address`` or ``slurm``.
    threads : int
        ``local``: number of worker processes (1 thread each).

    Yields
    ------
    distributed.Client

    Notes
    -----
    * ``local``: ``LocalCluster(n_workers=threads, threads_per_worker=1, processes=True)``; the
      scheduler (and the dashboard when ``dashboard: true``, on a random port) listen on
      127.0.0.1 only. Workers get ``NUMBA_NUM_THREADS = OMP_NUM_THREADS = OPENBLAS_NUM_THREADS
      = MKL_NUM_THREADS = 1`` so processes do not oversubscribe the cores.
    * ``address``: ``Client(address, security=...)``; TLS from the ``security`` section
      (``tls_ca_file``, ``tls_client_cert``, ``tls_client_key``).
    * ``slurm``: ``dask_jobqueue.SLURMCluster`` (one single-threaded worker process per core,
      thread variables pinned in the job script, ``--lifetime`` restarts when ``lifetime`` is
      set) scaled with ``adapt(minimum_jobs, maximum_jobs)``.
    """
    from distributed import Client

    dask_config = dict(dask_config or {})
    kind = dask_config.get("cluster", "local")
    if kind == "local":
        from distributed import LocalCluster

        dashboard = bool(dask_config.get("dashboard"))
        with (
            LocalCluster(
                n_workers=max(1, int(threads)),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0" if dashboard else None,
                # the scheduler's HTTP server (health, metrics; the dashboard when enabled)
                # listens on a free loopback port
                scheduler_kwargs={"dashboard": dashboard, "dashboard_address": "127.0.0.1:0"},
                env=_worker_env(1),
                silence_logs=logging.WARNING,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    elif kind == "address":
        with Client(dask_config["address"], security=_security(dask_config)) as client:
            yield client
    elif kind == "slurm":
        with _slurm_cluster(dask_config) as cluster, Client(cluster) as client:
            yield client
    else:
        raise ConfigError(f"dask.cluster: {kind!r} is not one of local, address, slurm")


def _security(dask_config: Mapping):
    section = dask_config.get("security")
    if not section:
        return None
    from distributed.security import Security

    return Security(
        tls_ca_file=section["tls_ca_file"],
        tls_client_cert=section["tls_client_cert"],
        tls_client_key=section["tls_client_key"],
        require_encryption=True,
    )


def slurm_cluster_kwargs(dask_config: Mapping) -> dict:
    """Keyword arguments of ``dask_jobqueue.SLURMCluster`` for the ``dask.slurm`` section."""
    slurm = dict(dask_config["slurm"])
    cores = int(slurm["cores"])
    host = slurm.get("scheduler_host", "127.0.0.1")
    kwargs = {
        "cores": cores,
        "processes": cores,  # single-threaded workers: numba threads = 1 each
        "memory": slurm["memory"],
        "scheduler_options": {
            "host": host,
            "dashboard": bool(dask_config.get("dashboard")),
            "dashboard_address": f"{host}:0",
        },
        "job_script_prologue": [f"export {name}=1" for name in THREAD_ENV_VARS],
    }
    for key in ("walltime", "queue", "account"):
        if key in slurm:
            kwargs[key] = slurm[key]
    if slurm.get("job_extra_directives"):
        kwargs["job_extra_directives"] = list(slurm["job_extra_directives"])
    if "lifetime" in slurm:
        kwargs["worker_extra_args"] = [
            "--lifetime",
            slurm["lifetime"],
            "--lifetime-stagger",
            slurm.get("lifetime_stagger", "0s"),
            "--lifetime-restart",
        ]
    if dask_config.get("security"):
        kwargs["security"] = _security(dask_config)
        kwargs["protocol"] = "tls://"
    return kwargs


@contextlib.contextmanager
def _slurm_cluster(dask_config: Mapping):
    from dask_jobqueue import SLURMCluster

    slurm = dask_config["slurm"]
    with SLURMCluster(**slurm_cluster_kwargs(dask_config)) as cluster:
        cluster.adapt(
            minimum_jobs=int(slurm.get("minimum_jobs", 0)),
            maximum_jobs=int(slurm.get("maximum_jobs", 1)),
        )
        yield cluster


# --------------------------------------------------------------------------------------------
# sweep


def sweep(config, client=None, out: str | os.PathLike | None = None, *, log=None) -> xr.Dataset:
    """Run a whole sweep without Snakemake; return the sweep Dataset.

    Parameters
    ----------
    config : dict or path
        Sweep config (validated here; a mapping without ``sweep`` gets the name
        ``interactive``).
    client : distributed.Client, optional
        Where the batches run; by default a cluster from the config's ``dask`` section
        (:func:`cluster_client` with one worker per core).
    out : path, optional
        Sweep directory (like ``results/<sweep>``): chunk stores go to ``<out>/chunks/`` and
        complete ones are reused; the store is ``<out>/sweep.zarr`` and the returned Dataset is
        opened from it (lazily). Without `out` everything happens in a temporary directory and
        the Dataset is returned loaded in memory.
    log : logging.Logger, file-like or path, optional
        Progress lines of every chunk.

    Returns
    -------
    xarray.Dataset
        The same data model (and, for data variables, the same values) as the Snakemake
        pipeline's ``sweep.zarr``: it runs the same :func:`run_chunk` steps and :func:`assemble`.

    Raises
    ------
    mfsim.config.validate.ConfigError
        An invalid config, a sweep above ``limits``, or an estimated store larger than the
        free space of the output directory (checked before anything is written).
    """
    config = _validated(config)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="mfsim-sweep-") as tmp:
            with sweep_to(config, tmp, client, log) as store:
                return xr.open_zarr(store, consolidated=True).load()
    with sweep_to(config, out, client, log) as store:
        return xr.open_zarr(store, consolidated=True)


def _in_flight(submitted) -> int:
    return sum(len(pending) for _, pending, _ in submitted)


@contextlib.contextmanager
def sweep_to(config, out: str | os.PathLike, client=None, log=None):
    """Run the sweep into directory `out`; yield the path of its ``sweep.zarr``."""
    config = _validated(config)
    out = Path(out)
    # before writing anything (load_config only checks the disk of results/ for Snakemake)
    check_free_space(config, out)
    chunks = make_chunks(config)
    todo = [chunk for chunk in chunks if not is_complete(chunk_store_path(out, chunk))]
    with contextlib.ExitStack() as stack:
        if todo and client is None:
            client = stack.enter_context(cluster_client(config["dask"], os.cpu_count() or 1))
        # keep later chunks submitted while one is written so that the workers stay busy
        # across chunk boundaries, with a bounded number of results held in memory
        window = SUBMIT_AHEAD_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
        queue = deque(todo)
        submitted: deque = deque()
        while queue or submitted:
            while queue and (not submitted or _in_flight(submitted) < window):
                chunk = queue.popleft()
                submitted.append((chunk, *_submit(chunk, config, client, None)))
            chunk, pending, args = submitted.popleft()
            path = chunk_store_path(out, chunk)
            _write_chunk(chunk, config, path, pending, args, client, None, log)
    store = out / "sweep.zarr"
    assemble([chunk_store_path(out, chunk) for chunk in chunks], config, store)
    yield store
