"""Run-time estimates of the cost model (mfsim.plan.grid.estimate_*) against measured runs.

The estimate of a tiny config must be within a factor of 2 of the engine CPU time measured
here, by running the config's batches exactly as a simulate job does. CPU time
(``time.process_time``, one numba thread) rather than wall time keeps the ratio robust to the
load of a shared machine; this is a ratio check, not a timed threshold.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pytest

from mfsim.config.model import parse
from mfsim.engine.simulation import simulate
from mfsim.plan.chunk_plan import make_plan
from mfsim.plan.grid import (
    JOB_START_SECONDS,
    estimate_engine_seconds,
    estimate_steps,
    estimate_sweep,
)
from mfsim.spectra import spectrum

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(stop_error: float, steps: int) -> dict:
    return {
        "sweep": "tiny_estimate",
        "spectrum": {"family": "linear"},
        "grid": {
            "d": [300, 3000],
            "r": [2, 3],
            "kappa": [5],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"start": 0, "count": 6},
        },
        "run": {"steps": steps, "stop_error": stop_error},
    }


def _measure(plan) -> tuple[float, list[float]]:
    """Engine CPU seconds of every batch of the plan (one thread, warm; the least of three runs),
    and the stop steps."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        total, stops = 0.0, []
        for chunk in plan.chunks:
            job = plan.chunk_plan(chunk)
            kwargs = job.simulate_kwargs()
            for batch in chunk.batches:
                point = batch.point
                spec = spectrum(job.family, point.d, r=point.r, kappa=point.kappa)
                args = dict(eta=point.eta, varpi=point.varpi_effective)
                warm = {**kwargs, "steps": 5, "record": "all"}
                simulate(spec, seeds=batch.seeds[:1], **args, **warm)  # kernels loaded
                # the least of three: another process's load only ever adds CPU time (cache
                # and memory-bandwidth contention), so the minimum is the engine's own cost
                seconds = []
                for _ in range(3):
                    started = time.process_time()
                    ds = simulate(spec, seeds=batch.seeds, **args, **kwargs)
                    seconds.append(time.process_time() - started)
                total += min(seconds)
                stops.extend(np.ravel(ds["stop_step"].values).tolist())
        return total, stops
    finally:
        numba.set_num_threads(previous)


@pytest.mark.parametrize(
    ("stop_error", "steps"),
    [(0.0, 3000), (1e-10, 20000)],
    ids=["to-step-limit", "stop-at-convergence"],
)
def test_estimate_within_factor_2_of_measured_engine_time(stop_error, steps):
    plan = make_plan(parse(tiny_config(stop_error, steps)))
    estimate = sum(
        estimate_engine_seconds(batch.point, batch.n_runs, plan.config)
        for chunk in plan.chunks
        for batch in chunk.batches
    )
    measured, stops = _measure(plan)
    assert 0.5 <= estimate / measured <= 2.0, (estimate, measured)
    if stop_error > 0:
        # the runs did stop at convergence, well before the step limit
        assert np.all(np.isfinite(stops)) and max(stops) < steps
        estimated_steps = [
            estimate_steps(batch.point, plan.config)
            for chunk in plan.chunks
            for batch in chunk.batches
            for _ in batch.seeds
        ]
        assert 0.5 <= sum(estimated_steps) / sum(stops) <= 2.0


def test_estimate_steps_without_stop_rule_is_the_step_limit():
    plan = make_plan(parse(tiny_config(0.0, 1234)))
    for chunk in plan.chunks:
        for batch in chunk.batches:
            assert estimate_steps(batch.point, plan.config) == 1234


def test_estimate_sweep_counts_and_schedule():
    plan = make_plan(parse(tiny_config(0.0, 3000)))
    config = plan.config
    jobs = [
        sum(estimate_engine_seconds(b.point, b.n_runs, config) for b in chunk.batches)
        for chunk in plan.chunks
    ]
    one = estimate_sweep(config, 1)
    assert one["chunks"] == len(plan.chunks)
    assert one["runs"] == 2 * 2 * 6
    assert one["compute_seconds"] == pytest.approx(sum(jobs), rel=1e-12)
    # one core runs the jobs one after the other
    assert one["wall_seconds"] == pytest.approx(sum(jobs) + len(jobs) * JOB_START_SECONDS)
    # many cores: the longest job (plus its start-up) sets the wall time
    many = estimate_sweep(config, 64)
    assert many["wall_seconds"] == pytest.approx(max(jobs) + JOB_START_SECONDS)
    with pytest.raises(ValueError, match="cores"):
        estimate_sweep(config, 0)


def test_mfsim_plan_prints_the_estimate(tmp_path):
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(0.0, 3000)))
    proc = subprocess.run(
        [sys.executable, "-m", "mfsim.cli", "plan", str(path), "--cores", "3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    n_chunks = len(make_plan(parse(tiny_config(0.0, 3000))).chunks)
    assert f"{n_chunks} chunk{'s' if n_chunks != 1 else ''}, 24 runs" in proc.stdout
    assert "on 3 cores" in proc.stdout


def test_mfsim_plan_names_a_bad_config(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sweep: bad\nrun: {steps: -1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mfsim.cli", "plan", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "steps" in proc.stderr
