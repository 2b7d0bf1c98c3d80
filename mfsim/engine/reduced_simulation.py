"""``simulate`` for reduced systems: the lean exponent-carrying kernel of
:mod:`mfsim.engine.reduced`, d up to 10^10000, the same Dataset as the plain engine.

Diagnostics whose value lies below float64's range (the signals, noise, noise floor,
sigma_r^2(U) and top Gram block of the first steps at d > 10^308) are 0 in their float64
variables (docs/design.md); the stage analysis uses their exact exponent-carrying values, and
``keep_pairs=True`` returns those too.
"""

from __future__ import annotations

import math
import time

import numpy as np

from mfsim.engine.compilation import compiling
from mfsim.engine.dataset import build_dataset
from mfsim.engine.exponent_init import (
    MAX_EXPONENT_LOG10_D,
    exponent_initial_state,
    split_rows,
)
from mfsim.engine.initialization import EffectiveSystem, reduce_explicit
from mfsim.engine.recording import recorded_steps
from mfsim.engine.reduced import (
    ReducedState,
    RunConstants,
    new_records,
    run_reduced_batch,
)
from mfsim.engine.reduced_fast import run_reduced_fast
from mfsim.engine.reduced_stages import (
    finalize_stages,
    new_stage_state,
    stage_constants,
)
from mfsim.engine.stages import StageTracker

__all__ = ["simulate_reduced", "check_huge_dimension", "row_eigenvalues"]

# steps per kernel call: the progress bar advances between calls
_CALL_STEPS = 1 << 16


def check_huge_dimension(d) -> None:
    """Raise ValueError unless 1 <= d <= 10^MAX_EXPONENT_LOG10_D."""
    if not (d >= 1 and math.log10(d) <= MAX_EXPONENT_LOG10_D):
        raise ValueError(
            f"d = 10^{math.log10(d):.6g} is out of range: the reduced engine supports "
            f"d <= 10^{MAX_EXPONENT_LOG10_D:g}"
        )


def row_eigenvalues(system: EffectiveSystem) -> np.ndarray:
    """The eigenvalue of every effective row, ``first + increment * float(j)`` per segment (the
    plain engine's expression)."""
    out = []
    for seg in system.segments:
        for j in range(seg.count):
            out.append(seg.first + seg.increment * float(j))
    return np.asarray(out, dtype=np.float64)


def initial_rows(system, varpi, seeds, X0):  # noqa: N803
    """(mantissa, exponent, seeds, varpi) of the batch: sampled, or from explicit X_0."""
    spec = system.spectrum
    if X0 is None:
        pairs = [exponent_initial_state(system, varpi, int(s)) for s in seeds]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), seeds, varpi
    x0 = np.asarray(X0, dtype=np.float64)
    x0 = x0[None] if x0.ndim == 2 else x0
    if x0.shape[1:] != (spec.d, spec.r):
        raise ValueError(f"X0 must have shape (d, r) = ({spec.d}, {spec.r}), got {x0.shape[1:]}")
    pairs = [split_rows(reduce_explicit(system, x)) for x in x0]
    if len(seeds) != len(x0):
        seeds = np.arange(len(x0), dtype=np.int64)
    varpi = float(np.sqrt(np.mean(np.sum(x0**2, axis=(1, 2))) / spec.r))
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), seeds, varpi


