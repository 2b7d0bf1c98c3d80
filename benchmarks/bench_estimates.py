"""The cost model's run-time estimate vs measured engine time, per shipped config (issue 14).

    python benchmarks/bench_estimates.py                  # every config/*.yaml, a sample each
    python benchmarks/bench_estimates.py config/transition.yaml --batches 6 --seeds 8

For each config, a sample of its batches (spread over the canonical order, so over d and r) runs
in this process with one numba thread, as a simulate job runs it (``mfsim.simulate`` on the
config's run settings, as :func:`mfsim.execute.runner.run_batch`) but with at most ``--seeds``
seeds per batch. Printed side by side: the estimate of those runs
(:func:`mfsim.plan.grid.estimate_engine_seconds`, full ``run.steps``), the engine CPU time
measured (``time.process_time``, warm numba cache: one warm-up run per batch shape first), their
ratio, and the whole config's estimate scaled by that ratio. The estimate counts runs that stop at
convergence to :func:`mfsim.plan.grid.estimate_steps`; the target is a ratio within [0.5, 2].
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sample(batches, count):
    if len(batches) <= count:
        return list(batches)
    step = (len(batches) - 1) / (count - 1)
    return [batches[round(j * step)] for j in range(count)]


def measure(path: Path, n_batches: int, n_seeds: int) -> tuple[float, float, dict]:
    import numba

    from mfsim.config.model import parse
    from mfsim.engine.simulation import simulate
    from mfsim.plan.chunk_plan import make_plan
    from mfsim.plan.grid import Batch, estimate_engine_seconds, estimate_sweep
    from mfsim.spectra import spectrum

    numba.set_num_threads(1)
    plan = make_plan(parse(path))
    config = plan.config
    batches = [batch for chunk in plan.chunks for batch in chunk.batches]
    chunk = plan.chunks[0]
    job = plan.chunk_plan(chunk)
    estimate = measured = 0.0

    def run_batch(batch, job, threads):
        point = batch.point
        spec = spectrum(job.family, point.d, r=point.r, kappa=point.kappa, **job.family_params())
        kwargs = job.simulate_kwargs()
        simulate(spec, eta=point.eta, varpi=point.varpi_effective, seeds=batch.seeds, **kwargs)

    for batch in _sample(batches, n_batches):
        small = Batch(point=batch.point, seeds=batch.seeds[:n_seeds], cost=batch.cost)
        warm = Batch(point=batch.point, seeds=batch.seeds[:1], cost=batch.cost)
        run_batch(warm, job, threads=1)  # numba specializations of this shape loaded
        started = time.process_time()
        run_batch(small, job, threads=1)
        measured += time.process_time() - started
        estimate += estimate_engine_seconds(small.point, small.n_runs, config)
    return estimate, measured, estimate_sweep(config, 2, list(plan.chunks))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--batches", type=int, default=4, help="batches sampled per config")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per sampled batch")
    args = parser.parse_args(argv)
    configs = args.configs or sorted((ROOT / "config").glob("*.yaml"))
    print(f"load average before {os.getloadavg()}")
    header = (
        f"| {'config':<26} | {'estimate s':>10} | {'measured s':>10} | {'est/meas':>8} | "
        f"{'whole config, estimate':>22} | {'x measured ratio':>16} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
    worst = 1.0
    for path in configs:
        estimate, measured, whole = measure(path, args.batches, args.seeds)
        ratio = estimate / measured if measured > 0 else math.inf
        worst = max(worst, ratio, 1 / ratio)
        print(
            f"| {path.name:<26} | {estimate:10.2f} | {measured:10.2f} | {ratio:8.2f} | "
            f"{whole['compute_seconds']:20.0f} s | {whole['compute_seconds'] / ratio:14.0f} s |",
            flush=True,
        )
    print(f"load average after {os.getloadavg()}")
    print(f"worst factor between estimate and measurement: {worst:.2f} (target <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
