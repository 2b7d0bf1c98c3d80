"""The per-gap fits of mfsim.analysis.tie_scan."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mfsim.analysis.tie_scan import gap_rows, scan, slope_fit


def test_slope_fit_is_scipy_linregress_with_nan_runs_dropped():
    rng = np.random.default_rng(0)
    ln_d = np.log([1e2, 1e4, 1e6, 1e8])
    values = 30 + 5 * ln_d[:, None] + rng.normal(0, 3, (4, 16))
    values[1, 3] = np.nan
    fit = slope_fit(ln_d, values)
    x = np.repeat(ln_d, 16)
    ok = np.isfinite(values.ravel())
    ref = stats.linregress(x[ok], values.ravel()[ok])
    assert fit["slope"] == pytest.approx(ref.slope, rel=1e-12)
    assert fit["se"] == pytest.approx(ref.stderr, rel=1e-12)
    assert fit["intercept"] == pytest.approx(ref.intercept, rel=1e-12)
    assert fit["n"] == 63


def test_a_small_scan_gives_one_row_per_gap_with_the_small_signal_prediction():
    results = scan([0.0, 0.1], [100, 10**4], seeds=range(4), steps=2000)
    rows = gap_rows(results)
    assert [row["gap"] for row in rows] == [0.0, 0.1]
    tie, wide = rows
    assert tie["predicted_separation"] == 0.0  # equal top eigenvalues: equal small-signal rates
    # 1 / (2 ln(1 + eta (lambda_k - lambda_3))), lambda = 1, 0.9, 0.6, eta = 0.1, written here
    expected = 1 / (2 * np.log(1.03)) - 1 / (2 * np.log(1.04))
    assert wide["predicted_separation"] == pytest.approx(expected, rel=1e-12)
    assert all(np.isfinite(row["separation"]["slope"]) for row in rows)
