"""Grid expansion, batches and chunking of a sweep (the cost model is :mod:`mfsim.plan.cost`,
re-exported here; the job budget's chunk target :mod:`mfsim.plan.budget`).

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

import math
from dataclasses import dataclass
from itertools import groupby, product

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
from mfsim.config.problems import ProblemVariant, sensing_options
from mfsim.datamodel import AXES, FLOAT64_D_LIMIT
from mfsim.plan.budget import choose_target
from mfsim.plan.cost import (  # noqa: F401  (re-exported)
    ENGINE_SECONDS_PER_DIAGNOSTIC_STEP,
    ENGINE_SECONDS_PER_ROW_STEP,
    JOB_START_SECONDS,
    engine_rows,
    engine_seconds,
    engine_shape,
    estimate_engine_seconds,
    estimate_steps,
    steps_of,
)
from mfsim.plan.hashing import (
    batch_key,
    batch_key_of_texts,
    content_hash,
    number_text,
    seeds_text,
)
from mfsim.plan.problem_cost import problem_engine_seconds, problem_point

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
    "plan_chunks",
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
    problem : str
        One of :data:`mfsim.config.problems.PROBLEMS` (default ``factorization``).
    measurements : float or None
        Sensing: the ``grid.measurements`` value, read by `measurements_unit`.
    imbalance : float or None
        Asymmetric: varpi' / varpi.
    measurements_unit, operator : str or None
        Sensing: the ``sensing`` section (``ratio`` or ``count``; ``rank_one`` or ``goe``).

    Notes
    -----
    The problem fields enter :meth:`as_dict` (and so the batch key) only for problems other
    than factorization: a factorization point keeps the key it had before the problem axis.
    """

    d: int
    r: int
    kappa: float | None
    varpi: float
    varpi_exponent: float
    eta: float
    problem: str = "factorization"
    measurements: float | None = None
    imbalance: float | None = None
    measurements_unit: str | None = None
    operator: str | None = None

    @property
    def measurement_count(self) -> int | None:
        """Sensing: m for this point (ceil(measurements d r) for the unit ``ratio``)."""
        variant = ProblemVariant(0, self.problem, self.measurements, self.imbalance)
        return variant.measurement_count(self.d, self.r, self.measurements_unit)

    def simulate_options(self) -> dict:
        """The problem keyword arguments of :func:`mfsim.simulate` for this point."""
        if self.problem == "sensing":
            return {"problem": "sensing", "measurements": self.measurement_count,
                    "operator": self.operator}  # fmt: skip
        if self.problem == "asymmetric":
            return {"problem": "asymmetric", "imbalance": self.imbalance}
        return {}

    @property
    def varpi_effective(self) -> float:
        """The initialization scale used: ``varpi * d**-varpi_exponent``."""
        if self.d < FLOAT64_D_LIMIT:
            return self.varpi * float(self.d) ** -self.varpi_exponent
        # d beyond float64: d^-a = 10^(-a log10 d) (log10 of the exact int)
        return self.varpi * 10.0 ** (-self.varpi_exponent * math.log10(self.d))

    def as_dict(self) -> dict:
        """Return the fields as a plain dict."""
        return {
            "d": self.d,
            "r": self.r,
            "kappa": self.kappa,
            "varpi": self.varpi,
            "varpi_exponent": self.varpi_exponent,
            "eta": self.eta,
            **self._problem_fields(),
        }

    def _problem_fields(self) -> dict:
        if self.problem == "factorization":
            return {}
        fields = {"problem": self.problem}
        if self.problem == "sensing":
            fields.update(measurements=self.measurements, measurements_unit=self.measurements_unit,
                          operator=self.operator)  # fmt: skip
        else:
            fields["imbalance"] = self.imbalance
        return fields


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
    key : str, optional
        12 hex digits: sha1 of the canonical JSON of the grid point and the seeds
        (:func:`mfsim.plan.hashing.batch_key`), computed when not given. Does not depend on
        the cost model or on the run settings.
    """

    point: GridPoint
    seeds: tuple[int, ...]
    cost: float
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:  # expand_grid passes the same key, computed from cached texts
            key = batch_key(self.point.as_dict(), self.seeds, BATCH_KEY_LENGTH)
            object.__setattr__(self, "key", key)

    @property
    def n_runs(self) -> int:
        """Number of runs (seeds) in the batch."""
        return len(self.seeds)


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
    steps, stop_error = config.run.steps, config.run.stop_error
    # canonical texts of every axis value and seed block, once (Batch.key from them)
    texts = {axis: {value: number_text(value) for value in getattr(grid, axis)} for axis in AXES}
    exact = all(None not in axis.values() for axis in texts.values())
    block_texts = [seeds_text(block) for block in blocks]
    batches = []
    operator = sensing_options(config.as_dict())["operator"]
    problem_options = {"measurements_unit": grid.measurements_unit, "operator": operator}
    for d, r in product(grid.d, grid.r):
        for seeds, block_text in zip(blocks, block_texts, strict=True):
            for kappa, varpi, exponent, eta, variant in product(
                grid.kappa, grid.varpi, grid.varpi_exponent, grid.eta, grid.problems
            ):
                point = problem_point(
                    GridPoint(d, r, kappa, varpi, exponent, eta), variant, problem_options
                )
                rows, top = engine_shape(config, point)
                if point.problem == "factorization":
                    run_steps = steps_of(point, steps, stop_error, top)
                    cost = engine_seconds(r, rows, run_steps, len(seeds))
                else:
                    cost = problem_engine_seconds(point, steps, len(seeds))
                key = ""
                if exact and point.problem == "factorization":
                    values = {"d": d, "r": r, "kappa": kappa, "varpi": varpi, "eta": eta}
                    point_texts = {name: texts[name][v] for name, v in values.items()}
                    point_texts["varpi_exponent"] = texts["varpi_exponent"][exponent]
                    key = batch_key_of_texts(point_texts, block_text, BATCH_KEY_LENGTH)
                batches.append(Batch(point=point, seeds=seeds, cost=cost, key=key))
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
        Parsed (or validated) config (the ``chunking`` section).

    Returns
    -------
    list of Chunk
        Every batch in exactly one chunk, in canonical order.

    Raises
    ------
    ValueError
        The job budget ``chunking.max_jobs`` cannot be met.
    RuntimeError
        Two chunks with the same id (a hash collision: never expected).

    Notes
    -----
    ``target_seconds`` below is the *effective* target: ``chunking.target_seconds``, doubled
    as often as the job budget needs (``chunking.max_jobs``, ``chunking.min_job_seconds``;
    :func:`mfsim.plan.budget.choose_target`).

    The batches come in ``(d, r)`` groups, each in canonical order ``(seed block, kappa,
    varpi, varpi_exponent, eta)``. A *large* group (estimated cost above ``target_seconds`` or more
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
    return plan_chunks(config)[0]


def plan_chunks(config: SweepConfig | dict) -> tuple[list[Chunk], float]:
    """The chunks of :func:`make_chunks` and the effective chunk target they were packed at.

    Returns
    -------
    tuple
        ``(chunks, target)``: target in estimated engine seconds,
        ``chunking.target_seconds * 2^k`` (:func:`mfsim.plan.budget.choose_target`).

    Raises
    ------
    ValueError
        The job budget cannot be met (the message names ``chunking.max_jobs``).
    RuntimeError
        Two chunks with the same id (a hash collision: never expected).
    """
    config = as_sweep_config(config)
    max_runs = config.chunking.max_runs_per_chunk
    groups = []
    for _, group in groupby(expand_grid(config), key=_group_key):
        group = list(group)
        cost = math.fsum(batch.cost for batch in group)
        n_runs = sum(batch.n_runs for batch in group)
        key = content_hash([batch.key for batch in group], BATCH_KEY_LENGTH)
        groups.append((group, cost, n_runs, key))
    packed: dict[float, list[list[Batch]]] = {}

    def pack(target: float) -> list[list[Batch]]:
        if target not in packed:
            packed.clear()  # only the last packing is kept (memory)
            packed[target] = _pack_groups(groups, target, max_runs)
        return packed[target]

    total_cost = math.fsum(cost for _, cost, _, _ in groups)
    total_runs = sum(n_runs for _, _, n_runs, _ in groups)
    target = choose_target(
        lambda target: len(pack(target)), total_cost, total_runs, config.chunking
    )
    identity = config.identity
    chunks = []
    for members in pack(target):
        chunk_id = content_hash(
            {"batches": [batch.key for batch in members], **identity}, CHUNK_ID_LENGTH
        )
        cost = math.fsum(batch.cost for batch in members)
        chunks.append(Chunk(chunk_id=chunk_id, batches=tuple(members), cost=cost))
    if len({chunk.chunk_id for chunk in chunks}) != len(chunks):
        raise RuntimeError("chunking: two chunks have the same id (hash collision); report this")
    return chunks, target


def _pack_groups(groups: list, target: float, max_runs: int) -> list[list[Batch]]:
    """The batches of each chunk: large (d, r) groups batch by batch, consecutive small groups
    whole (:func:`make_chunks`)."""
    members_of_chunks: list[list[Batch]] = []
    small_groups: list[tuple[list[Batch], float, int, str]] = []
    for group, cost, n_runs, key in groups:
        if cost <= target and n_runs <= max_runs:
            small_groups.append((group, cost, n_runs, key))
            continue
        members_of_chunks += _pack(small_groups, target, max_runs)
        small_groups = []
        units = [([batch], batch.cost, batch.n_runs, batch.key) for batch in group]
        members_of_chunks += _pack(units, target, max_runs)
    members_of_chunks += _pack(small_groups, target, max_runs)
    return members_of_chunks


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
    per_run = {r: bytes_per_run(raw, n_recorded, r) for r in {b.point.r for b in chunk.batches}}
    diagnostic_bytes = sum(batch.n_runs * per_run[batch.point.r] for batch in chunk.batches)
    mem_mb = BASE_MEMORY_MB + math.ceil((iterate_bytes + diagnostic_bytes) / 1e6)
    # estimate_engine_seconds(point, n_runs, config, steps=run.steps), its arithmetic inlined
    steps = config.run.steps
    longest = math.fsum(
        engine_seconds(b.point.r, engine_shape(config, b.point)[0], steps, b.n_runs)
        for b in chunk.batches
    )
    runtime = max(MIN_RUNTIME_MINUTES, math.ceil(longest * RUNTIME_SAFETY_FACTOR / 60.0))
    return {"mem_mb": int(mem_mb), "runtime": int(runtime)}
