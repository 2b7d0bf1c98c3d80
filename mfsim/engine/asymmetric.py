"""GD for asymmetric factorization min ||Sigma - X Y^T||_F^2 / 2, batched over seeds.

X_{t+1} = X_t + eta (Sigma - X_t Y_t^T) Y_t,  Y_{t+1} = Y_t + eta (Sigma - X_t Y_t^T)^T X_t
(simultaneous update), with Sigma = diag(lambda) held as its eigenvalue vector: Sigma X is
lambda[:, None] * X and X Y^T Y is X (Y^T Y), so a step costs O(d r^2) and no d x d matrix is
formed. Diagnostics: :mod:`mfsim.engine.problem_common`, definitions in ``docs/stages.md``.

Two implementations of the same loop: the compiled kernel of
:mod:`mfsim.engine.asymmetric_kernels` (``engine='numba'``, the default) and the NumPy loop
below (``engine='numpy'``), kept as a second route that the tests compare.
"""

from __future__ import annotations

import time

import numpy as np

from mfsim.engine.compilation import compile_seconds
from mfsim.engine.problem_common import (
    errors,
    noise,
    problem_dataset,
    second_factor,
    starting_points,
)

__all__ = ["asymmetric_step", "simulate_asymmetric"]


def asymmetric_step(lam: np.ndarray, x: np.ndarray, y: np.ndarray, eta: float):
    """One simultaneous GD step on (X, Y), batched: x, y (n_runs, d, r); returns the new pair."""
    gx = np.einsum("bij,bik->bjk", x, x)  # X^T X
    gy = np.einsum("bij,bik->bjk", y, y)  # Y^T Y
    x_new = x + eta * (lam[:, None] * y - x @ gy)
    y_new = y + eta * (lam[:, None] * x - y @ gx)
    return x_new, y_new


_VARIABLES = (
    "error", "distance", "signal", "signal_X", "signal_Y", "noise", "imbalance_norm",
)  # fmt: skip


def _diagnostics(lam, x, y, r):
    err, dist = errors(lam, x, y, r)
    gap = np.einsum("bij,bik->bjk", x, x) - np.einsum("bij,bik->bjk", y, y)
    return {
        "error": err,
        "distance": dist,
        "signal": np.einsum("bkj,bkj->bk", x[:, :r], y[:, :r]),
        "signal_X": np.sum(x[:, :r] ** 2, axis=2),
        "signal_Y": np.sum(y[:, :r] ** 2, axis=2),
        "noise": noise(x, y, r),
        "imbalance_norm": np.sqrt(np.sum(gap**2, axis=(1, 2))),
    }


def _numpy_loop(lam, x, y, eta, steps, r):
    records = {}
    for t in range(steps + 1):
        for name, value in _diagnostics(lam, x, y, r).items():
            records.setdefault(name, []).append(value)
        if t < steps:
            x, y = asymmetric_step(lam, x, y, eta)
    return {name: np.stack(v, axis=1) for name, v in records.items()}


def simulate_asymmetric(
    spec, lam, *, eta, steps, varpi, imbalance, seeds, X0=None, Y0=None, attrs=None,
    engine="numba",
):  # noqa: N803  # fmt: skip
    """Run asymmetric GD for a batch of runs; the Dataset of ``mfsim.simulate(problem=...)``.

    ``X0``/``Y0`` are checked float64 arrays (n_runs, d, r) or None (then X_0 = varpi N_0 with
    the factorization's stream and Y_0 = imbalance varpi N_0' from an independent one).
    ``engine`` is 'numba' (compiled kernel) or 'numpy' (the NumPy loop); both record the same
    variables, equal to rounding.

    Raises
    ------
    ValueError
        ``engine`` is neither 'numba' nor 'numpy'.
    """
    if engine not in ("numba", "numpy"):
        raise ValueError(f"engine = {engine!r}: allowed 'numba' or 'numpy'")
    r = spec.r
    if X0 is None:
        x = starting_points(spec, varpi, seeds)
        y = second_factor(spec, imbalance * varpi, seeds)
    else:
        x, y = X0, Y0
        varpi = float(np.sqrt(np.mean(np.sum(x**2, axis=(1, 2))) / r))
        imbalance = float(np.sqrt(np.mean(np.sum(y**2, axis=(1, 2))) / r)) / max(varpi, 1e-300)
    started = time.perf_counter()
    compiled_before = compile_seconds()
    if engine == "numba":
        from mfsim.engine.asymmetric_kernels import run_asymmetric

        per_step = run_asymmetric(lam, x, y, eta, steps)
        # the variables in the NumPy path's order (the Dataset's order)
        per_step = {name: per_step[name] for name in _VARIABLES}
    else:
        per_step = _numpy_loop(lam, x, y, eta, steps, r)
    # as for factorization, wall_time leaves out compiling (or loading) the kernel
    wall = time.perf_counter() - started - (compile_seconds() - compiled_before)
    return problem_dataset(
        problem="asymmetric",
        spec=spec,
        eta=eta,
        varpi=varpi,
        seeds=seeds,
        per_step=per_step,
        extra_coords={"imbalance": float(imbalance)},
        wall_time=wall / len(seeds),
        extra_attrs=attrs,
    )
