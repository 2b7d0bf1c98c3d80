"""The GD engine against independent computations."""

import numpy as np
import pytest
from scipy.stats import ortho_group

import mfsim


def dense_diagnostics(x, lam, r):
    """Naive diagnostics from dense d x d matrices (the independent reference)."""
    xxt = x @ x.T
    sigma_r = np.diag(np.concatenate([lam[:r], np.zeros(len(lam) - r)]))
    sv = lambda m: np.linalg.svd(m, compute_uv=False)  # noqa: E731
    out = {
        "error": np.linalg.norm(sigma_r - xxt),
        "signal": np.array([x[k] @ x[k] for k in range(r)]),
        "noise": np.array([sv(x[k : k + 1] @ x[k + 1 :].T)[0] for k in range(r)]),
        "sigma1_sq_X": sv(x)[0] ** 2,
        "sigma1_sq_K": np.array([sv(x[k + 1 :])[0] ** 2 for k in range(r)]),
        "sigmar_sq_U": sv(x[:r])[-1] ** 2,
        "sigma1_sq_J": sv(x[r:])[0] ** 2,
        "top_gram": xxt[:3, :3],
    }
    return out


def gd_dense(x, lam, eta, steps):
    sigma = np.diag(lam)
    traj = [x.copy()]
    for _ in range(steps):
        x = x + eta * (sigma - x @ x.T) @ x
        traj.append(x.copy())
    return traj


def test_rank_one_scalar_recursion():
    """x_0 = a e_1: a_{t+1} = a_t (1 + eta lambda_1 - eta a_t^2), to 1e-12."""
    spec = mfsim.spectrum("linear", 50, r=1, kappa=2.0)
    eta, a0, steps = 0.1, 0.05, 300
    x0 = np.zeros((50, 1))
    x0[0, 0] = a0
    ds = mfsim.simulate(spec, eta=eta, steps=steps, X0=x0, stop_error=0)
    a = [a0]
    for _ in range(steps):
        a.append(a[-1] * (1 + eta * spec.lambda_1 - eta * a[-1] ** 2))
    a = np.array(a)
    np.testing.assert_allclose(ds.signal.sel(k=1).values[0], a**2, rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        ds.error.values[0], np.abs(spec.lambda_1 - a**2), rtol=1e-10, atol=1e-14
    )
    np.testing.assert_array_equal(ds.noise.values, 0.0)


@pytest.mark.parametrize("r", [1, 2, 3, 5])
def test_gram_diagnostics_equal_dense_naive_formulas(r):
    d, eta, steps = 40, 0.05, 25
    spec = mfsim.spectrum("linear", d, r=r, kappa=2.0 * r)
    x0 = np.random.default_rng(r).standard_normal((d, r)) * 0.6 / np.sqrt(d)
    ds = mfsim.simulate(
        spec, eta=eta, steps=steps, X0=x0, stop_error=0, heatmap_steps=range(steps + 1)
    )
    traj = gd_dense(x0, spec.eigenvalues(), eta, steps)
    for t in (0, 1, 7, steps):
        ref = dense_diagnostics(traj[t], spec.eigenvalues(), r)
        got = ds.sel(step=t).isel(seed=0)
        for name in (
            "error",
            "signal",
            "noise",
            "sigma1_sq_X",
            "sigma1_sq_K",
            "sigmar_sq_U",
            "sigma1_sq_J",
        ):
            np.testing.assert_allclose(
                got[name].values, ref[name], rtol=1e-9, atol=1e-14, err_msg=f"{name} at step {t}"
            )
        np.testing.assert_allclose(
            ds.top_gram.sel(heatmap_step=t).isel(seed=0).values,
            ref["top_gram"],
            rtol=1e-9,
            atol=1e-15,
        )


def test_membership_flags_follow_the_set_definitions():
    spec = mfsim.spectrum("figure1", 300)
    ds = mfsim.simulate(spec, eta=0.1, steps=400, varpi=1.0, seeds=[0, 1])
    lam = spec.top(2)
    in_s = (ds.sigma1_sq_X <= 2 * lam[0]) & (ds.sigma1_sq_K <= ds.lambda_k - 0.75 * spec.Delta).all(
        "k"
    )
    in_r = (
        (ds.sigma1_sq_X <= 2 * lam[0])
        & (ds.sigmar_sq_U >= spec.Delta / 4)
        & (ds.sigma1_sq_J <= lam[1] - spec.Delta / 2)
    )
    valid = ds.error.notnull()
    assert ((ds.in_S == 1) == (in_s & valid)).all()
    assert ((ds.in_R == 1) == (in_r & valid)).all()
    assert (ds.in_R == 1).any() and (ds.in_S == 1).any()


