"""Grid expansion, batches, cost model and chunking of a sweep.

Everything here is a pure function of a parsed config (:class:`mfsim.config.SweepConfig`, from
:func:`mfsim.config.parse`; a validated dict is accepted and converted). Axis expansion and size
limits are part of parsing (:mod:`mfsim.config.axes`, :mod:`mfsim.config.limits`).

Vocabulary
----------
grid point
    One setting of ``(d, r, kappa, varpi, varpi_exponent, eta)``: :class:`GridPoint`.
run
    A grid point and one seed.
batch
    A grid point and a block of seeds: the unit of one ``mfsim.simulate`` call (:class:`Batch`).
    Seeds are split in *fixed* blocks ``[j * B, (j + 1) * B)`` with ``B = seeds_per_batch``, so
    adding seeds adds batches and never changes a full block.
chunk
    Batches run by one Snakemake job (:class:`Chunk`), identified by a content hash.

Canonical order
---------------
Axis values are sorted ascending. Batches are ordered by ``(d, r, seed block, kappa, varpi,
varpi_exponent, eta)``: the order chunks are packed in (see :func:`make_chunks` for why the seed
block comes before the other axes). The sweep store uses the dimension order of :data:`AXES`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from itertools import groupby, product
from typing import Any

import numpy as np

from mfsim.config.axes import expand_values, grid_axes  # noqa: F401  (re-exported)
from mfsim.config.limits import (  # noqa: F401  (re-exported)
    BYTES_PER_VALUE,
    bytes_per_run,
    check_free_space,
    check_limits,
    count_runs,
    estimate_store_bytes,
)
from mfsim.config.model import SweepConfig, as_sweep_config
from mfsim.datamodel import AXES
from mfsim.spectra import STAIRCASE_LEVELS

__all__ = [
    "AXES",
    "Batch",
    "Chunk",
    "GridPoint",
    "check_free_space",
    "check_limits",
    "content_hash",
    "count_runs",
    "engine_rows",
    "estimate_engine_seconds",
    "estimate_steps",
    "estimate_sweep",
    "format_estimate",
    "estimate_resources",
    "estimate_store_bytes",
    "expand_grid",
    "expand_values",
    "grid_axes",
    "make_chunks",
    "identity_hash",
    "run_identity",
    "seed_blocks",
]

ITERATE_COPIES = 4
BASE_MEMORY_MB = 500
RUNTIME_SAFETY_FACTOR = 3.0
MIN_RUNTIME_MINUTES = 15  # a cold numba cache costs minutes of compilation in the first job
BATCH_KEY_LENGTH = 12
CHUNK_ID_LENGTH = 16
# Run-time model of the engine (estimate_engine_seconds), one core, warm numba cache: seconds per
# step of one run, per (row * r^2) of the iterate and per r^2 (r + 2) of the per-step
# diagnostics (r + 2 small eigensolves and the noise sums). Calibrated with time.process_time
# on the reference machine (AMD EPYC Zen 4, benchmarks/README.md "Cost model"): linear family,
# d = 100 to 20000, r = 2, 3, 5, and the flat family's reduced engine, r = 2, 3, 5.
ENGINE_SECONDS_PER_ROW_STEP = 3.5e-10
ENGINE_SECONDS_PER_DIAGNOSTIC_STEP = 7.0e-8
# CPU seconds of one Snakemake job besides its engine time (interpreter, imports, numba cache
# loading, store writing), measured on the default sweep (benchmarks/bench_pipeline.py).
JOB_START_SECONDS = 1.5


# --------------------------------------------------------------------------------------------
# hashing helpers


def _canonical(value: Any) -> Any:
    """Normalize a JSON-like value so that equal settings hash equally.

    Floats with an integral value become ints (``5.0`` and ``5`` hash the same), tuples become
    lists; dict key order is handled by ``json.dumps(sort_keys=True)``.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    raise TypeError(f"cannot hash a value of type {type(value).__name__}: {value!r}")


def content_hash(value: Any, length: int) -> str:
    """Return the first `length` hex digits of the sha1 of the canonical JSON of `value`.

    Parameters
    ----------
    value : JSON-like
        Dicts, lists, tuples, strings, numbers, booleans, None.
    length : int
        Number of hex digits kept.

    Returns
    -------
    str
        Hex digest prefix; independent of dict ordering and of ``5`` vs ``5.0``.
    """
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


