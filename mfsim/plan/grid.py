"""Grid expansion, batches, cost model and chunking of a sweep.

Everything here is a pure function of a *validated* config
(see :func:`mfsim.config.validate.load_config`).

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

import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field
from itertools import groupby, product
from pathlib import Path
from typing import Any

import numpy as np

from mfsim.config.validate import ConfigError
from mfsim.engine import recording

__all__ = [
    "AXES",
    "Batch",
    "Chunk",
    "GridPoint",
    "batch_cost",
    "check_free_space",
    "check_limits",
    "content_hash",
    "count_runs",
    "engine_rows",
    "estimate_resources",
    "estimate_store_bytes",
    "expand_grid",
    "expand_values",
    "grid_axes",
    "make_chunks",
    "recorded_steps",
    "run_identity",
    "seed_blocks",
]

#: Dimension order of the grid axes in the sweep store.
AXES = ("d", "kappa", "varpi", "varpi_exponent", "eta", "r", "seed")

#: Per-step diagnostics that do not depend on k (error, sigma1_sq_X, sigmar_sq_U, sigma1_sq_J,
#: in_S, in_R) and those recorded per signal index k (signal, noise, sigma1_sq_K).
PER_STEP_VARIABLES = 6
PER_STEP_VARIABLES_PER_K = 3

#: Stage/outcome variables per run: per k (t_init, T_u, t_k, t_k_star,
#: t_k_star_bound_dominated, rise, learned, escape, plateau), per seed (first_in_S, first_in_R,
#: t_R, status, stop_step, wall_time), plus t_eps (one per eps) and top_gram (9 per heatmap step).
STAGE_VARIABLES_PER_K = 9
STAGE_VARIABLES_PER_RUN = 6
TOP_GRAM_SIZE = 9

BYTES_PER_VALUE = 8
ITERATE_COPIES = 4
BASE_MEMORY_MB = 500
RUNTIME_SAFETY_FACTOR = 3.0
MIN_RUNTIME_MINUTES = 15  # a cold numba cache costs minutes of compilation in the first job
BATCH_KEY_LENGTH = 12
CHUNK_ID_LENGTH = 16
SIGNIFICANT_DIGITS = 12


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
# value expansion


def _round_significant(value: float) -> float:
    """Round to :data:`SIGNIFICANT_DIGITS` significant digits (stable range values)."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") + 0.0


def _range_values(spec: dict, key: str) -> np.ndarray:
    start, stop, num = float(spec["start"]), float(spec["stop"]), int(spec["num"])
    spacing = spec["spacing"]
    if num == 1:
        if start != stop:
            raise ConfigError(
                f"{key}: a range with num = 1 needs start == stop (got start = {start:g}, "
                f"stop = {stop:g}); use a list for a single value"
            )
        return np.array([start])
    if spacing == "linear":
        return np.linspace(start, stop, num)
    if spacing == "log":
        if start <= 0 or stop <= 0:
            raise ConfigError(f"{key}: a log range needs start > 0 and stop > 0")
        return np.geomspace(start, stop, num)
    raise ConfigError(f"{key}.spacing: {spacing!r} is not one of 'linear', 'log'")


def _as_integer(value: float, key: str) -> int:
    if not float(value).is_integer():
        raise ConfigError(f"{key}: {value!r} is not an integer")
    return int(value)