def test_rotation_invariance_dense_path():
    d, r, eta, steps = 30, 2, 0.1, 200
    spec = mfsim.spectrum("linear", d, r=r, kappa=4.0)
    lam = spec.eigenvalues()
    q = ortho_group.rvs(d, random_state=11)
    x0 = np.random.default_rng(5).standard_normal((d, r)) * 0.5 / np.sqrt(d)
    ds = mfsim.simulate(spec, eta=eta, steps=steps, X0=x0, stop_error=0)
    dense = mfsim.simulate_dense(q @ np.diag(lam) @ q.T, q @ x0, eta, steps)
    np.testing.assert_allclose(dense["error"], ds.error.values[0], rtol=1e-9)
    np.testing.assert_allclose(dense["signal"], ds.signal.values[0].T, rtol=1e-8, atol=1e-15)


def test_seed_alone_equals_seed_in_batch_of_64():
    spec = mfsim.spectrum("figure1", 500)
    batch = mfsim.simulate(spec, eta=0.1, steps=300, varpi=0.5, seeds=range(64))
    alone = mfsim.simulate(spec, eta=0.1, steps=300, varpi=0.5, seeds=[37])
    for name in ("error", "signal", "noise", "rise", "learned", "top_gram"):
        np.testing.assert_array_equal(
            batch[name].sel(seed=37).values, alone[name].sel(seed=37).values
        )
    spec_r = mfsim.spectrum("linear", 500, r=2, kappa=5)
    x_alone = mfsim.initial_state(mfsim.engine.initialization.effective_system(spec_r), 0.5, 37)
    x_again = mfsim.initial_state(mfsim.engine.initialization.effective_system(spec_r), 0.5, 37)
    np.testing.assert_array_equal(x_alone, x_again)