# --------------------------------------------------------------------------------------------
# grid points, batches, cost model


@dataclass(frozen=True)
class GridPoint:
    """One point of the parameter grid.

    Parameters
    ----------
    d, r : int
        Dimension and rank of X in R^{d x r}.
    kappa : float or None
        Condition number requested from the family (None: fixed by the spectrum).
    varpi : float
        Initialization scale c.
    varpi_exponent : float
        Exponent a of ``varpi_effective = c * d**-a``.
    eta : float
        Step size.
    """

    d: int
    r: int
    kappa: float | None
    varpi: float
    varpi_exponent: float
    eta: float

    @property
    def varpi_effective(self) -> float:
        """The initialization scale used: ``varpi * d**-varpi_exponent``."""
        return self.varpi * float(self.d) ** -self.varpi_exponent

    def as_dict(self) -> dict:
        """Return the fields as a plain dict."""
        return {
            "d": self.d,
            "r": self.r,
            "kappa": self.kappa,
            "varpi": self.varpi,
            "varpi_exponent": self.varpi_exponent,
            "eta": self.eta,
        }


@dataclass(frozen=True)
class Batch:
    """A grid point and a block of seeds: the arguments of one ``mfsim.simulate`` call.

    Parameters
    ----------
    point : GridPoint
        The grid point.
    seeds : tuple of int
        Sorted seeds, all in the same block ``[j * B, (j + 1) * B)``.
    cost : float
        Estimated engine seconds on one core (:func:`estimate_engine_seconds`): what chunks
        are packed by.

    Attributes
    ----------
    key : str
        12 hex digits: sha1 of the canonical JSON of the grid point and the seeds. Does not
        depend on the cost model or on the run settings.
    """

    point: GridPoint
    seeds: tuple[int, ...]
    cost: float
    key: str = field(init=False)

    def __post_init__(self) -> None:
        content = {**self.point.as_dict(), "seeds": list(self.seeds)}
        object.__setattr__(self, "key", content_hash(content, BATCH_KEY_LENGTH))

    @property
    def n_runs(self) -> int:
        """Number of runs (seeds) in the batch."""
        return len(self.seeds)


def engine_rows(d: int, r: int, family: str, levels: int | None = None) -> int:
    """Number of rows of the iterate the engine works on (cost and memory model).

    Parameters
    ----------
    d, r : int
        Dimension and rank (d a Python int of any size).
    family : str
        Spectrum family.
    levels : int or None
        Family ``staircase``: its number G of bulk levels (None: the family's default,
        :data:`mfsim.spectra.STAIRCASE_LEVELS`).

    Returns
    -------
    int
        ``d``, except ``min(d, 3 r + 3)`` for ``flat`` and, for ``staircase``,
        ``max(r + 1, 3) + G r`` when that is at most ``d / 2`` (else ``d``, unreduced).

    Notes
    -----
    A bulk of flat levels runs as a reduced problem (Bartlett-reduced initialization): the
    explicit top rows (at least 3, kept for the heat maps) and r rows per level of multiplicity
    above r, whatever d is. Flat: an upper bound ``3 r + 3``; staircase: the top r rows and
    lambda_(r+1), then G levels of r rows each. So the cost of such a run does not grow with d.
    """
    if family == "flat":
        return min(d, 3 * r + 3)
    if family == "staircase":
        n_levels = STAIRCASE_LEVELS if levels is None else int(levels)
        reduced = max(r + 1, 3) + n_levels * r
        # the engine reduces only when that at least halves the rows (then every level has
        # multiplicity > r, so the count is exact)
        return reduced if 2 * reduced <= d else d
    return d


