"""GD for symmetric matrix sensing, batched over seeds (NumPy).

f(X) = (1 / 4m) sum_i (<A_i, X X^T> - y_i)^2, y_i = <A_i, Sigma>; for symmetric A_i its gradient
is (1/m) sum_i (<A_i, X X^T> - y_i) A_i X, and the step is

    X_{t+1} = X_t - eta (1/m) sum_i <A_i, X_t X_t^T - Sigma> A_i X_t.

With E[<A, M> A] = M (every family of :mod:`mfsim.engine.sensing_operators`) the expected
step is the factorization step X + eta (Sigma - X X^T) X (paper, eq. 9). Diagnostics as for
factorization (rows of X in Sigma's eigenbasis) plus the measurement residual; definitions in
``docs/stages.md``.
"""

from __future__ import annotations

import time

import numpy as np

from mfsim.engine.problem_common import errors, noise, problem_dataset, starting_points

__all__ = ["simulate_sensing"]


def simulate_sensing(spec, lam, operator, *, eta, steps, varpi, seeds, X0=None, attrs=None):  # noqa: N803
    """Run sensing GD; ``operator`` from :func:`~mfsim.engine.sensing_operators.make_operator`.

    ``X0`` is a checked float64 array (n_runs, d, r) or None (then X_0 = varpi N_0, the same
    numbers as factorization draws for the seed).
    """
    r = spec.r
    if X0 is None:
        x = starting_points(spec, varpi, seeds)
    else:
        x = X0
        varpi = float(np.sqrt(np.mean(np.sum(x**2, axis=(1, 2))) / r))
    y = operator.measure_sigma(lam)
    m = operator.m
    records = {name: [] for name in ("error", "distance", "signal", "noise", "residual")}
    started = time.perf_counter()
    for t in range(steps + 1):
        values, products = operator.measure(x)
        res = values - y
        err, dist = errors(lam, x, x, r)
        records["error"].append(err)
        records["distance"].append(dist)
        records["signal"].append(np.sum(x[:, :r] ** 2, axis=2))
        records["noise"].append(noise(x, x, r))
        records["residual"].append(np.broadcast_to(np.mean(res**2, axis=-1), len(x)))
        if t < steps:
            x = x - (eta / m) * operator.weighted_apply(res, products)
    wall = time.perf_counter() - started
    per_step = {name: np.stack(v, axis=1) for name, v in records.items()}
    return problem_dataset(
        problem="sensing",
        spec=spec,
        eta=eta,
        varpi=varpi,
        seeds=seeds,
        per_step=per_step,
        extra_coords={"measurements": m},
        wall_time=wall / len(seeds),
        extra_attrs=attrs,
    )