def test_row_and_seed_kernels_agree_bit_for_bit():
    spec = mfsim.spectrum("linear", 40_000, r=2, kappa=5)
    kw = dict(eta=0.1, steps=60, varpi=0.5, seeds=[3, 4], stop_error=0)
    a = mfsim.simulate(spec, kernel="row", **kw)
    b = mfsim.simulate(spec, kernel="seed", **kw)
    for name in ("error", "signal", "noise", "sigma1_sq_X"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_divergence_is_a_status_not_a_crash():
    spec = mfsim.spectrum("figure1", 200)
    eta = 0.5
    # sigma_1(X_0) ~ varpi (1 + sqrt(r/d)) far above 1/sqrt(3 eta)
    ds = mfsim.simulate(spec, eta=eta, steps=10_000, varpi=10.0, seeds=[0, 1])
    assert (ds.status == 2).all()
    assert (ds.stop_step < 50).all()
    assert ds.rise.isnull().all() and ds.t_eps.isnull().all()
    assert np.isfinite(ds.error.sel(step=0)).all()
    after = ds.error.sel(step=slice(int(ds.stop_step.max()) + 1, None))
    assert after.isnull().all()


def test_step_limit_and_convergence_statuses():
    spec = mfsim.spectrum("linear", 100, r=2, kappa=4)
    short = mfsim.simulate(spec, eta=0.1, steps=20, seeds=[0])
    assert short.status.item() == 1 and short.stop_step.item() == 20
    assert short.learned.isnull().all()  # not reached is NaN, never the last step
    long = mfsim.simulate(spec, eta=0.1, steps=20_000, seeds=[0], stop_error=1e-9, record="all")
    assert long.status.item() == 0
    assert long.error.sel(step=int(long.stop_step.item())).item() <= 1e-9


def test_float32_underflow_makes_the_saddle_exact():
    """u_2 starts at two float32 subnormal ulps: a relative change of a few percent per step is
    below its resolution and rounds away, so u_2 is frozen (the saddle is exact) and never rises,
    while in float64 it shrinks, recovers and escapes."""
    d = 10
    spec = mfsim.spectrum("linear", d, r=2, kappa=4)
    x0 = np.zeros((d, 2))
    x0[0] = [1.2, 0.0]
    x0[1] = [0.0, 3e-45]
    x0[2:] = [0.3, 0.6]
    kw = dict(eta=0.1, steps=8000, X0=x0, stop_error=0)
    f64 = mfsim.simulate(spec, **kw)
    f32 = mfsim.simulate(spec, dtype="float32", **kw)
    assert np.isfinite(f64.rise.sel(k=2)).all()
    assert f32.rise.sel(k=2).isnull().all()
    frozen = f32.signal.sel(k=2).isel(seed=0).values
    assert frozen[-1] == frozen[0] < 1e-80


def test_float32_rounding_reseeds_a_saddle_and_shortens_the_escape():
    """In a rotated frame float32 rounding injects ~1e-8 |X| into every eigendirection, so a
    signal that starts at 1e-20 escapes much earlier than in float64."""
    d, eta, steps = 20, 0.1, 1500
    lam = mfsim.spectrum("linear", d, r=2, kappa=4).eigenvalues()
    q = ortho_group.rvs(d, random_state=2)
    y0 = np.zeros((d, 2))
    y0[0] = [0.8, 0.0]
    y0[1] = [0.0, 1e-20]
    y0[2:] = 0.05
    sigma = q @ np.diag(lam) @ q.T
    rise = {}
    for dtype in ("float64", "float32"):
        out = mfsim.simulate_dense(sigma, q @ y0, eta, steps, dtype=dtype)
        hits = np.flatnonzero(out["signal"][:, 1] >= 0.125)
        rise[dtype] = hits[0] if hits.size else np.inf
    assert rise["float32"] < 0.6 * rise["float64"]


def test_figure1_incremental_learning_and_curve_shape():
    """d = 4000, varpi = 0.5, eta = 0.1, 16 seeds.

    Shape check: the mean |d log(error)/dt| over the two flat windows [0, rise_1 - 10] and
    [learned_1, rise_2 - 10] is below a quarter of that over the two steep windows
    [rise_1 - 10, learned_1] and [rise_2 - 10, learned_2].
    """
    spec = mfsim.spectrum("figure1", 4000)
    ds = mfsim.simulate(spec, eta=0.1, steps=1000, varpi=0.5, seeds=range(16))
    rise, learned = ds.rise.values, ds.learned.values
    assert np.all(np.isfinite(rise)) and np.all(rise[:, 0] < rise[:, 1])
    for b in range(16):
        slope = np.abs(np.diff(np.log(ds.error.values[b])))
        r1, r2 = int(rise[b, 0]), int(rise[b, 1])
        l1, l2 = int(learned[b, 0]), int(learned[b, 1])
        flat = np.concatenate([slope[: r1 - 10], slope[l1 : r2 - 10]]).mean()
        steep = np.concatenate([slope[r1 - 10 : l1], slope[r2 - 10 : l2]]).mean()
        assert flat < 0.25 * steep, (b, flat, steep)


def test_explicit_x0_records_its_own_scale_and_varpi_coordinates_are_present():
    spec = mfsim.spectrum("linear", 300, r=2, kappa=4)
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((300, 2)) * 3.0 / np.sqrt(300)
    ds = mfsim.simulate(spec, eta=0.01, steps=5, X0=x0)
    # E||varpi N_0||_F^2 = varpi^2 r: the scale of X_0 is ||X_0||_F / sqrt(r) (about 3.0 here)
    want = np.sqrt(np.sum(x0**2) / 2)
    assert float(ds.varpi_effective) == pytest.approx(want, rel=1e-15)
    assert abs(float(ds.varpi_effective) - 3.0) < 0.3
    assert float(ds.varpi) == float(ds.varpi_effective) and float(ds.varpi_exponent) == 0.0
    # without X0 the scale is the argument, taken as given (exponent 0)
    ds = mfsim.simulate(spec, eta=0.01, steps=5, varpi=0.7)
    assert float(ds.varpi) == 0.7 == float(ds.varpi_effective)
    assert float(ds.varpi_exponent) == 0.0
    assert "noise_floor" in ds and ds.noise_floor.dims == ("seed", "k", "step")


def test_noise_floor_follows_the_storage_precision():
    spec = mfsim.spectrum("linear", 400, r=2, kappa=4)
    kw = dict(eta=0.1, steps=30, seeds=[1], stop_error=0)
    f64 = mfsim.simulate(spec, **kw)
    f32 = mfsim.simulate(spec, dtype="float32", **kw)
    ratio = (f32.noise_floor / f64.noise_floor).isel(step=0).values
    # same X_0 up to float32 rounding: the floors differ by eps32 / eps64 = 2^29
    np.testing.assert_allclose(ratio, 2.0**29, rtol=1e-5)
