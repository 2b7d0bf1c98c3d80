"""Tests of mfsim.analysis.linearized against measured runs and an independent reference.

The references: ``mfsim.simulate`` on the flat family (d <= 1e12, the engine's exact reduced
path) and ``tests/analysis/reference_flat.py``, a naive exponent-carrying GD of the same
reduced system written independently (any d).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import mfsim
from mfsim.analysis.linearized import (
    bulk_of,
    measurable_threshold,
    predict_stages,
    rise_slope,
    t_k_star_slope,
)
from mfsim.engine.simulation import simulate
from tests.analysis.reference_flat import reference_flat

ETA, VARPI, KAPPA = 0.1, 0.5, 5.0
SEEDS = tuple(range(8))


def flat(r):
    spec = mfsim.spectrum("flat", d=10**6, r=r, kappa=KAPPA)
    return spec, bulk_of(spec)


def test_bulk_of_flat_and_linear():
    spec, bulk = flat(2)
    assert bulk.values == (0.6,) and bulk.fractions == pytest.approx(((10**6 - 2) / 10**6,))
    spec = mfsim.spectrum("linear", d=1000, r=2, kappa=5)
    lin = bulk_of(spec, n_levels_per_ramp=4)
    ramps = sum(1 for seg in spec.segments if seg.increment != 0 and seg.count > 1)
    constants = len(spec.segments) - 2 - ramps  # segments after the top r = 2 rows
    assert len(lin.values) == 4 * ramps + constants
    assert sum(lin.fractions) == pytest.approx(998 / 1000)
    assert np.all(np.diff(lin.values) < 0) and lin.values[0] <= 0.6
    # mean of the eigenvalues is kept: sum of level value x multiplicity = trace of the bulk
    bulk = np.sort(np.concatenate([seg.values() for seg in spec.segments]))[::-1][2:]
    assert np.dot(lin.values, lin.multiplicities) == pytest.approx(bulk.sum(), rel=1e-12)


def test_staircase_saturates_at_its_top_multiple_level():
    """lambda_(r+1) is a single row in the staircase; the bulk saturates at the next level."""
    spec = mfsim.spectrum("staircase", d=10**6, r=2, kappa=KAPPA)
    bulk = bulk_of(spec)
    assert bulk.values[0] == pytest.approx(0.6) and bulk.multiplicities[0] == 1
    assert bulk.saturation_level(2) == bulk.values[1] < 0.6
    assert bulk.multiplicities[1] >= 2


def test_rise_slope_closed_form_numbers():
    # 1 / (2 ln(1 + eta (lambda_k - lambda_{r+1}))): eta = 0.1, gaps 0.4 and 0.2
    assert rise_slope(ETA, [1.0, 0.8], 0.6) == pytest.approx(
        [1 / (2 * math.log(1.04)), 1 / (2 * math.log(1.02))]
    )
    with pytest.raises(ValueError, match="lambda_k"):
        rise_slope(ETA, [1.0, 0.5], 0.6)


@pytest.mark.parametrize("r", [2, 3])
def test_rise_slope_matches_engine_runs(r):
    """Fitted slope of the engine's median rise times (d = 1e3..1e12) within 3% of theory."""
    spec, bulk = flat(r)
    exponents = np.arange(3, 13)
    medians = []
    for e in exponents:
        ds = simulate(
            mfsim.spectrum("flat", d=10 ** int(e), r=r, kappa=KAPPA),
            eta=ETA,
            steps=1200,
            varpi=VARPI,
            seeds=range(64),
            epsilons=(1e-2,),
        )
        medians.append(np.median(ds["rise"].values, axis=0))
    slopes = np.polyfit(exponents * math.log(10.0), np.array(medians), 1)[0]
    theory = rise_slope(ETA, spec.top(r), bulk.values[0])
    np.testing.assert_allclose(slopes, theory, rtol=0.03)


