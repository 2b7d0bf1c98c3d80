"""Tied top eigenvalues on the plain engine: cluster diagnostics against dense NumPy GD.

The reference in each test is written here: GD X <- X + eta (Sigma - X X^T) X on the d x r
iterate with Sigma = diag(lam), and the cluster quantities from numpy's SVD of the block of rows.
"""

from __future__ import annotations

import numpy as np
import pytest

import mfsim
from mfsim.engine.ties import cluster_outputs, tie_clusters

ETA, STEPS = 0.1, 400


def _dense_gd(x0, lam, eta, steps):
    """Every iterate of plain GD, shape (steps + 1, d, r)."""
    x, out = x0.copy(), [x0.copy()]
    for _ in range(steps):
        x = x + eta * (lam[:, None] * x - x @ (x.T @ x))
        out.append(x)
    return np.array(out)


def _cluster_reference(xs, a, b):
    """Squared singular values of rows a..b-1 (decreasing) and ||X_{>=b} U_C^T||_F per step."""
    values = np.array([np.linalg.svd(x[a:b], compute_uv=False) ** 2 for x in xs])
    noise = np.array([np.linalg.norm(x[b:] @ x[a:b].T) for x in xs])
    return values, noise


def _bulk(d, top):
    return np.concatenate([top, np.linspace(0.3, 0.0, d - len(top))])


@pytest.mark.parametrize(
    ("top", "r", "cluster"),
    [
        ([1.0, 1.0, 0.5], 2, (0, 2)),  # the whole top block: sigma_min from the Jacobi sru
        ([1.0, 1.0, 0.6, 0.45], 3, (0, 2)),  # a cluster inside the block, then a single row
        ([1.0, 0.7, 0.7, 0.45], 3, (1, 3)),  # a single row, then a cluster
    ],
)
def test_cluster_signal_and_noise_match_a_dense_svd_over_hundreds_of_steps(top, r, cluster):
    d = 80
    lam = _bulk(d, top)
    spec = mfsim.spectrum("custom", r=r, eigenvalues=lam)
    assert tie_clusters(spec) is not None
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((d, r)) * 0.5 / np.sqrt(d) * 3
    ds = mfsim.simulate(spec, eta=ETA, steps=STEPS, X0=x0, stop_error=0.0, record="all")
    xs = _dense_gd(x0, lam, ETA, STEPS)
    a, b = cluster
    values, noise = _cluster_reference(xs, a, b)
    signal = ds.signal.values[0]  # (k, step)
    np.testing.assert_allclose(signal[a:b].T, values, rtol=1e-10, atol=0)
    # the noise decays to ~1e-9 by step 400: below ~1e-6 both computations carry the
    # trajectory's own rounding (about eps ||X||^2 absolute), so an absolute floor of 1e-15
    for k in range(a, b):
        np.testing.assert_allclose(ds.noise.values[0, k], noise, rtol=1e-10, atol=1e-15)
    # rows outside the cluster keep the paper's per-row signal ||u_k||^2
    for k in set(range(r)) - set(range(a, b)):
        np.testing.assert_allclose(signal[k], np.sum(xs[:, k] ** 2, axis=1), rtol=1e-10, atol=0)
    # sigma_1^2(K_k) for k in the cluster: the rows after the cluster
    after = np.array([np.linalg.norm(x[b:], 2) ** 2 for x in xs])
    np.testing.assert_allclose(ds.sigma1_sq_K.values[0, a], after, rtol=1e-10, atol=0)
    # the run converges to Sigma_r: the cluster's squared singular values approach its eigenvalue
    np.testing.assert_allclose(signal[a:b, -1], lam[a:b], rtol=1e-3)