def estimate_engine_seconds(
    point: GridPoint, n_seeds: int, config: SweepConfig | dict, steps: int | None = None
) -> float:
    """Estimated engine (CPU) seconds of `n_seeds` runs of one grid point on one core.

    Parameters
    ----------
    point : GridPoint
        The grid point.
    n_seeds : int
        Number of runs.
    config : SweepConfig or dict
        Parsed (or validated) config (``run.steps``, ``run.stop_error``, the spectrum).
    steps : int, optional
        Steps of each run; by default :func:`estimate_steps` (``run.steps``, or the estimated
        stop step of runs that stop at convergence).

    Returns
    -------
    float
        ``n_seeds * steps * (rows * r^2 * a + r^2 (r + 2) * b)`` seconds with
        ``a = ENGINE_SECONDS_PER_ROW_STEP``, ``b = ENGINE_SECONDS_PER_DIAGNOSTIC_STEP``, rows
        the engine's (reduced) rows. Calibrated within a factor of 2 of measured engine times
        (warm cache, benchmarks/bench_estimates.py).

    Notes
    -----
    The per-step diagnostics dominate for small iterates (the flat family's reduced engine,
    small d). This is also the cost chunks are packed by (:func:`make_chunks`), so chunk ids
    depend on the two constants: recalibrating them changes chunk ids (a sweep's chunks then
    run again once).
    """
    config = as_sweep_config(config)
    r = point.r
    rows, _ = _engine_shape_of(config, point)
    per_step = rows * r**2 * ENGINE_SECONDS_PER_ROW_STEP
    per_step += r**2 * (r + 2) * ENGINE_SECONDS_PER_DIAGNOSTIC_STEP
    if steps is None:
        steps = estimate_steps(point, config)
    return steps * n_seeds * per_step


@functools.lru_cache(maxsize=4096)
def _engine_shape(family: str, params_json: str, d: int, r: int, kappa: float) -> tuple:
    """``(rows, top)``: rows the engine iterates and the top r + 1 eigenvalues of Sigma."""
    from mfsim.spectra import spectrum

    params = json.loads(params_json)
    spec = spectrum(family, d, r=r, kappa=kappa, **params)
    # the engine replaces each flat segment longer than r by r rows (Gram reduction) when that
    # at least halves the rows (mfsim.engine.initialization.effective_system)
    reduced = sum(
        r if seg.increment == 0.0 and seg.count > r else seg.count for seg in spec.segments
    )
    rows = reduced if reduced * 2 <= spec.d else int(spec.d)
    top: list[float] = []
    for seg in spec.segments:
        for j in range(min(seg.count, r + 1 - len(top))):
            top.append(seg.first + seg.increment * j)
    return rows, tuple(top)


def _engine_shape_of(config: SweepConfig, point: GridPoint) -> tuple:
    params = config.spectrum.family_params()
    if "eigenvalues" in params:
        params["eigenvalues"] = [float(v) for v in params["eigenvalues"]]
    params_json = json.dumps(params, sort_keys=True, default=str)
    return _engine_shape(config.spectrum.family, params_json, point.d, point.r, point.kappa)


def estimate_steps(point: GridPoint, config: SweepConfig | dict) -> int:
    """Estimated steps of a run: ``run.steps``, or fewer when runs stop at convergence.

    Parameters
    ----------
    point : GridPoint
        The grid point.
    config : SweepConfig or dict
        Parsed (or validated) config (``run.steps``, ``run.stop_error``, the spectrum).

    Returns
    -------
    int
        With ``run.stop_error = 0``: ``run.steps``. Otherwise ``min(run.steps, rise + decay)``:
        ``rise = ln(d / varpi^2) / (2 ln((1 + eta lambda_r) / (1 + eta lambda_(r+1))))``, the
        steps for the r-th signal (initial projection ~ varpi / sqrt(d)) to outgrow the bulk
        (small-signal linearization), and ``decay = ln(1 / stop_error) / (eta Delta)``, the
        linear convergence of the error at rate ``1 - eta Delta`` with
        ``Delta = lambda_r - lambda_(r+1)``. A run-time heuristic (within a factor of about 2
        of measured stop steps on the shipped configs), not a bound.
    """
    config = as_sweep_config(config)
    steps = config.run.steps
    stop_error = config.run.stop_error
    _, top = _engine_shape_of(config, point)
    if stop_error <= 0 or len(top) <= point.r:
        return steps
    eta, varpi = point.eta, point.varpi_effective
    lam_r, lam_next = top[point.r - 1], top[point.r]
    gap = lam_r - lam_next
    growth = math.log1p(eta * lam_r) - math.log1p(eta * lam_next)
    if gap <= 0 or growth <= 0 or varpi <= 0:
        return steps
    rise = max(0.0, (math.log(float(point.d)) - 2 * math.log(varpi)) / (2 * growth))
    decay = math.log(1.0 / stop_error) / (eta * gap)
    return int(min(steps, math.ceil(rise + decay)))