def test_rise_slope_matches_reference_at_huge_d():
    """Between d = 1e100 and 1e200 the reference's rise slope equals the theory to 0.5%."""
    spec, bulk = flat(2)
    lo = reference_flat(100, 2, seeds=SEEDS, n_steps=6000)["rise"]
    hi = reference_flat(200, 2, seeds=SEEDS, n_steps=12000)["rise"]
    slope = (np.median(hi, 0) - np.median(lo, 0)) / (100 * math.log(10.0))
    np.testing.assert_allclose(slope, rise_slope(ETA, spec.top(2), 0.6), rtol=0.005)


def test_predicted_stages_match_reference():
    """Scalar-model rise times, t_k^* and the bound flag against the reference (8 seeds)."""
    spec, bulk = flat(2)
    for log10_d, bound in ((100, True), (200, False)):
        ref = reference_flat(log10_d, 2, seeds=SEEDS, n_steps=int(60 * log10_d) + 3500)
        pred = predict_stages(
            [log10_d], spec.top(2), bulk, eta=ETA, varpi=VARPI, n_steps=int(60 * log10_d) + 3500
        )
        np.testing.assert_allclose(pred.rise[0], np.median(ref["rise"], 0), rtol=0.01)
        assert bool(pred.bound_dominated[0, 0]) is bound
        assert np.all(ref["bound_dominated"][:, 0] == bound)
        np.testing.assert_allclose(pred.t_k_star[0, 0], np.median(ref["t_k_star"][:, 0]), rtol=0.02)


def test_t_k_star_slope_in_measured_regime_matches_reference():
    spec, bulk = flat(2)
    lo = reference_flat(200, 2, seeds=SEEDS, n_steps=16000)["t_k_star"][:, 0]
    hi = reference_flat(280, 2, seeds=SEEDS, n_steps=20000)["t_k_star"][:, 0]
    slope = (np.median(hi) - np.median(lo)) / (80 * math.log(10.0))
    expected = t_k_star_slope(ETA, spec.top(2), 0.6, spec.Delta)[0]
    assert slope == pytest.approx(expected, rel=0.02)


def test_t_k_star_slope_follows_the_chain_regime_r3():
    """r = 3, k = 2 with t_1^* bound-dominated: t_2 moves with rise_1, slope (S_3 - S_1) f."""
    spec, bulk = flat(3)
    lo = reference_flat(240, 3, seeds=SEEDS, n_steps=18000)["t_k_star"][:, 1]
    hi = reference_flat(290, 3, seeds=SEEDS, n_steps=21000)["t_k_star"][:, 1]
    slope = (np.median(hi) - np.median(lo)) / (50 * math.log(10.0))
    expected = t_k_star_slope(
        ETA, spec.top(3), 0.4, spec.Delta, bound_dominated=[True, False], init_later=[False, True]
    )
    assert expected[0] == 0.0
    assert slope == pytest.approx(expected[1], rel=0.03)
    # the naive regime (t_k = rise_k + ceil(t^*)) would give 10.7: clearly different
    assert abs(slope - t_k_star_slope(ETA, spec.top(3), 0.4, spec.Delta)[1]) > 2.0


def test_staircase_rise_slope_matches_engine_runs_with_the_transient():
    """Staircase: the scalar model (with the lower levels' transient) gives the engine's slope
    over d = 1e3..1e12 within 3%; the asymptote (R) at the saturation level is 5-7% above."""
    spec = mfsim.spectrum("staircase", d=10**6, r=2, kappa=KAPPA)
    bulk = bulk_of(spec)
    exponents = np.arange(3, 13)
    medians = []
    for e in exponents:
        ds = simulate(
            mfsim.spectrum("staircase", d=10 ** int(e), r=2, kappa=KAPPA),
            eta=ETA,
            steps=1500,
            varpi=VARPI,
            seeds=range(64),
            epsilons=(1e-2,),
        )
        medians.append(np.median(ds["rise"].values, axis=0))
    x = exponents * math.log(10.0)
    measured = np.polyfit(x, np.array(medians), 1)[0]
    pred = predict_stages(exponents, spec.top(2), bulk, eta=ETA, varpi=VARPI, n_steps=1500)
    np.testing.assert_allclose(measured, np.polyfit(x, pred.rise, 1)[0], rtol=0.03)
    asymptote = rise_slope(ETA, spec.top(2), bulk.saturation_level(2))
    assert np.all(measured < 0.97 * asymptote)