def expand_values(spec: list | dict, integer: bool = False, *, key: str = "grid") -> list:
    """Expand a list or range spec of one grid axis into its sorted values.

    Parameters
    ----------
    spec : list or dict
        A list ``[a, b, ...]``; a range ``{start, stop, num, spacing: linear|log}`` with
        inclusive endpoints; or (integers only) a count ``{start: 0, count: n}`` meaning
        ``start, start + 1, ..., start + n - 1``.
    integer : bool, default False
        Integer axis (d, r, seeds): range values are rounded to the nearest integer.
    key : str, default "grid"
        Key path used in error messages, e.g. ``"grid.d"``.

    Returns
    -------
    list
        Sorted unique values: ``int`` when `integer`, else ``float``.

    Raises
    ------
    mfsim.config.validate.ConfigError
        Empty list, duplicate values, rounding that collapses range values onto the same
        integer, a single-point range with ``start != stop``, a non-integer in an integer list.

    Notes
    -----
    Range values (not list values) are rounded to 12 significant digits so that they, and the
    content hashes built from them, do not depend on the last bits of ``numpy.geomspace``.
    """
    if isinstance(spec, list | tuple):
        if len(spec) == 0:
            raise ConfigError(f"{key}: the list is empty; give at least one value")
        if integer:
            values = [_as_integer(value, key) for value in spec]
        else:
            values = [float(value) + 0.0 for value in spec]
        if len(set(values)) != len(values):
            raise ConfigError(f"{key}: duplicate values in {list(spec)}")
        return sorted(values)
    if not isinstance(spec, dict):
        raise ConfigError(f"{key}: expected a list or a range spec, got {spec!r}")
    if "count" in spec:
        if not integer:
            raise ConfigError(f"{key}: {{start, count}} is only allowed for integer axes (seeds)")
        start = _as_integer(spec.get("start", 0), f"{key}.start")
        return list(range(start, start + int(spec["count"])))
    raw = _range_values(spec, key)
    if integer:
        values = sorted({int(value) for value in np.rint(raw)})
        if len(values) != len(raw):
            raise ConfigError(
                f"{key}: rounding the range to integers collapses {len(raw)} values to "
                f"{len(values)} ({values}); use a smaller num or a wider range"
            )
        return values
    values = sorted({_round_significant(value) for value in raw})
    if len(values) != len(raw):
        raise ConfigError(f"{key}: the range gives repeated values; check start, stop and num")
    return values


def _varpi_specs(varpi_spec: list | dict) -> tuple[list | dict, list | dict]:
    """Split a varpi spec into (scale spec, exponent spec); a plain spec has exponent [0.0]."""
    if isinstance(varpi_spec, dict) and "scale" in varpi_spec:
        return varpi_spec["scale"], varpi_spec["exponent"]
    return varpi_spec, [0.0]


def grid_axes(config: dict) -> dict[str, list]:
    """Expand every grid axis of a validated config.

    Parameters
    ----------
    config : dict
        Validated config (defaults injected).

    Returns
    -------
    dict
        Keys :data:`AXES` (``d, kappa, varpi, varpi_exponent, eta, r, seed``), each a sorted
        list of values; ``kappa`` is ``[None]`` when the family fixes kappa (figure1, custom).
    """
    grid = config["grid"]
    scale_spec, exponent_spec = _varpi_specs(grid["varpi"])
    kappa_spec = grid.get("kappa")
    return {
        "d": expand_values(grid["d"], integer=True, key="grid.d"),
        "kappa": [None] if kappa_spec is None else expand_values(kappa_spec, key="grid.kappa"),
        "varpi": expand_values(scale_spec, key="grid.varpi"),
        "varpi_exponent": expand_values(exponent_spec, key="grid.varpi.exponent"),
        "eta": expand_values(grid["eta"], key="grid.eta"),
        "r": expand_values(grid["r"], integer=True, key="grid.r"),
        "seed": expand_values(grid["seeds"], integer=True, key="grid.seeds"),
    }


def count_runs(config: dict) -> int:
    """Return the number of runs of the sweep (product of the axis lengths).

    Parameters
    ----------
    config : dict
        Validated config.

    Returns
    -------
    int
        Number of runs, which is also the number of (grid point, seed) cells of the store.
    """
    return math.prod(len(values) for values in grid_axes(config).values())


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
        Estimated compute seconds (see :func:`batch_cost`).

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


def engine_rows(d: int, r: int, family: str) -> int:
    """Number of rows of the iterate the engine works on.

    Parameters
    ----------
    d, r : int
        Dimension and rank.
    family : str
        Spectrum family.

    Returns
    -------
    int
        ``d``, except for the ``flat`` family: ``min(d, 3 r + 3)``.

    Notes
    -----
    With a flat bulk the engine runs a reduced problem (Bartlett-reduced initialization) whose
    iterate has ``r + 2 r + 3`` rows whatever d is, so the cost of a flat-bulk run does not grow
    with d. This is what lets the flat family reach d = 1e12.
    """
    if family == "flat":
        return min(d, 3 * r + 3)
    return d