def estimate_sweep(config: SweepConfig | dict, cores: int, chunks: list | None = None) -> dict:
    """Chunk count, runs, estimated compute and wall time of a sweep on `cores` cores.

    Parameters
    ----------
    config : SweepConfig or dict
        Parsed (or validated) config.
    cores : int
        Cores running one single-threaded simulate job each (>= 1).
    chunks : list of Chunk, optional
        The config's chunks (:func:`make_chunks`), if already computed.

    Returns
    -------
    dict
        ``chunks`` (int), ``runs`` (int), ``compute_seconds`` (float: engine seconds of every
        run, :func:`estimate_engine_seconds`), ``wall_seconds`` (float: the simulate jobs,
        each its engine estimate plus ``JOB_START_SECONDS``, scheduled longest first on
        `cores` cores; the assemble and analysis rules are not included), ``converging``
        (bool: runs stop at convergence, their steps are estimated by :func:`estimate_steps`).

    Raises
    ------
    ValueError
        `cores` < 1.
    """
    if cores < 1:
        raise ValueError(f"cores must be >= 1, got {cores}")
    config = as_sweep_config(config)
    if chunks is None:
        chunks = make_chunks(config)
    jobs = [chunk.cost for chunk in chunks]
    finish = [0.0] * cores
    for seconds in sorted(jobs, reverse=True):
        slot = finish.index(min(finish))
        finish[slot] += seconds + JOB_START_SECONDS
    return {
        "chunks": len(chunks),
        "runs": sum(chunk.n_runs for chunk in chunks),
        "compute_seconds": math.fsum(jobs),
        "wall_seconds": max(finish),
        "converging": config.run.stop_error > 0,
    }


def format_estimate(estimate: dict, cores: int) -> str:
    """One line: chunks, runs, estimated compute and wall time (:func:`estimate_sweep`)."""
    return (
        f"{estimate['chunks']} chunk{'s' if estimate['chunks'] != 1 else ''}, "
        f"{estimate['runs']} runs; estimated "
        f"{_duration(estimate['compute_seconds'])} of engine compute, "
        f"{_duration(estimate['wall_seconds'])} of simulate wall time on {cores} "
        f"core{'s' if cores != 1 else ''} (with a warm numba cache: a cold one adds ~15 s once; "
        "analysis rules not included)"
    )


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def seed_blocks(seeds: list[int], block_size: int) -> list[tuple[int, ...]]:
    """Split sorted seeds into fixed blocks ``[j * block_size, (j + 1) * block_size)``.

    Parameters
    ----------
    seeds : list of int
        Sorted, unique, non-negative seeds.
    block_size : int
        ``chunking.seeds_per_batch``.

    Returns
    -------
    list of tuple of int
        Non-empty blocks in increasing order.
    """
    blocks: list[list[int]] = []
    for seed in seeds:
        if blocks and blocks[-1][0] // block_size == seed // block_size:
            blocks[-1].append(seed)
        else:
            blocks.append([seed])
    return [tuple(block) for block in blocks]


def expand_grid(config: dict) -> list[Batch]:
    """Expand a validated config into its batches, in canonical order.

    Parameters
    ----------
    config : dict
        Validated config.

    Returns
    -------
    list of Batch
        Ordered by ``(d, r, seed block, kappa, varpi, varpi_exponent, eta)``.
    """
    config = as_sweep_config(config)
    grid = config.grid
    blocks = seed_blocks(list(grid.seed), config.chunking.seeds_per_batch)
    batches = []
    for d, r, seeds, kappa, varpi, exponent, eta in product(
        grid.d, grid.r, blocks, grid.kappa, grid.varpi, grid.varpi_exponent, grid.eta
    ):
        point = GridPoint(d=d, r=r, kappa=kappa, varpi=varpi, varpi_exponent=exponent, eta=eta)
        cost = estimate_engine_seconds(point, len(seeds), config)
        batches.append(Batch(point=point, seeds=seeds, cost=cost))
    return batches


# --------------------------------------------------------------------------------------------
# chunking


