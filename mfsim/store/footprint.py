"""Bytes a sweep occupies on disk: every file of its stores, in whole file-system blocks.

A sweep directory holds many small files (a chunk store of a few runs has about 150), so its
size on disk is set as much by the file count times the block size as by the data. The model
counts the files of each store from its layout (:mod:`mfsim.store.chunk_store`,
:mod:`mfsim.store.assemble`, :func:`mfsim.store.layout.sweep_storage_chunks`) and sizes each
file as its uncompressed data rounded up to whole blocks (:func:`store_disk_bytes`); the
analysis stores, figures and logs are measured allowances. ``tests/store/test_footprint.py``
checks the estimate against the allocated size (``du``) of sweeps of every shipped config's
layout: within a factor of 2 (estimate / ``du`` measured between 1.0 and 1.4; the model
is an upper bound on the data, which Blosc-LZ4 shrinks by about 15 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mfsim.config.model import SweepConfig
from mfsim.datamodel import (
    AXES,
    BATCH_SCALAR_DIMS,
    BATCH_SCALARS,
    PER_K_VARIABLES,
    SPECTRUM_COORDS,
)
from mfsim.plan.chunk_plan import SweepPlan
from mfsim.plan.grid import Chunk, estimate_steps, make_chunks
from mfsim.store.layout import (
    BLOCK_BYTES,
    files_disk_bytes,
    metadata_disk_bytes,
    sweep_storage_chunks,
)

__all__ = [
    "SweepFootprint",
    "analysis_disk_bytes",
    "chunk_store_disk_bytes",
    "filled_fraction",
    "shared_dim_sizes",
    "sweep_footprint",
    "sweep_store_disk_bytes",
]

#: Data variables of a run (chunk-store dims without ``run``) -> itemsize; the dims are those
#: of :func:`mfsim.engine.dataset` (checked against a real store by the tests).
_PER_STEP = {"error": 8, "sigma1_sq_X": 8, "sigmar_sq_U": 8, "sigma1_sq_J": 8, "in_S": 1, "in_R": 1}
_PER_K_STEP = ("signal", "noise", "noise_floor", "sigma1_sq_K")
_PER_RUN = {"t_R": 8, "first_in_S": 8, "first_in_R": 8, "status": 1, "stop_step": 8,
            "wall_time": 8}  # fmt: skip
#: Coordinates along ``run`` in a chunk store (``lambda_k`` has ``k`` too).
_RUN_COORDS = ("d", "log10_d", "kappa", "varpi", "varpi_exponent", "eta", "r", "seed",
               "varpi_effective", "kappa_realized", "lambda_1", "Delta")  # fmt: skip
#: Variables of the analysis stores (``scaling.zarr``, ``audit.zarr``), measured on the small
#: sweeps of the tests: about 300 and 30 arrays, and their (compressed) data per combination
#: of the grid's other axes (times ``k``) and per run.
SCALING_ARRAYS = 300
SCALING_BYTES_PER_COMBINATION_AND_K = 4_000
AUDIT_ARRAYS = 30
AUDIT_BYTES_PER_RUN = 160
#: Figures and the HTML report (PNG and PDF files of a few hundred kB each group), measured
#: on the tiny workflow sweep of the tests; logs, benchmarks and plan files are one block
#: each per chunk and per rule.
FIGURES_BYTES = 2_000_000
FILES_PER_CHUNK = 3
FILES_PER_SWEEP = 12


@dataclass(frozen=True)
class SweepFootprint:
    """Estimated bytes on disk of a sweep directory, by part."""

    chunk_stores: int
    sweep_store: int
    analysis: int

    @property
    def total(self) -> int:
        return self.chunk_stores + self.sweep_store + self.analysis


def _run_variables(sizes: dict) -> list[tuple[tuple[str, ...], int]]:
    """(dims without ``run``, itemsize) of every data variable of a run; the batch scalars
    (:data:`mfsim.datamodel.BATCH_SCALARS`) last."""
    variables = [(("step",), size) for size in _PER_STEP.values()]
    variables += [(("k", "step"), 8)] * len(_PER_K_STEP)
    variables += [(("k",), 1 if name.endswith("dominated") else 8) for name in PER_K_VARIABLES]
    variables += [((), size) for size in _PER_RUN.values()]
    variables += [(("eps",), 8), (("heatmap_step", "row", "col"), 8)]  # t_eps, top_gram
    return variables + [((), 8)] * len(BATCH_SCALARS)


def shared_dim_sizes(config: SweepConfig) -> dict:
    """Lengths of the dims every run has (``step``, ``k``, ``eps``, ``heatmap_step``, ``row``,
    ``col``)."""
    run = config.run
    return {
        "step": len(run.recorded),
        "k": config.grid.k_max,
        "eps": len(run.epsilons),
        "heatmap_step": len(run.heatmap_steps),
        "row": 3,
        "col": 3,
    }


def _coords(sizes: dict) -> list[tuple[int, float]]:
    """(files, data bytes) of the coordinates of the shared dims."""
    return [(1, 8 * sizes[dim]) for dim in ("k", "step", "eps", "heatmap_step", "row", "col")]


def _store_bytes(arrays: list[tuple[int, float]], block: int) -> int:
    data = sum(files_disk_bytes(n_files, data_bytes, block) for n_files, data_bytes in arrays)
    return data + metadata_disk_bytes(len(arrays), block)


def filled_fraction(point, config: SweepConfig) -> float:
    """Fraction of the recorded steps a run of `point` fills before it stops (estimated by
    :func:`mfsim.plan.grid.estimate_steps`); the steps after the stop hold fill values, which
    the compressor shrinks to almost nothing."""
    recorded = np.asarray(config.run.recorded)
    stop = estimate_steps(point, config)
    return float(np.count_nonzero(recorded <= stop)) / max(1, recorded.size)


def chunk_store_disk_bytes(
    chunk: Chunk, config: SweepConfig, fills: dict | None = None, block: int = BLOCK_BYTES
) -> int:
    """Estimated bytes on disk of the chunk store of `chunk` (one storage chunk per batch
    along ``run``). `fills` caches :func:`filled_fraction` by grid point."""
    fills = {} if fills is None else fills
    sizes = shared_dim_sizes(config)
    n_runs = chunk.n_runs
    n_files = math.ceil(n_runs / max(batch.n_runs for batch in chunk.batches))
    filled_runs = sum(batch.n_runs * _fill(batch.point, config, fills) for batch in chunk.batches)
    arrays = []
    for dims, itemsize in _run_variables(sizes):
        per_run = itemsize * math.prod(sizes[dim] for dim in dims)
        runs = filled_runs if "step" in dims else n_runs
        arrays.append((n_files if per_run else 0, runs * per_run))
    arrays += [(1, 8 * n_runs)] * len(_RUN_COORDS) + [(1, 8 * n_runs * sizes["k"])]
    return _store_bytes(arrays + _coords(sizes), block)


def _fill(point, config: SweepConfig, fills: dict) -> float:
    if point not in fills:
        fills[point] = filled_fraction(point, config)
    return fills[point]


def sweep_store_disk_bytes(
    config: SweepConfig, chunks=None, fills: dict | None = None, block: int = BLOCK_BYTES
) -> int:
    """Estimated bytes on disk of the ``sweep.zarr`` of `config` (dense over the grid, the
    storage chunks of :func:`mfsim.store.layout.sweep_storage_chunks`); `chunks` (default:
    :func:`mfsim.plan.grid.make_chunks`) give the runs whose filled steps are estimated."""
    fills = {} if fills is None else fills
    chunks = make_chunks(config) if chunks is None else chunks
    batches = [batch for chunk in chunks for batch in chunk.batches]
    fill = sum(b.n_runs * _fill(b.point, config, fills) for b in batches) / max(
        1, sum(b.n_runs for b in batches)
    )
    sizes = shared_dim_sizes(config)
    axes = config.grid.axes
    sizes.update({axis: len(axes[axis]) for axis in AXES})
    grid_dims = AXES
    if config.grid.has_problems:  # the problem dim (problem variables: a few percent more)
        sizes["problem"] = len(config.grid.problems)
        grid_dims = AXES[:-1] + ("problem", AXES[-1])
    arrays = []
    variables = _run_variables(sizes)
    for own_dims, itemsize in variables[: -len(BATCH_SCALARS)]:
        arrays.append(_sweep_array(grid_dims + own_dims, sizes, itemsize, fill))
    arrays += [_sweep_array(BATCH_SCALAR_DIMS, sizes, 8, 1.0)] * len(BATCH_SCALARS)
    n_d = sizes["d"]
    spectrum = n_d * sizes["kappa"] * sizes["r"]
    arrays += [(1, 8 * sizes[axis]) for axis in AXES] + [(1, 8 * n_d)]  # log10_d
    arrays += [(1, 8 * n_d * sizes["varpi"] * sizes["varpi_exponent"])]  # varpi_effective
    arrays += [(1, 8 * spectrum)] * len(SPECTRUM_COORDS) + [(1, 8 * spectrum * sizes["k"])]
    return _store_bytes(arrays + _coords(sizes), block)


def _sweep_array(dims: tuple, sizes: dict, itemsize: int, fill: float) -> tuple[int, float]:
    shape = tuple(sizes[dim] for dim in dims)
    chunks = sweep_storage_chunks(dims, sizes, itemsize)
    n_files = math.prod(math.ceil(size / max(1, c)) for size, c in zip(shape, chunks, strict=True))
    data = itemsize * math.prod(shape) * (fill if "step" in dims else 1.0)
    return (n_files if math.prod(shape) else 0, data)


def analysis_disk_bytes(plan: SweepPlan, block: int = BLOCK_BYTES) -> int:
    """Measured allowance for ``scaling.zarr``, ``audit.zarr``, figures, report, logs,
    benchmarks and plan files of the Snakemake workflow."""
    axes = plan.config.grid.axes
    combinations = math.prod(len(axes[axis]) for axis in AXES if axis not in ("d", "seed"))
    scaling = SCALING_ARRAYS * 3 * block
    scaling += combinations * plan.config.grid.k_max * SCALING_BYTES_PER_COMBINATION_AND_K
    audit = AUDIT_ARRAYS * 3 * block + plan.config.grid.n_runs * AUDIT_BYTES_PER_RUN
    small_files = (FILES_PER_CHUNK * len(plan.chunks) + FILES_PER_SWEEP) * block
    return scaling + audit + FIGURES_BYTES + small_files


def sweep_footprint(plan: SweepPlan, *, analysis: bool = True, block: int = BLOCK_BYTES):
    """Estimated bytes on disk of a sweep directory (:class:`SweepFootprint`): its chunk
    stores, ``sweep.zarr`` and, with `analysis` (the Snakemake workflow), the analysis
    outputs. `block` is the file system's allocation unit."""
    fills: dict = {}
    config = plan.config
    return SweepFootprint(
        chunk_stores=sum(
            chunk_store_disk_bytes(chunk, config, fills, block) for chunk in plan.chunks
        ),
        sweep_store=sweep_store_disk_bytes(config, plan.chunks, fills, block),
        analysis=analysis_disk_bytes(plan, block) if analysis else 0,
    )