def batch_cost(point: GridPoint, n_seeds: int, config: dict) -> float:
    """Estimated compute seconds of a batch: ``steps * rows * r^2 * seconds_per_unit * n_seeds``.

    Parameters
    ----------
    point : GridPoint
        The grid point.
    n_seeds : int
        Number of runs in the batch.
    config : dict
        Validated config (``run.steps``, ``chunking.seconds_per_unit``, ``spectrum.family``).

    Returns
    -------
    float
        Seconds; an upper bound since runs may stop before ``run.steps``.
    """
    rows = engine_rows(point.d, point.r, config["spectrum"]["family"])
    steps = int(config["run"]["steps"])
    unit = float(config["chunking"]["seconds_per_unit"])
    return steps * rows * point.r**2 * unit * n_seeds


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
    axes = grid_axes(config)
    blocks = seed_blocks(axes["seed"], int(config["chunking"]["seeds_per_batch"]))
    batches = []
    for d, r, seeds, kappa, varpi, exponent, eta in product(
        axes["d"],
        axes["r"],
        blocks,
        axes["kappa"],
        axes["varpi"],
        axes["varpi_exponent"],
        axes["eta"],
    ):
        point = GridPoint(d=d, r=r, kappa=kappa, varpi=varpi, varpi_exponent=exponent, eta=eta)
        batches.append(Batch(point=point, seeds=seeds, cost=batch_cost(point, len(seeds), config)))
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


def _file_sha1(path: str) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def run_identity(config: dict) -> dict:
    """The settings, besides the batches, that change the results of a run.

    Parameters
    ----------
    config : dict
        Validated config.

    Returns
    -------
    dict
        The ``spectrum`` section (for ``custom`` the file path is replaced by the sha1 of the
        file's bytes, so editing the file changes chunk ids and moving it does not) and the
        ``run`` section (``record`` replaced by the sha1 of :func:`recorded_steps`, so options
        that do not change the recorded steps do not change chunk ids).
    """
    spectrum = dict(config["spectrum"])
    if "eigenvalues_file" in spectrum:
        spectrum["eigenvalues_sha1"] = _file_sha1(spectrum.pop("eigenvalues_file"))
    run = dict(config["run"])
    steps = recorded_steps(run)
    run["record"] = hashlib.sha1(steps.astype("<i8").tobytes()).hexdigest()
    return {"spectrum": spectrum, "run": run}


def _is_content_boundary(batch: Batch, target_seconds: float) -> bool:
    """Whether a chunk ends after `batch` whatever precedes it.

    The batch key read as a number in [0, 1) is compared with ``1 - exp(-cost / target)``:
    boundaries occur on average once per `target_seconds` of cost.
    """
    uniform = int(batch.key, 16) / 16 ** len(batch.key)
    return uniform < -math.expm1(-batch.cost / target_seconds)


def _pack_group(batches: list[Batch], target_seconds: float, max_runs: int) -> list[list[Batch]]:
    """Pack consecutive batches of one (d, r) group; see :func:`make_chunks`."""
    packed: list[list[Batch]] = []
    current: list[Batch] = []
    current_cost = 0.0
    current_runs = 0
    for batch in batches:
        too_costly = current_cost + batch.cost > target_seconds
        too_many = current_runs + batch.n_runs > max_runs
        if current and (too_costly or too_many):
            packed.append(current)
            current, current_cost, current_runs = [], 0.0, 0
        current.append(batch)
        current_cost += batch.cost
        current_runs += batch.n_runs
        if _is_content_boundary(batch, target_seconds):
            packed.append(current)
            current, current_cost, current_runs = [], 0.0, 0
    if current:
        packed.append(current)
    return packed


