"""The cost model of the plan: engine rows, steps and seconds of the runs of a grid point.

Chunks are packed by these estimates (:func:`mfsim.plan.grid.make_chunks`), so chunk ids
depend on the two calibration constants below: recalibrating them changes chunk ids.
"""

from __future__ import annotations

import functools
import json
import math

from mfsim.config.model import SweepConfig, as_sweep_config
from mfsim.datamodel import FLOAT64_D_LIMIT
from mfsim.spectra import STAIRCASE_LEVELS

__all__ = [
    "JOB_START_SECONDS",
    "ENGINE_SECONDS_PER_DIAGNOSTIC_STEP",
    "ENGINE_SECONDS_PER_ROW_STEP",
    "engine_rows",
    "engine_seconds",
    "engine_shape",
    "estimate_engine_seconds",
    "estimate_steps",
    "steps_of",
]

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
    point, n_seeds: int, config: SweepConfig | dict, steps: int | None = None
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
    small d). This is also the cost chunks are packed by
    (:func:`mfsim.plan.grid.make_chunks`), so chunk ids depend on the two constants:
    recalibrating them changes chunk ids (a sweep's chunks then run again once).
    """
    config = as_sweep_config(config)
    rows, top = engine_shape(config, point)
    if steps is None:
        steps = steps_of(point, config.run.steps, config.run.stop_error, top)
    return engine_seconds(point.r, rows, steps, n_seeds)


def engine_seconds(r: int, rows: int, steps: int, n_seeds: int) -> float:
    """The arithmetic of :func:`estimate_engine_seconds` for a known engine shape."""
    per_step = rows * r**2 * ENGINE_SECONDS_PER_ROW_STEP
    per_step += r**2 * (r + 2) * ENGINE_SECONDS_PER_DIAGNOSTIC_STEP
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


@functools.lru_cache(maxsize=64)
def _params_json(spectrum) -> str:
    params = spectrum.family_params()
    if "eigenvalues" in params:
        params["eigenvalues"] = [float(v) for v in params["eigenvalues"]]
    return json.dumps(params, sort_keys=True, default=str)


def engine_shape(config: SweepConfig, point) -> tuple:
    """``(rows, top)`` of a grid point: the engine's rows and the top r + 1 eigenvalues."""
    params_json = _params_json(config.spectrum)
    return _engine_shape(config.spectrum.family, params_json, point.d, point.r, point.kappa)


def estimate_steps(point, config: SweepConfig | dict) -> int:
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
    _, top = engine_shape(config, point)
    return steps_of(point, config.run.steps, config.run.stop_error, top)


def _ln(d: int) -> float:
    """ln d: of its float64 value in float64's range (the estimates of existing configs, and
    so their chunk ids, stay bit-identical), of the exact int beyond."""
    return math.log(float(d)) if d < FLOAT64_D_LIMIT else math.log(d)


def steps_of(point, steps: int, stop_error: float, top: tuple) -> int:
    """The arithmetic of :func:`estimate_steps` for known top eigenvalues `top`."""
    if stop_error <= 0 or len(top) <= point.r:
        return steps
    eta, varpi = point.eta, point.varpi_effective
    lam_r, lam_next = top[point.r - 1], top[point.r]
    gap = lam_r - lam_next
    growth = math.log1p(eta * lam_r) - math.log1p(eta * lam_next)
    if gap <= 0 or growth <= 0 or varpi <= 0:
        return steps
    rise = max(0.0, (_ln(point.d) - 2 * math.log(varpi)) / (2 * growth))
    decay = math.log(1.0 / stop_error) / (eta * gap)
    return int(min(steps, math.ceil(rise + decay)))
