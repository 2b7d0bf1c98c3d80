"""Grid points of the problems other than factorization and their engine cost estimate.

The asymmetric and sensing engines (:mod:`mfsim.engine.asymmetric`, :mod:`mfsim.engine.sensing`)
run every step (no stop at convergence) in NumPy, batched over seeds. Their cost per step is a
fixed Python overhead plus work proportional to d r^2 (asymmetric: a few d x r by r x r
products) or m d r (sensing, rank-one operators: the m measurements <A_i, X X^T> and the
weighted sum of the A_i X). The coefficients are measured (``benchmarks/bench_problems.py``
prints estimate against measurement); like :mod:`mfsim.plan.cost` the estimate packs chunks and
is not a bound.
"""

from __future__ import annotations

import dataclasses

from mfsim.config.problems import ProblemVariant

__all__ = [
    "PROBLEM_SECONDS_PER_STEP",
    "SECONDS_PER_ASYMMETRIC_ENTRY",
    "SECONDS_PER_MEASUREMENT_ENTRY",
    "problem_engine_seconds",
    "problem_point",
]

#: Python and diagnostic overhead of one step of one batch (all coefficients measured on the
#: shared 2-core machine at load 8-16).
PROBLEM_SECONDS_PER_STEP = 2e-4
#: Seconds per run-step per entry of X (d r) times r: asymmetric steps and diagnostics.
SECONDS_PER_ASYMMETRIC_ENTRY = 1.5e-7
#: Seconds per run-step per measurement per entry of X (m d r): rank-one sensing.
SECONDS_PER_MEASUREMENT_ENTRY = 3e-8


def problem_point(point, variant: ProblemVariant, options: dict):
    """`point` (a factorization :class:`~mfsim.plan.grid.GridPoint`) for `variant`."""
    if variant.problem == "factorization":
        return point
    fields = {"problem": variant.problem}
    if variant.problem == "sensing":
        fields.update(measurements=variant.measurements, **options)
    else:
        fields["imbalance"] = variant.imbalance
    return dataclasses.replace(point, **fields)


def problem_engine_seconds(point, steps: int, n_runs: int) -> float:
    """Estimated engine seconds of `n_runs` runs of `point` for `steps` steps (every step)."""
    d, r = int(point.d), int(point.r)
    if point.problem == "sensing":
        per_run = SECONDS_PER_MEASUREMENT_ENTRY * point.measurement_count * d * r
        if point.operator == "goe":
            per_run = SECONDS_PER_MEASUREMENT_ENTRY * point.measurement_count * d * d * r
    else:
        per_run = SECONDS_PER_ASYMMETRIC_ENTRY * d * r * r
    return (steps + 1) * (PROBLEM_SECONDS_PER_STEP + n_runs * per_run)