def make_chunks(config: dict) -> list[Chunk]:
    """Pack the batches of a validated config into chunks (one Snakemake job each).

    Parameters
    ----------
    config : dict
        Validated config (``chunking.target_seconds``, ``chunking.max_runs_per_chunk``).

    Returns
    -------
    list of Chunk
        Every batch in exactly one chunk, in canonical order.

    Raises
    ------
    mfsim.config.validate.ConfigError
        Two chunks with the same id (a hash collision: never expected).

    Notes
    -----
    Packing, within each ``(d, r)`` group of batches in canonical order
    ``(seed block, kappa, varpi, varpi_exponent, eta)``, closes a chunk

    * before a batch that would push it over ``target_seconds`` of estimated cost or over
      ``max_runs_per_chunk`` runs (a batch costlier than the target is a chunk of its own);
    * after a *content boundary*: a batch whose key, read as a number u in [0, 1), satisfies
      ``u < 1 - exp(-cost / target_seconds)`` (content-defined chunking, as in rsync).

    Properties:

    * chunk membership and ids depend only on the config (not on dict order or on calls);
    * chunks never mix ``(d, r)`` values, so adding or changing a d or r value leaves every
      chunk of the other ``(d, r)`` pairs unchanged;
    * adding seeds (new seed blocks, packed after the existing ones) changes at most the last
      chunk of each ``(d, r)`` group;
    * adding or changing a value of another axis changes the chunks holding the new batches
      and, thanks to the content boundaries, about one neighbouring chunk each, instead of
      shifting every later chunk boundary of the group. The outer the axis in the packing
      order (kappa, then varpi, ...), the fewer chunks change: a new eta value touches every
      run of ``varpi_exponent``, so most chunks of the group change when chunks are large;
    * mean chunk cost is about 0.6 ``target_seconds`` for small batches; big-d chunks hold
      fewer runs since a run's cost grows with d; a small ``(d, r)`` group is a small chunk.
    """
    target = float(config["chunking"]["target_seconds"])
    max_runs = int(config["chunking"]["max_runs_per_chunk"])
    identity = run_identity(config)
    chunks = []
    for _, group in groupby(expand_grid(config), key=_group_key):
        for members in _pack_group(list(group), target, max_runs):
            chunk_id = content_hash(
                {"batches": [batch.key for batch in members], **identity}, CHUNK_ID_LENGTH
            )
            cost = math.fsum(batch.cost for batch in members)
            chunks.append(Chunk(chunk_id=chunk_id, batches=tuple(members), cost=cost))
    if len({chunk.chunk_id for chunk in chunks}) != len(chunks):
        raise ConfigError("chunking: two chunks have the same id (hash collision); report this")
    return chunks


def _group_key(batch: Batch) -> tuple[int, int]:
    return batch.point.d, batch.point.r


# --------------------------------------------------------------------------------------------
# recording policy and size estimates


def recorded_steps(run_config: dict) -> np.ndarray:
    """The recorded step grid shared by all runs of a sweep.

    Parameters
    ----------
    run_config : dict
        The validated ``run`` section: ``steps`` and ``record`` (``policy``, ``stride``,
        ``num``).

    Returns
    -------
    numpy.ndarray of int64
        Sorted unique steps, always including 0 and ``steps``.

    Notes
    -----
    Delegates to :func:`mfsim.engine.recording.recorded_steps`, which the engine uses, so the
    estimate and the store agree. Policies: ``all`` every step; ``stride`` every ``stride`` steps;
    ``log`` about ``num`` log-spaced steps; ``auto`` is ``all`` when ``steps <= 10000``, else
    ``log`` with about 1000 steps.
    """
    record = run_config.get("record", {})
    return recording.recorded_steps(
        int(run_config["steps"]),
        policy=record.get("policy", "auto"),
        stride=record.get("stride"),
        num=record.get("num"),
    )


def _bytes_per_run(config: dict, n_recorded: int, r: int) -> int:
    """Bytes of one run's diagnostics: per-step variables plus stage variables."""
    run = config["run"]
    per_step = PER_STEP_VARIABLES + PER_STEP_VARIABLES_PER_K * r
    stages = (
        STAGE_VARIABLES_PER_K * r
        + STAGE_VARIABLES_PER_RUN
        + len(run["epsilons"])
        + TOP_GRAM_SIZE * len(run["heatmap_steps"])
    )
    return (n_recorded * per_step + stages) * BYTES_PER_VALUE


