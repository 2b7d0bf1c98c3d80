"""Initialization: seed streams and the Bartlett sampler of the reduced engine."""

import numpy as np
import pytest
from scipy import stats

import mfsim
from mfsim.engine.initialization import bartlett_factor, effective_system, initial_state


def test_x0_depends_only_on_seed_d_r():
    spec = mfsim.spectrum("linear", 300, r=2, kappa=5)
    system = effective_system(spec, reduce=False)
    a = initial_state(system, 0.5, seed=7)
    b = initial_state(system, 1.0, seed=7)
    np.testing.assert_array_equal(2 * a, b)  # common random numbers across varpi
    assert not np.array_equal(a, initial_state(system, 0.5, seed=8))
    # entries ~ N(0, varpi^2 / d): a loose check of the scale
    assert np.std(a) * np.sqrt(300) / 0.5 == pytest.approx(1.0, rel=0.15)


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        mfsim.run_seed_sequence(-1, 10, 2)


def test_bartlett_gram_has_wishart_mean_and_variance():
    """Wishart_r(n, s^2 I): E W_ij = n s^2 delta_ij, Var W_ij = n s^4 (1 + delta_ij).

    Each moment is checked with a z-test on 4000 draws at |z| < 4.5 (false-alarm rate about
    7e-6 per moment, 6 moments here), fixed seed.
    """
    rng = np.random.default_rng(12345)
    n, r, s, draws = 40, 3, 0.7, 4000
    grams = np.empty((draws, r, r))
    for i in range(draws):
        factor = bartlett_factor(rng, n, r, s)
        grams[i] = factor.T @ factor
    for i, j in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]:
        w = grams[:, i, j]
        mean = n * s**2 * (i == j)
        var = n * s**4 * (1 + (i == j))
        assert abs(w.mean() - mean) / np.sqrt(var / draws) < 4.5
        # variance of the sample variance uses the 4th moment; a chi-square style bound
        z_var = (w.var() - var) / (var * np.sqrt(2.0 / draws) * 2)
        assert abs(z_var) < 4.5


def test_bartlett_distribution_matches_scipy_wishart():
    """Trace of the sampled Gram vs scipy's Wishart sampler: KS test at alpha = 1e-3."""
    rng = np.random.default_rng(3)
    n, r, s = 25, 2, 1.3
    factors = [bartlett_factor(rng, n, r, s) for _ in range(2000)]
    ours = [np.trace(f.T @ f) for f in factors]
    ref = stats.wishart(df=n, scale=s**2 * np.eye(r)).rvs(2000, random_state=4)
    assert stats.ks_2samp(ours, np.trace(ref, axis1=1, axis2=2)).pvalue > 1e-3