@dataclass(frozen=True)
class Chunk:
    """Batches executed by one Snakemake job.

    Parameters
    ----------
    chunk_id : str
        16 hex digits: sha1 of the batch keys and of the run settings that change results
        (:func:`run_identity`).
    batches : tuple of Batch
        In canonical order; all with the same ``(d, r)``.
    cost : float
        Sum of the batch costs (estimated seconds).
    """

    chunk_id: str
    batches: tuple[Batch, ...]
    cost: float

    @property
    def n_runs(self) -> int:
        """Number of runs in the chunk."""
        return sum(batch.n_runs for batch in self.batches)


def run_identity(config: SweepConfig | dict) -> dict:
    """The settings, besides the batches, that change the results of a run.

    Parameters
    ----------
    config : SweepConfig or dict
        Parsed (or validated) config.

    Returns
    -------
    dict
        The ``spectrum`` section (for ``custom`` the file path is replaced by the sha1 of the
        file's bytes, so editing the file changes chunk ids and moving it does not) and the
        ``run`` section (``record`` replaced by the sha1 of the recorded steps, so options
        that do not change the recorded steps do not change chunk ids). Computed once, at
        parsing (:attr:`mfsim.config.model.SweepConfig.identity`).
    """
    return as_sweep_config(config).identity


def identity_hash(config: SweepConfig | dict) -> str:
    """16 hex digits of :func:`run_identity`: stored in every chunk store."""
    return content_hash(run_identity(config), CHUNK_ID_LENGTH)


def _is_content_boundary(key: str, cost: float, target_seconds: float) -> bool:
    """Whether a chunk ends after the unit (batch or small group) of hex `key` and estimated
    `cost`, whatever precedes it.

    The key read as a number in [0, 1) is compared with ``1 - exp(-cost / target)``:
    boundaries occur on average once per `target_seconds` of cost.
    """
    uniform = int(key, 16) / 16 ** len(key)
    return uniform < -math.expm1(-cost / target_seconds)


def _pack(units: list[tuple[list[Batch], float, int, str]], target_seconds: float, max_runs: int):
    """Pack consecutive units ``(batches, cost, n_runs, key)`` into chunks (lists of batches);
    see :func:`make_chunks`."""
    packed: list[list[Batch]] = []
    current: list[Batch] = []
    current_cost = 0.0
    current_runs = 0
    for batches, cost, n_runs, key in units:
        too_costly = current_cost + cost > target_seconds
        too_many = current_runs + n_runs > max_runs
        if current and (too_costly or too_many):
            packed.append(current)
            current, current_cost, current_runs = [], 0.0, 0
        current.extend(batches)
        current_cost += cost
        current_runs += n_runs
        if _is_content_boundary(key, cost, target_seconds):
            packed.append(current)
            current, current_cost, current_runs = [], 0.0, 0
    if current:
        packed.append(current)
    return packed


