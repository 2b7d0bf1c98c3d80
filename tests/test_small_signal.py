"""mfsim.small_signal's closed forms against the scalar model it simplifies and the engine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mfsim
from mfsim.small_signal import (
    bulk_of,
    diverges_at_start,
    measurable_log10_d,
    predict_stages,
    sigma1_initial,
)


@pytest.mark.parametrize(("r", "k"), [(2, 1), (3, 2)])
def test_closed_form_threshold_agrees_with_the_integrated_scalar_model(r, k):
    """The closed-form chain's threshold, 8 decades either side, against predict_stages
    (the per-direction model integrated step by step, with its transients)."""
    spec = mfsim.spectrum("flat", 10**6, r=r, kappa=5)
    bulk = bulk_of(spec)
    threshold = measurable_log10_d(spec.top(r), bulk.saturation_level(r), eta=0.1, varpi=0.5)
    x = threshold[k - 1]
    assert np.isfinite(x)
    pred = predict_stages(
        [x - 8.0, x + 8.0], spec.top(r), bulk, eta=0.1, varpi=0.5, n_steps=int(60 * x) + 12000
    )
    assert pred.bound_dominated[0, k - 1] and np.isfinite(pred.t_k_star[0, k - 1])
    assert not pred.bound_dominated[1, k - 1] and np.isfinite(pred.t_k_star[1, k - 1])


def test_r3_k1_stays_bound_dominated_up_to_1e300():
    spec = mfsim.spectrum("flat", 10**6, r=3, kappa=5)
    threshold = measurable_log10_d(spec.top(3), 0.4, eta=0.1, varpi=0.5, log10_d_max=300)
    assert threshold[0] == np.inf and threshold[1] < 300


def test_divergence_prediction_is_sharp_on_the_engine():
    """eta sigma_1^2(X_0) = 2 + eta lambda_1 at varpi ~ 4.39 (eta = 0.1, d = 1000, r = 2):
    7% below it GD stays bounded, 7% above it diverges."""
    d, r, eta = 1000, 2, 0.1
    limit = np.sqrt((2.0 + eta) / eta) / (1 + np.sqrt(r / d))
    spec = mfsim.spectrum("flat", d, r=r, kappa=5)
    for varpi, expected in ((0.93 * limit, False), (1.07 * limit, True)):
        assert bool(diverges_at_start(eta, 1.0, sigma1_initial(varpi, d, r))) == expected
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = mfsim.simulate(spec, eta=eta, steps=300, varpi=varpi, seeds=range(4),
                                progress=False)  # fmt: skip
        assert bool((ds.status.values == 2).all()) == expected, (varpi, ds.status.values)
        assert bool((ds.status.values == 2).any()) == expected
