"""The typed, immutable sweep config: parsed once, read by everything downstream.

:func:`parse` validates a raw config (schema with defaults, semantic checks, limits:
:func:`mfsim.config.validate.load_config`) and converts it into frozen dataclasses with the
grid axes expanded and the derived values (recorded steps, spectrum parameters with the
eigenvalues file read once, the run identity) computed once. Nothing downstream of
:func:`parse` re-reads the raw dict or raises a :class:`~mfsim.config.errors.ConfigError`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mfsim.config.axes import grid_axes
from mfsim.config.errors import ConfigError
from mfsim.config.limits import run_recorded_steps
from mfsim.config.problems import (
    FACTORIZATION,
    ProblemVariant,
    problem_identity,
    problem_variants,
    sensing_options,
)
from mfsim.config.validate import load_config, read_eigenvalues_file
from mfsim.datamodel import AXES
from mfsim.spectrum_ties import TIE_PARAMETERS

__all__ = [
    "ChunkingSpec",
    "ClusterSpec",
    "GridSpec",
    "LimitsSpec",
    "RunSpec",
    "SpectrumSpec",
    "SweepConfig",
    "as_sweep_config",
    "parse",
]

#: Name of a sweep given as a mapping without ``sweep`` (the Python API).
INTERACTIVE_SWEEP = "interactive"


@dataclass(frozen=True)
class SpectrumSpec:
    """The ``spectrum`` section.

    Attributes
    ----------
    family : str
        ``linear``, ``flat``, ``staircase``, ``figure1`` or ``custom``.
    lambda_1, bulk_bottom : float
        Top eigenvalue and bottom of a linear bulk (``linear``, ``staircase``).
    levels : int or None
        Family ``staircase``: the number G of flat bulk levels (None: the family's default,
        :data:`mfsim.spectra.STAIRCASE_LEVELS`).
    eigenvalues_file : str or None
        Family ``custom``: the file, read once into `eigenvalues`.
    eigenvalues : tuple of float or None
        Family ``custom``: the eigenvalues in file order.
    eigenvalues_sha1 : str or None
        Family ``custom``: sha1 of the file's bytes (part of the run identity).
    top_gap, tie_tolerance : float or None
        lambda_1 - lambda_2 (linear, flat, staircase) and the gap up to which top eigenvalues
        form one cluster (:mod:`mfsim.spectrum_ties`); None: not passed.
    gap : tuple of (str, object) pairs, or None
        An eigengap that shrinks with d (:mod:`mfsim.gap_laws`), as sorted items.
    """

    family: str
    lambda_1: float
    bulk_bottom: float
    levels: int | None = None
    eigenvalues_file: str | None = None
    eigenvalues: tuple[float, ...] | None = None
    eigenvalues_sha1: str | None = None
    top_gap: float | None = None
    tie_tolerance: float | None = None
    gap: tuple | None = None

    @classmethod
    def from_section(cls, spectrum: Mapping) -> SpectrumSpec:
        """From a ``spectrum`` section (the ``custom`` eigenvalues file read here).

        Raises
        ------
        KeyError
            No ``family`` (or, for ``custom``, no ``eigenvalues_file``).
        mfsim.config.errors.ConfigError
            An unreadable or invalid eigenvalues file.
        """
        eigenvalues = sha1 = None
        if spectrum["family"] == "custom":
            path = spectrum["eigenvalues_file"]
            eigenvalues = tuple(float(v) for v in read_eigenvalues_file(path))
            sha1 = hashlib.sha1(Path(path).read_bytes()).hexdigest()
        return cls(
            family=spectrum["family"],
            # the schema's defaults, for sections written without them (e.g. in store attributes)
            lambda_1=float(spectrum.get("lambda_1", 1.0)),
            bulk_bottom=float(spectrum.get("bulk_bottom", 0.0)),
            levels=None if spectrum.get("levels") is None else int(spectrum["levels"]),
            eigenvalues_file=spectrum.get("eigenvalues_file"),
            eigenvalues=eigenvalues,
            eigenvalues_sha1=sha1,
            **{key: float(spectrum[key]) for key in TIE_PARAMETERS if key in spectrum},
            gap=None if spectrum.get("gap") is None else tuple(sorted(spectrum["gap"].items())),
        )

    def family_params(self) -> dict:
        """Keyword parameters of :func:`mfsim.spectrum` for this family (a fresh dict)."""
        ties = {key: getattr(self, key) for key in TIE_PARAMETERS if getattr(self, key) is not None}
        params = {**self._own_params(), **ties}
        if self.gap is not None:
            params["gap"] = dict(self.gap)
        return params

    def _own_params(self) -> dict:
        if self.family == "linear":
            return {"lambda_1": self.lambda_1, "bulk_bottom": self.bulk_bottom}
        if self.family == "flat":
            return {"lambda_1": self.lambda_1}
        if self.family == "staircase":
            params = {"lambda_1": self.lambda_1, "bulk_bottom": self.bulk_bottom}
            if self.levels is not None:
                params["levels"] = self.levels
            return params
        if self.family == "custom":
            return {"eigenvalues": np.asarray(self.eigenvalues, dtype=np.float64)}
        return {}


@dataclass(frozen=True)
class GridSpec:
    """The expanded grid axes: sorted value tuples; ``kappa`` is ``(None,)`` when the family
    fixes kappa (figure1, custom)."""

    d: tuple[int, ...]
    kappa: tuple[float | None, ...]
    varpi: tuple[float, ...]
    varpi_exponent: tuple[float, ...]
    eta: tuple[float, ...]
    r: tuple[int, ...]
    seed: tuple[int, ...]
    #: The ``problem`` dim (:func:`mfsim.config.problems.problem_variants`).
    problems: tuple[ProblemVariant, ...] = (ProblemVariant(0, FACTORIZATION),)
    #: ``sensing.measurements_unit`` (how a sensing variant's value is read).
    measurements_unit: str = "ratio"

    @property
    def has_problems(self) -> bool:
        """Whether the sweep runs anything besides factorization: then its stores have the
        ``problem`` dim (a factorization-only sweep keeps the layout it always had)."""
        return self.problems != (ProblemVariant(0, FACTORIZATION),)

    @property
    def problem_labels(self) -> list[str]:
        """The ``problem`` coordinate values, in dim order."""
        return [variant.label(self.measurements_unit) for variant in self.problems]

    @property
    def axes(self) -> dict[str, list]:
        """Axis name -> list of values, in the order of :data:`mfsim.datamodel.AXES`."""
        return {axis: list(getattr(self, axis)) for axis in AXES}

    @property
    def n_runs(self) -> int:
        """Number of runs (product of the axis lengths)."""
        n = 1
        for axis in AXES:
            n *= len(getattr(self, axis))
        return n * len(self.problems)

    @property
    def k_max(self) -> int:
        """The largest rank: the length of the ``k`` dim of the stores."""
        return max(self.r)


@dataclass(frozen=True)
class RunSpec:
    """The ``run`` section, typed; `recorded` is the recorded step grid (computed once)."""

    steps: int
    epsilons: tuple[float, ...]
    stop_error: float
    learned_tolerance: float
    heatmap_steps: tuple[int, ...]
    dtype: str
    recorded: tuple[int, ...]

    @property
    def recorded_steps(self) -> np.ndarray:
        """The recorded steps, int64 (shared by every run of the sweep)."""
        return np.asarray(self.recorded, dtype=np.int64)

    def simulate_kwargs(self) -> dict:
        """Keyword arguments of :func:`mfsim.simulate` (a fresh dict)."""
        return {
            "steps": self.steps,
            # the explicit grid, so the step coordinate is a function of the config
            "record": self.recorded_steps,
            "epsilons": self.epsilons,
            "stop_error": self.stop_error,
            "learned_tolerance": self.learned_tolerance,
            "heatmap_steps": self.heatmap_steps,
            "dtype": self.dtype,
        }


@dataclass(frozen=True)
class ChunkingSpec:
    """The ``chunking`` section: batch and chunk sizes of the plan."""

    target_seconds: float
    max_runs_per_chunk: int
    seeds_per_batch: int
    max_jobs: int
    min_job_seconds: float


@dataclass(frozen=True)
class LimitsSpec:
    """The ``limits`` section."""

    max_runs: int
    max_bytes: int


@dataclass(frozen=True)
class ClusterSpec:
    """The ``dask`` section: where the batches run.

    ``kind`` is ``local``, ``address`` or ``slurm``; the section itself is kept as canonical
    JSON (`section_json`) and returned by :meth:`as_dict`.
    """

    kind: str
    dashboard: bool
    section_json: str

    def as_dict(self) -> dict:
        """The ``dask`` section as a fresh dict."""
        return json.loads(self.section_json)


@dataclass(frozen=True)
class SweepConfig:
    """A parsed, validated sweep config.

    Attributes
    ----------
    sweep : str
        The sweep name (``results/<sweep>/``).
    spectrum, grid, run, chunking, limits, cluster
        The typed sections.
    identity_json : str
        Canonical JSON of the settings besides the batches that change results
        (:attr:`identity`).
    raw_json : str
        The validated config with defaults (provenance; :meth:`as_dict`).
    """

    sweep: str
    spectrum: SpectrumSpec
    grid: GridSpec
    run: RunSpec
    chunking: ChunkingSpec
    limits: LimitsSpec
    cluster: ClusterSpec
    identity_json: str
    raw_json: str

    def as_dict(self) -> dict:
        """The validated config as a fresh dict (defaults injected)."""
        return json.loads(self.raw_json)

    @property
    def identity(self) -> dict:
        """The ``spectrum`` section (for ``custom`` the file replaced by the sha1 of its bytes)
        and the ``run`` section (``record`` replaced by the sha1 of the recorded steps)."""
        return json.loads(self.identity_json)

    @classmethod
    def from_validated(cls, config: Mapping) -> SweepConfig:
        """Build from a config already validated by
        :func:`mfsim.config.validate.load_config` (defaults injected)."""
        config = copy.deepcopy(dict(config))
        spectrum = config["spectrum"]
        run = config["run"]
        recorded = run_recorded_steps(run)
        spectrum_spec = SpectrumSpec.from_section(spectrum)
        identity_spectrum = dict(spectrum)
        if "eigenvalues_file" in identity_spectrum:
            identity_spectrum.pop("eigenvalues_file")
            identity_spectrum["eigenvalues_sha1"] = spectrum_spec.eigenvalues_sha1
        identity_run = dict(run)
        identity_run["record"] = hashlib.sha1(recorded.astype("<i8").tobytes()).hexdigest()
        axes = grid_axes(config)
        variants = problem_variants(config)
        unit = sensing_options(config)["measurements_unit"]
        identity = {"spectrum": identity_spectrum, "run": identity_run, **problem_identity(config)}
        chunking = config["chunking"]
        dask = config["dask"]
        return cls(
            sweep=config["sweep"],
            spectrum=spectrum_spec,
            grid=GridSpec(
                **{axis: tuple(values) for axis, values in axes.items()},
                problems=variants,
                measurements_unit=unit,
            ),
            run=RunSpec(
                steps=int(run["steps"]),
                epsilons=tuple(float(e) for e in run["epsilons"]),
                stop_error=float(run["stop_error"]),
                learned_tolerance=float(run["learned_tolerance"]),
                heatmap_steps=tuple(int(s) for s in run["heatmap_steps"]),
                dtype=run["dtype"],
                recorded=tuple(int(s) for s in recorded),
            ),
            chunking=ChunkingSpec(
                target_seconds=float(chunking["target_seconds"]),
                max_runs_per_chunk=int(chunking["max_runs_per_chunk"]),
                seeds_per_batch=int(chunking["seeds_per_batch"]),
                max_jobs=int(chunking["max_jobs"]),
                min_job_seconds=float(chunking["min_job_seconds"]),
            ),
            limits=LimitsSpec(
                max_runs=int(config["limits"]["max_runs"]),
                max_bytes=int(config["limits"]["max_bytes"]),
            ),
            cluster=ClusterSpec(
                kind=dask["cluster"],
                dashboard=bool(dask.get("dashboard")),
                section_json=json.dumps(dask),
            ),
            identity_json=json.dumps(identity),
            raw_json=json.dumps(config),
        )


def parse(
    path_or_config: str | Path | Mapping | SweepConfig,
    *,
    results_root: str | Path | None = None,
) -> SweepConfig:
    """Validate a raw config and return it typed: the one parsing path of mfsim.

    Parameters
    ----------
    path_or_config : path, mapping or SweepConfig
        A config file (YAML/JSON), a raw or validated mapping (a mapping without ``sweep`` is
        named ``interactive``), or an already parsed config (returned as is).
    results_root : path, optional
        Where ``<sweep>/`` will be written, for the free-disk-space check; None skips it.

    Returns
    -------
    SweepConfig

    Raises
    ------
    mfsim.config.errors.ConfigError
        Schema violations, semantic problems, a sweep above the limits; the message names
        the key path.
    """
    if isinstance(path_or_config, SweepConfig):
        return path_or_config
    if isinstance(path_or_config, Mapping) and "sweep" not in path_or_config:
        path_or_config = {"sweep": INTERACTIVE_SWEEP, **path_or_config}
    return SweepConfig.from_validated(load_config(path_or_config, results_root=results_root))


def as_sweep_config(config: Mapping | SweepConfig) -> SweepConfig:
    """A :class:`SweepConfig` from a *validated* mapping (or the config itself)."""
    if isinstance(config, SweepConfig):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(f"expected a validated config mapping, got {type(config).__name__}")
    return SweepConfig.from_validated(config)