def estimate_store_bytes(config: dict) -> int:
    """Estimated bytes of the (uncompressed) sweep store.

    Parameters
    ----------
    config : dict
        Validated config.

    Returns
    -------
    int
        ``runs * (recorded steps * (6 + 3 max r) + stage variables) * 8``: the store is dense
        over the grid dims and its ``k`` dimension has length ``max r``.
    """
    n_recorded = recorded_steps(config["run"]).size
    max_r = max(grid_axes(config)["r"])
    return count_runs(config) * _bytes_per_run(config, n_recorded, max_r)


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
        recorded diagnostics; ``runtime`` (int, minutes): ``cost * 3`` seconds, at least 5.
    """
    n_recorded = recorded_steps(config["run"]).size
    family = config["spectrum"]["family"]
    iterates = max(
        batch.n_runs * engine_rows(batch.point.d, batch.point.r, family) * batch.point.r
        for batch in chunk.batches
    )
    iterate_bytes = iterates * BYTES_PER_VALUE * ITERATE_COPIES
    diagnostic_bytes = sum(
        batch.n_runs * _bytes_per_run(config, n_recorded, batch.point.r) for batch in chunk.batches
    )
    mem_mb = BASE_MEMORY_MB + math.ceil((iterate_bytes + diagnostic_bytes) / 1e6)
    runtime = max(MIN_RUNTIME_MINUTES, math.ceil(chunk.cost * RUNTIME_SAFETY_FACTOR / 60.0))
    return {"mem_mb": int(mem_mb), "runtime": int(runtime)}


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _format_bytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.3g} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.3g} MB"


def check_limits(config: dict, results_root: str | Path | None = "results") -> None:
    """Refuse a sweep that is too large, before any work.

    Parameters
    ----------
    config : dict
        Validated config.
    results_root : str or Path or None, default "results"
        Directory holding ``<sweep>/``; the free space of its file system (or of its nearest
        existing parent) must exceed the estimated store size. None skips the disk check.

    Raises
    ------
    mfsim.config.validate.ConfigError
        More runs than ``limits.max_runs``, an estimated store larger than ``limits.max_bytes``
        or than the free disk space; the message states the estimate.
    """
    limits = config["limits"]
    n_runs = count_runs(config)
    if n_runs > int(limits["max_runs"]):
        raise ConfigError(
            f"limits.max_runs: the grid has an estimated {n_runs:,} runs, more than "
            f"limits.max_runs = {int(limits['max_runs']):,}; shrink the grid or raise the limit"
        )
    store_bytes = estimate_store_bytes(config)
    if store_bytes > int(limits["max_bytes"]):
        raise ConfigError(
            f"limits.max_bytes: the sweep store needs an estimated {store_bytes:,} bytes "
            f"({_format_bytes(store_bytes)}), more than limits.max_bytes = "
            f"{int(limits['max_bytes']):,}; record fewer steps (run.record), shrink the grid or "
            "raise the limit"
        )
    if results_root is None:
        return
    check_free_space(config, Path(results_root) / config["sweep"], store_bytes)


def check_free_space(config: dict, target: str | Path, store_bytes: int | None = None) -> None:
    """Refuse a sweep whose estimated store is larger than the free space for `target`.

    Parameters
    ----------
    config : dict
        Validated config.
    target : str or Path
        The sweep directory (``results/<sweep>``); the free space of its file system (or of its
        nearest existing parent) is compared with the estimate.
    store_bytes : int, optional
        The estimate, if already known (default :func:`estimate_store_bytes`).

    Raises
    ------
    mfsim.config.validate.ConfigError
        ``limits.max_bytes: ...`` stating the estimate and the free space.
    """
    if store_bytes is None:
        store_bytes = estimate_store_bytes(config)
    target = Path(target)
    free = shutil.disk_usage(_existing_ancestor(target)).free
    if store_bytes > free:
        raise ConfigError(
            f"limits.max_bytes: the sweep store needs an estimated {store_bytes:,} bytes "
            f"({_format_bytes(store_bytes)}) but only {free:,} bytes ({_format_bytes(free)}) "
            f"are free for {target}"
        )