def simulate_reduced(
    system: EffectiveSystem,
    *,
    eta,
    steps,
    varpi,
    seeds,
    X0,  # noqa: N803
    epsilons,
    stop_error,
    learned_tolerance,
    record,
    record_stride,
    record_num,
    heatmap_steps,
    floor_factor,
    progress_bar,
    attrs,
    keep_pairs=False,
    layout="fast",
):
    """Run a batch on a reduced system (arguments as :func:`mfsim.simulate`, checked there).

    layout : {'fast', 'step'}
        ``fast`` (default): the steps on which the stage analysis provably does nothing are
        short-cut (:mod:`mfsim.engine.reduced_fast`); ``step``: every step through the stop
        rules and the stage analysis (:func:`mfsim.engine.reduced.run_reduced_batch`), the
        reference. Same bits.
    keep_pairs : bool
        Also return the :class:`mfsim.engine.reduced.Records`: every recorded diagnostic that
        can lie below float64's range as (mantissa, exponent) pairs, exact at any d.

    Returns
    -------
    xarray.Dataset
        The plain engine's variables (``docs/design.md``); with ``keep_pairs``, (Dataset,
        Records).
    """
    spec = system.spectrum
    r = spec.r
    check_huge_dimension(spec.d)
    seeds = np.atleast_1d(np.asarray(seeds, dtype=np.int64))
    mant, expo, seeds, varpi = initial_rows(system, varpi, seeds, X0)
    n_runs = mant.shape[0]
    state = ReducedState(
        np.ascontiguousarray(mant),
        np.ascontiguousarray(expo),
        np.full(n_runs, -1, dtype=np.int64),
        np.full(n_runs, -1, dtype=np.int64),
    )
    top_lam = spec.top(r)
    growth = 1.0 + float(eta) * row_eigenvalues(system)
    consts = RunConstants(
        growth,
        top_lam,
        float(eta),
        float(spec.lambda_1),
        float(stop_error),
        float(floor_factor),
        int(steps),
        float(spec.Delta),
    )
    record_grid = recorded_steps(steps, record, record_stride, record_num)
    heat = np.asarray(sorted({int(s) for s in heatmap_steps if 0 <= s <= steps}), dtype=np.int64)
    rec = new_records(n_runs, r, record_grid, heat, steps)
    tracker = StageTracker(n_runs, r, top_lam, spec.Delta, eta, epsilons, learned_tolerance)
    sc = stage_constants(tracker)
    st = new_stage_state(n_runs, r, len(epsilons))
    tok = (0,) * r
    if layout not in ("fast", "step"):
        raise ValueError(f"layout must be 'fast' or 'step', got {layout!r}")

    def advance(st, rec, t0, t1):
        if layout == "fast":
            run_reduced_fast(tok, state, consts, sc, st, rec, t0, t1)
        else:
            run_reduced_batch(tok, state, consts, sc, st, rec, t0, t1)

    with compiling(("reduced", layout, r)):
        advance(new_stage_state(n_runs, r, len(epsilons)), new_records(n_runs, r, [], [], 0), 0, 0)
    started = time.perf_counter()
    t0 = 0
    while t0 <= steps and np.any(state.status == -1):
        t1 = min(t0 + _CALL_STEPS, steps + 1)
        advance(st, rec, t0, t1)
        progress_bar.update(t1 - t0)
        t0 = t1
    progress_bar.close()
    wall = time.perf_counter() - started
    stages = finalize_stages(tracker, st, state.status)
    recorder = _RecordView(rec, record_grid, heat)
    ds = build_dataset(
        spec=spec,
        eta=eta,
        varpi=varpi,
        seeds=seeds,
        recorder=recorder,
        stages=stages,
        tracker=tracker,
        status=state.status,
        stop_step=state.stop_step,
        wall_time=wall / n_runs,
        epsilons=epsilons,
        reduced=True,
        dtype="float64",
        stop_error=stop_error,
        learned_tolerance=learned_tolerance,
        extra_attrs=attrs,
    )
    if keep_pairs:
        return ds, recorder.pairs
    return ds


class _RecordView:
    """The recorder interface of :func:`mfsim.engine.dataset.build_dataset` over
    :class:`mfsim.engine.reduced.Records` (pairs turned into float64: 0 below range)."""

    def __init__(self, rec, record_grid, heatmap_steps):
        self.steps = np.asarray(record_grid, dtype=np.int64)
        self.heatmap_steps = heatmap_steps
        self.data = {
            "error": rec.error,
            "signal": np.ldexp(rec.signal, rec.signal_exp),
            "noise": np.ldexp(rec.noise, rec.noise_exp),
            "noise_floor": np.ldexp(rec.noise_floor, rec.noise_floor_exp),
            "s1x": rec.s1x,
            "s1k": rec.s1k,
            "sru": np.ldexp(rec.sru, rec.sru_exp),
            "s1j": rec.s1j,
        }
        self.top = np.ldexp(rec.top, rec.top_exp)
        self.pairs = rec
