"""GD for symmetric matrix sensing, batched over seeds.

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

from mfsim.engine.compilation import compile_seconds
from mfsim.engine.problem_common import errors, noise, problem_dataset, starting_points
from mfsim.engine.sensing_operators import RankOne

__all__ = ["simulate_sensing"]


def simulate_sensing(
    spec, lam, operator, *, eta, steps, varpi, seeds, X0=None, attrs=None, engine="auto"
):  # noqa: N803
    """Run sensing GD; ``operator`` from :func:`~mfsim.engine.sensing_operators.make_operator`.

    ``X0`` is a checked float64 array (n_runs, d, r) or None (then X_0 = varpi N_0, the same
    numbers as factorization draws for the seed). ``engine``: 'numba' (the compiled kernel of
    :mod:`mfsim.engine.sensing_kernels`, rank-one operators only), 'numpy' (the loop below, any
    operator) or 'auto' (numba for rank-one operators, else numpy); the two record the same
    variables, equal to rounding.

    Raises
    ------
    ValueError
        ``engine`` is not one of those, or 'numba' with a dense operator.
    """
    if engine not in ("auto", "numba", "numpy"):
        raise ValueError(f"engine = {engine!r}: allowed 'auto', 'numba' or 'numpy'")
    compiled = isinstance(operator, RankOne) and engine != "numpy"
    if engine == "numba" and not compiled:
        raise ValueError("engine = 'numba': the compiled kernel takes rank-one operators only")
    r = spec.r
    if X0 is None:
        x = starting_points(spec, varpi, seeds)
    else:
        x = X0
        varpi = float(np.sqrt(np.mean(np.sum(x**2, axis=(1, 2))) / r))
    m = operator.m
    started = time.perf_counter()
    compiled_before = compile_seconds()
    if compiled:
        from mfsim.engine.sensing_kernels import run_rank_one_sensing

        per_step = run_rank_one_sensing(lam, operator, x, eta, steps)
    else:
        per_step = _numpy_loop(lam, operator, x, eta, steps, r)
    # as for factorization, wall_time leaves out compiling (or loading) the kernels
    wall = time.perf_counter() - started - (compile_seconds() - compiled_before)
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


def _numpy_loop(lam, operator, x, eta, steps, r):
    y = operator.measure_sigma(lam)
    m = operator.m
    records = {name: [] for name in ("error", "distance", "signal", "noise", "residual")}
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
    return {name: np.stack(v, axis=1) for name, v in records.items()}