def test_measurable_threshold_brackets_reference():
    """r = 2: predicted threshold ~1e138; the reference is bound at 1e125, measured at 1e150."""
    spec, bulk = flat(2)
    threshold = measurable_threshold(
        spec.top(2), bulk, eta=ETA, varpi=VARPI, log10_d_max=160, resolution=1.0, n_steps=11000
    )
    assert 125 < threshold[0] < 150
    assert reference_flat(125, 2, seeds=SEEDS, n_steps=9000)["bound_dominated"][:, 0].all()
    assert not reference_flat(150, 2, seeds=SEEDS, n_steps=10000)["bound_dominated"][:, 0].any()


@pytest.mark.parametrize("r, k", [(2, 1), (3, 2)])
def test_engine_literal_t_k_star_measured_at_1e300_bound_at_small_d(r, k):
    """The shipped sweep's ends, fixed seeds: bound-dominated at d = 1e2, measured at 1e300,
    and there within 3% of the scalar model's prediction."""
    spec, bulk = flat(r)
    seeds = range(4)
    small = simulate(
        mfsim.spectrum("flat", d=100, r=r, kappa=KAPPA),
        eta=ETA,
        steps=22000,
        varpi=VARPI,
        seeds=seeds,
        epsilons=(1e-2,),
    )
    assert small["t_k_star_bound_dominated"].sel(k=k).values.all()
    huge = simulate(
        mfsim.spectrum("flat", d={"log10": 300}, r=r, kappa=KAPPA),
        eta=ETA,
        steps=22000,
        varpi=VARPI,
        seeds=seeds,
        epsilons=(1e-2,),
    )
    values = huge["t_k_star"].sel(k=k).values
    assert np.isfinite(values).all() and not huge["t_k_star_bound_dominated"].sel(k=k).any()
    pred = predict_stages([300], spec.top(r), bulk, eta=ETA, varpi=VARPI, n_steps=22000)
    assert not pred.bound_dominated[0, k - 1]
    np.testing.assert_allclose(np.median(values), pred.t_k_star[0, k - 1], rtol=0.03)


def test_chi2_median_against_scipy_and_mpmath():
    """The scalar model starts at the median chi^2_m (compared with medians over seeds)."""
    import mpmath
    from scipy.stats import chi2

    from mfsim.analysis.linearized import chi2_median

    for m in range(1, 7):
        assert chi2_median(m) == pytest.approx(chi2.median(m), rel=1e-12)
        root = mpmath.findroot(
            lambda x, m=m: mpmath.gammainc(m / 2, 0, x / 2, regularized=True) - 0.5, m
        )
        assert chi2_median(m) == pytest.approx(float(root), rel=1e-12)
    # the bias the median removes: ln median chi^2_1 - E ln chi^2_1 = 0.48
    from scipy.special import digamma

    assert math.log(chi2_median(1)) - (digamma(0.5) + math.log(2)) == pytest.approx(
        0.4828, abs=1e-4
    )


def test_sd_of_ln_chi2_1_is_pi_over_sqrt2():
    """The seed spread of rise_r is S SD(ln chi^2_1) = 2.221 S (docs/transition.md): the
    variance of ln chi^2_1 is psi'(1/2) = pi^2 / 2, checked against a large sample."""
    from scipy.special import polygamma

    assert math.sqrt(polygamma(1, 0.5)) == pytest.approx(math.pi / math.sqrt(2), rel=1e-12)
    sample = np.log(np.random.default_rng(0).chisquare(1, 2_000_000))
    assert sample.std() == pytest.approx(math.pi / math.sqrt(2), rel=3e-3)