def make_chunks(config: dict) -> list[Chunk]:
    """Pack the batches of a validated config into chunks (one Snakemake job each).

    Parameters
    ----------
    config : SweepConfig or dict
        Parsed (or validated) config (``chunking.target_seconds``,
        ``chunking.max_runs_per_chunk``).

    Returns
    -------
    list of Chunk
        Every batch in exactly one chunk, in canonical order.

    Raises
    ------
    RuntimeError
        Two chunks with the same id (a hash collision: never expected).

    Notes
    -----
    The batches come in ``(d, r)`` groups, each in canonical order ``(seed block, kappa, varpi,
    varpi_exponent, eta)``. A *large* group (estimated cost above ``target_seconds`` or more
    than ``max_runs_per_chunk`` runs) is packed on its own, batch by batch; consecutive *small*
    groups are packed together, whole group by whole group, so that a sweep of many cheap
    ``(d, r)`` points (small d, or the flat families whose cost does not grow with d) runs as a
    few jobs instead of one job per point. Either way, packing closes a chunk

    * before a unit (batch or small group) that would push it over ``target_seconds`` of
      estimated cost or over ``max_runs_per_chunk`` runs (a unit costlier than the target is a
      chunk of its own);
    * after a *content boundary*: a unit whose key (the batch key, or the hash of the group's
      batch keys), read as a number u in [0, 1), satisfies ``u < 1 - exp(-cost /
      target_seconds)`` (content-defined chunking, as in rsync).

    Properties:

    * chunk membership and ids depend only on the config (not on dict order or on calls);
    * a large group's chunks hold only its own batches, so adding or changing a d or r value
      leaves them unchanged; among small groups, it changes the chunk that receives the new
      group and, thanks to the content boundaries, about one neighbouring chunk (each of which
      costs less than ``target_seconds`` to recompute);
    * adding seeds (new seed blocks, packed after the existing ones) changes at most the last
      chunk of each large group (and the chunk of a small group that grows);
    * adding or changing a value of another axis changes the chunks holding the new batches
      and about one neighbouring chunk each, instead of shifting every later chunk boundary of
      the group. The outer the axis in the packing order (kappa, then varpi, ...), the fewer
      chunks change: a new eta value touches every run of ``varpi_exponent``, so most chunks of
      a large group change when chunks are large;
    * mean chunk cost is about 0.6 ``target_seconds`` for small units; big-d chunks hold fewer
      runs since a run's cost grows with d.
    """
    config = as_sweep_config(config)
    target = config.chunking.target_seconds
    max_runs = config.chunking.max_runs_per_chunk
    identity = config.identity
    members_of_chunks: list[list[Batch]] = []
    small_groups: list[tuple[list[Batch], float, int, str]] = []
    for _, group in groupby(expand_grid(config), key=_group_key):
        group = list(group)
        cost = math.fsum(batch.cost for batch in group)
        n_runs = sum(batch.n_runs for batch in group)
        if cost <= target and n_runs <= max_runs:
            key = content_hash([batch.key for batch in group], BATCH_KEY_LENGTH)
            small_groups.append((group, cost, n_runs, key))
            continue
        members_of_chunks += _pack(small_groups, target, max_runs)
        small_groups = []
        units = [([batch], batch.cost, batch.n_runs, batch.key) for batch in group]
        members_of_chunks += _pack(units, target, max_runs)
    members_of_chunks += _pack(small_groups, target, max_runs)
    chunks = []
    for members in members_of_chunks:
        chunk_id = content_hash(
            {"batches": [batch.key for batch in members], **identity}, CHUNK_ID_LENGTH
        )
        cost = math.fsum(batch.cost for batch in members)
        chunks.append(Chunk(chunk_id=chunk_id, batches=tuple(members), cost=cost))
    if len({chunk.chunk_id for chunk in chunks}) != len(chunks):
        raise RuntimeError("chunking: two chunks have the same id (hash collision); report this")
    return chunks


def _group_key(batch: Batch) -> tuple[int, int]:
    return batch.point.d, batch.point.r


# --------------------------------------------------------------------------------------------
# recording policy and size estimates


def estimate_resources(chunk: Chunk, config: dict) -> dict:
    """Snakemake resources of the job that runs `chunk`.

    Parameters
    ----------
    chunk : Chunk
        The chunk.
    config : dict
        Validated config.

    Returns
    -------
    dict
        ``mem_mb`` (int): ``500`` MB base (Python, Dask) + the largest batch's iterates
        (``seeds * rows * r * 8`` bytes, times 4 for copies and workspaces) + the chunk's
        recorded diagnostics; ``runtime`` (int, minutes): 3 times the engine estimate of every
        run to ``run.steps`` (no early stop assumed), at least :data:`MIN_RUNTIME_MINUTES`.
    """
    config = as_sweep_config(config)
    n_recorded = len(config.run.recorded)
    family, levels = config.spectrum.family, config.spectrum.levels
    raw = config.as_dict()
    iterates = max(
        batch.n_runs * engine_rows(batch.point.d, batch.point.r, family, levels) * batch.point.r
        for batch in chunk.batches
    )
    iterate_bytes = iterates * BYTES_PER_VALUE * ITERATE_COPIES
    diagnostic_bytes = sum(
        batch.n_runs * bytes_per_run(raw, n_recorded, batch.point.r) for batch in chunk.batches
    )
    mem_mb = BASE_MEMORY_MB + math.ceil((iterate_bytes + diagnostic_bytes) / 1e6)
    longest = math.fsum(
        estimate_engine_seconds(batch.point, batch.n_runs, config, steps=config.run.steps)
        for batch in chunk.batches
    )
    runtime = max(MIN_RUNTIME_MINUTES, math.ceil(longest * RUNTIME_SAFETY_FACTOR / 60.0))
    return {"mem_mb": int(mem_mb), "runtime": int(runtime)}
