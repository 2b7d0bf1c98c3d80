"""Asymmetric factorization: the engine against a dense NumPy GD written here, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import mfsim
from mfsim.arguments import ArgumentError
from mfsim.engine.asymmetric import simulate_asymmetric


def dense_asymmetric(lam, x, y, eta, steps, r):
    """Plain dense GD on (X, Y) with Sigma as a d x d matrix; diagnostics from X Y^T itself."""
    sigma = np.diag(lam)
    sigma_r = np.diag(np.where(np.arange(len(lam)) < r, lam, 0.0))
    out = {n: [] for n in ("error", "distance", "signal", "signal_X", "signal_Y", "noise", "gap")}
    for _ in range(steps + 1):
        p = x @ y.T
        out["error"].append(np.linalg.norm(sigma_r - p))
        out["distance"].append(np.linalg.norm(sigma - p))
        out["signal"].append(np.diag(p)[:r])
        out["signal_X"].append(np.sum(x[:r] ** 2, axis=1))
        out["signal_Y"].append(np.sum(y[:r] ** 2, axis=1))
        out["noise"].append(
            [
                np.sqrt((p[k + 1 :, k] @ p[k + 1 :, k] + p[k, k + 1 :] @ p[k, k + 1 :]) / 2)
                for k in range(r)
            ]
        )
        out["gap"].append(np.linalg.norm(x.T @ x - y.T @ y))
        e = sigma - p
        x, y = x + eta * e @ y, y + eta * e.T @ x
    return {n: np.array(v) for n, v in out.items()}


def run_engine(engine, spec, eta, steps, x0, y0):
    """``mfsim.simulate`` (the compiled kernel), or the engine called directly."""
    if engine == "simulate":
        return mfsim.simulate(spec, eta=eta, steps=steps, problem="asymmetric", X0=x0, Y0=y0)
    return simulate_asymmetric(
        spec, spec.eigenvalues(), eta=eta, steps=steps, varpi=0.5, imbalance=1.0,
        seeds=np.arange(len(x0)), X0=x0, Y0=y0, engine=engine,
    )  # fmt: skip


@pytest.mark.parametrize(
    "d, r, engine",
    [(40, 2, "simulate"), (40, 2, "numpy"), (120, 3, "simulate"), (120, 3, "numpy"),
     (200, 3, "simulate")],
)  # fmt: skip
def test_asymmetric_matches_dense_gd_over_hundreds_of_steps(d, r, engine):
    """'simulate' runs the compiled kernel; 'numpy' the NumPy loop (the second route)."""
    spec = mfsim.spectrum("linear", d, r=r, kappa=5)
    lam = spec.eigenvalues()
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((2, d, r)) * 0.5 / np.sqrt(d)
    y0 = rng.standard_normal((2, d, r)) * 1.5 / np.sqrt(d)
    steps, eta = 400, 0.1
    ds = run_engine(engine, spec, eta, steps, x0, y0)
    assert ds.attrs["problem"] == "asymmetric" and ds["problem"].item() == "asymmetric"
    for b in range(2):
        ref = dense_asymmetric(lam, x0[b], y0[b], eta, steps, r)
        run = ds.isel(seed=b)
        np.testing.assert_allclose(run.error.values, ref["error"], rtol=1e-10, atol=0)
        np.testing.assert_allclose(run.distance.values, ref["distance"], rtol=1e-10, atol=0)
        for name in ("signal", "signal_X", "signal_Y", "noise"):
            np.testing.assert_allclose(
                run[name].transpose("step", "k").values, ref[name], rtol=1e-10, atol=0
            )
        np.testing.assert_allclose(run.imbalance_norm.values, ref["gap"], rtol=1e-10, atol=0)
        # rise: the first step with x_k . y_k >= Delta / 2, from the dense signal
        risen = ref["signal"] >= spec.Delta / 2
        expected = np.where(risen.any(axis=0), risen.argmax(axis=0), np.nan)
        np.testing.assert_array_equal(run.rise.values, expected)
    assert np.all(np.isfinite(ds.rise.values))  # the runs did learn: the check above is not vacuous


def test_drawn_start_is_the_factorization_start_and_y_is_scaled_by_imbalance():
    spec = mfsim.spectrum("linear", 2000, r=2, kappa=4)
    fac = mfsim.simulate(spec, steps=2, seeds=[3])
    asym = mfsim.simulate(spec, steps=2, seeds=[3], problem="asymmetric", imbalance=4.0)
    np.testing.assert_allclose(
        asym.signal_X.isel(step=0).values, fac.signal.isel(step=0).values, rtol=1e-12
    )
    assert asym["imbalance"].item() == 4.0
    # X_0^T X_0 ~ varpi^2 I_r and Y_0^T Y_0 ~ 16 varpi^2 I_r at large d (spread ~ 16/sqrt(d)),
    # so ||X^T X - Y^T Y||_F ~ 15 varpi^2 sqrt(r)
    gap_at_0 = float(asym.imbalance_norm.isel(seed=0, step=0))
    assert gap_at_0 == pytest.approx(15 * 0.25 * np.sqrt(2), rel=0.15)


def test_problem_factorization_is_bit_identical_to_not_passing_it():
    spec = mfsim.spectrum("linear", 30, r=2, kappa=4)
    a = mfsim.simulate(spec, steps=40, seeds=[0, 1])
    b = mfsim.simulate(spec, steps=40, seeds=[0, 1], problem="factorization")
    xr.testing.assert_identical(a.drop_vars("wall_time"), b.drop_vars("wall_time"))


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"problem": "asymetric"}, "problem"),
        ({"problem": "asymmetric", "imbalance": 0.0}, "imbalance"),
        ({"problem": "asymmetric", "imbalance": -1.0}, "imbalance"),
        ({"problem": "asymmetric", "measurements": 10}, "measurements"),
        ({"imbalance": 2.0}, "imbalance"),
        ({"problem": "asymmetric", "X0": np.zeros((10, 2))}, "Y0"),
        ({"problem": "asymmetric", "X0": np.zeros((10, 2)), "Y0": np.zeros((10, 3))}, "Y0"),
        ({"problem": "asymmetric", "dtype": "float32"}, "dtype"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, named):
    spec = mfsim.spectrum("linear", 10, r=2, kappa=4)
    with pytest.raises(ArgumentError, match=named):
        mfsim.simulate(spec, steps=3, **kwargs)


def test_compiled_kernel_is_independent_of_the_batch_and_leaves_its_inputs_alone():
    """Each run's sums are in row order whatever the batch (prange over runs): a run alone and
    in a batch give the same bits; the starting arrays are copied, not advanced in place."""
    from mfsim.engine.asymmetric_kernels import run_asymmetric

    d, r = 50, 2
    lam = mfsim.spectrum("linear", d, r=r, kappa=4).eigenvalues()
    rng = np.random.default_rng(5)
    x0, y0 = rng.standard_normal((2, 3, d, r)) / np.sqrt(d)
    kept = x0.copy(), y0.copy()
    batch = run_asymmetric(lam, x0, y0, 0.1, 60)
    alone = run_asymmetric(lam, x0[1:2], y0[1:2], 0.1, 60)
    for name, value in alone.items():
        np.testing.assert_array_equal(batch[name][1:2], value)
    np.testing.assert_array_equal(x0, kept[0])
    np.testing.assert_array_equal(y0, kept[1])


def test_unknown_engine_is_refused():
    spec = mfsim.spectrum("linear", 10, r=2, kappa=4)
    with pytest.raises(ValueError, match="engine = 'fortran'"):
        simulate_asymmetric(
            spec, spec.eigenvalues(), eta=0.1, steps=2, varpi=0.5, imbalance=1.0,
            seeds=np.arange(1), engine="fortran",
        )  # fmt: skip