def _rotation(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def test_cluster_quantities_are_invariant_under_a_rotation_inside_the_cluster():
    """Rotating the cluster's rows of X_0 rotates every later iterate's rows (Sigma is lambda I on
    the cluster): the per-row signals change, the cluster's do not, nor do its stage times."""
    d, r = 60, 2
    lam = _bulk(d, [1.0, 1.0, 0.5])
    spec = mfsim.spectrum("custom", r=r, eigenvalues=lam)
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((4, d, r)) * 0.5 / np.sqrt(d)
    turned = x0.copy()
    turned[:, :2] = np.einsum("ij,bjc->bic", _rotation(0.7), x0[:, :2])
    run = dict(eta=ETA, steps=STEPS, stop_error=0.0, record="all")
    base = mfsim.simulate(spec, X0=x0, **run)
    rotated = mfsim.simulate(spec, X0=turned, **run)
    np.testing.assert_allclose(rotated.signal.values, base.signal.values, rtol=1e-10, atol=0)
    np.testing.assert_allclose(rotated.noise.values, base.noise.values, rtol=1e-10, atol=0)
    for name in ("rise", "learned", "t_eps", "T_u", "t_k", "t_init", "first_in_S"):
        np.testing.assert_array_equal(rotated[name].values, base[name].values, err_msg=name)
    # the per-row signal ||u_1||^2 is not rotation invariant (the test would see a per-row bug)
    row_1 = [np.sum(_dense_gd(x, lam, ETA, 30)[:, 0] ** 2, axis=1) for x in (x0[0], turned[0])]
    assert np.max(np.abs(row_1[0] / row_1[1] - 1)) > 0.01


STAGE_TIMES = ("rise", "learned", "t_eps", "T_u", "t_k", "t_init", "first_in_S", "first_in_R")


def test_a_near_tie_within_the_tolerance_gives_the_stage_times_of_the_tie():
    """Continuity at delta -> 0: delta = 1e-9 with tie_tolerance = 1e-6 (one cluster) against the
    exact tie, 16 seeds, flat bulk at d = 10^4: every stage time within one step (NaN alike) and
    the signals within 1e-6 relative at every recorded step."""
    run = dict(eta=ETA, steps=1500, varpi=0.5, seeds=range(16))
    tie = mfsim.simulate(mfsim.spectrum("flat", 10**4, r=2, kappa=5, top_gap=0.0), **run)
    near_spec = mfsim.spectrum("flat", 10**4, r=2, kappa=5, top_gap=1e-9, tie_tolerance=1e-6)
    near = mfsim.simulate(near_spec, **run)
    assert near_spec.top(2)[0] - near_spec.top(2)[1] > 0  # a near tie, not a tie
    for name in STAGE_TIMES:
        a, b = tie[name].values, near[name].values
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        assert np.nanmax(np.abs(a - b), initial=0.0) <= 1.0, name
    assert np.isfinite(tie.learned.values).all()
    np.testing.assert_allclose(near.signal.values, tie.signal.values, rtol=1e-6)


def test_without_the_tolerance_a_near_tie_keeps_the_delta_free_times():
    """Without tie_tolerance, delta = 1e-9 is a distinct gap (Delta = 1e-9, per-row signals): only
    the Delta-free t_eps stays continuous (within one step); rise (threshold Delta/2) does not."""
    run = dict(eta=ETA, steps=1500, varpi=0.5, seeds=range(8))
    tie = mfsim.simulate(mfsim.spectrum("flat", 10**4, r=2, kappa=5, top_gap=0.0), **run)
    near = mfsim.simulate(mfsim.spectrum("flat", 10**4, r=2, kappa=5, top_gap=1e-9), **run)
    assert np.all(np.abs(tie.t_eps.values - near.t_eps.values) <= 1.0)
    assert near.Delta.item() < 1e-8 and tie.Delta.item() == pytest.approx(0.4)
    assert np.all(near.rise.values < tie.rise.values)


def test_ties_beyond_row_three_are_refused_before_any_work():
    lam = _bulk(40, [1.0, 0.9, 0.8, 0.8, 0.5])
    spec = mfsim.spectrum("custom", r=4, eigenvalues=lam)
    with pytest.raises(ValueError, match=r"lambda_3..lambda_4"):
        mfsim.simulate(spec, eta=ETA, steps=10, seeds=[0])


def test_the_reduced_kernel_refuses_ties_and_auto_runs_the_plain_kernel_at_huge_d():
    spec = mfsim.spectrum("flat", {"log10": 100}, r=2, kappa=5, top_gap=0.0)
    with pytest.raises(ValueError, match="kernel='reduced'"):
        mfsim.simulate(spec, eta=ETA, steps=10, seeds=[0], kernel="reduced")
    ds = mfsim.simulate(spec, eta=ETA, steps=6000, seeds=[0, 1])
    assert (ds.status.values == mfsim.datamodel.CONVERGED).all()
    assert np.isfinite(ds.learned.values).all() and np.isfinite(ds.rise.values).all()
    # the cluster's sigma_max^2 rises first, sigma_min^2 (the cluster's signal) after it
    assert np.all(ds.rise.values[:, 0] <= ds.rise.values[:, 1])


def test_without_ties_the_outputs_pass_through_untouched():
    spec = mfsim.spectrum("flat", 1000, r=2, kappa=5)
    assert tie_clusters(spec) is None
    sentinel = object()
    assert cluster_outputs(sentinel, None) is sentinel
