"""mfsim.analysis.regimes: growth of t_k^* in the degenerate regimes, against the small-signal
prediction; and the shipped regime sweeps (scenario)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from mfsim.analysis.regimes import (
    FASTER_RATIO,
    degenerate_regimes,
    predicted_medians,
    regime_growth,
    slope_ratio,
)

LOG10_D = np.linspace(2, 300, 16)


def test_slope_ratio_on_closed_forms():
    """a + b ln d reads 1; (ln d)^2 reads mean(ln d | upper half) / mean(ln d | lower half)
    (the least-squares slope of x^2 over evenly spaced x is 2 mean(x))."""
    x = LOG10_D * math.log(10)
    assert slope_ratio(x, 3.0 + 7.0 * x) == pytest.approx(1.0)
    middle = 0.5 * (x.min() + x.max())
    expected = x[x >= middle].mean() / x[x <= middle].mean()
    assert slope_ratio(x, x**2) == pytest.approx(expected)


def _sweep(values, flag=None, gap=None, steps=2000):
    """A one-group sweep Dataset, r = 2, with t_k_star = rise = `values` (d, seed) at k = 1."""
    n_d, n_seeds = values.shape
    stack = np.stack([values, np.full_like(values, np.nan)], axis=-1)[None, None, None, None]
    flag = np.zeros_like(values, bool) if flag is None else flag
    flags = np.stack([flag, np.zeros_like(flag)], axis=-1)[None, None, None, None]
    dims = ("kappa", "varpi", "eta", "r", "d", "seed", "k")
    spectrum = {"family": "flat", "lambda_1": 1.0, **({"gap": gap} if gap else {})}
    config = {"spectrum": spectrum, "run": {"steps": steps}}
    return xr.Dataset(
        {
            "t_k_star": (dims, stack),
            "rise": (dims, stack),
            "t_k_star_bound_dominated": (dims, flags),
        },
        coords={
            "kappa": [5.0],
            "varpi": [0.5],
            "eta": [0.1],
            "r": [2],
            "d": 10.0 ** LOG10_D[:n_d],
            "seed": np.arange(n_seeds),
            "k": [1, 2],
        },  # fmt: skip
        attrs={"config": yaml.safe_dump(config)},
    )


def _chi2_scatter(rng, n_d, n_seeds, scale):
    """The skewed seed scatter of a rise time: -S ln chi^2_1."""
    return -scale * np.log(rng.chisquare(1, size=(n_d, n_seeds)))


def test_log_law_with_skewed_scatter_is_not_read_as_faster():
    rng = np.random.default_rng(1)
    x = LOG10_D * math.log(10)
    values = 100 + 12.0 * x[:, None] + _chi2_scatter(rng, x.size, 64, 12.0)
    (row,) = [r for r in regime_growth(_sweep(values), ("t_k_star",), n_boot=100)]
    assert row["verdict"] == "consistent with log d"
    assert row["ratio_low"] <= 1 <= row["ratio_high"]


def test_log_squared_and_a_power_of_d_are_read_as_faster():
    rng = np.random.default_rng(2)
    x = LOG10_D[:8] * math.log(10)  # d up to 1e140
    for law in (0.5 * x**2, 50 * np.exp(0.01 * x)):
        values = law[:, None] + _chi2_scatter(rng, x.size, 32, 5.0)
        (row,) = regime_growth(_sweep(values), ("t_k_star",), n_boot=100)
        assert row["ratio_low"] > FASTER_RATIO and row["verdict"] == "faster than log d"


def test_a_bound_then_a_log_law_is_not_curvature():
    """t_k^* = 1105 (bound-dominated) up to 1e140, then 1105 + 10.7 (ln d - ln 1e140) measured:
    the plateau is left out, and the measured part reads as log d."""
    x = LOG10_D * math.log(10)
    start = 140 * math.log(10)
    flag = np.repeat((x <= start)[:, None], 16, axis=1)
    values = np.where(flag, 1105.0, 1105.0 + 10.7 * (x[:, None] - start))
    values = values + np.where(flag, 0, np.random.default_rng(3).normal(0, 3, flag.shape))
    (row,) = regime_growth(_sweep(values, flag), ("t_k_star",), n_boot=100)
    assert row["verdict"] == "consistent with log d"
    assert np.isnan(row["measured"][x <= start]).all()
    # kept whole, the plateau followed by the log law would read as faster
    assert slope_ratio(x, np.median(values, axis=1)) > FASTER_RATIO


def test_predicted_t_k_star_with_a_shrinking_gap_is_ceil_t_sharp():
    """With Delta = 0.2 / ln d the prediction is ceil(ln(Delta/(4r)) / ln(1 - eta Delta/6))
    (eq. 14), written here; rises follow ln(Delta d / (2 varpi^2 med chi^2_m)) / (2 ln rho)."""
    ds = _sweep(np.ones((4, 2)), gap={"law": "inverse_log"}, steps=10**7)
    assert degenerate_regimes(ds) == ["gap_inverse_log"]
    group = {"kappa": 5.0, "varpi": 0.5, "eta": 0.1, "r": 2}
    predicted = predicted_medians(ds, group, "t_k_star")[:, 0]
    ln_d = LOG10_D[:4] * math.log(10)
    delta = 0.2 / ln_d
    expected = np.ceil(np.log(delta / 8) / np.log(1 - 0.1 * delta / 6))
    assert predicted == pytest.approx(expected, abs=1)
    rise = predicted_medians(ds, group, "rise")
    median_chi2_2 = 2 * math.log(2)  # chi^2_2 is exponential with mean 2: median 2 ln 2
    s0 = 0.25 * median_chi2_2 / np.exp(ln_d)
    expected_rise_1 = np.log(delta / (2 * s0)) / (2 * np.log1p(0.1 * 2 * delta))
    assert rise[:, 0] == pytest.approx(expected_rise_1, rel=1e-9)


def test_no_regime_for_the_reference_constants():
    ds = _sweep(np.ones((4, 2)))
    assert degenerate_regimes(ds) == []
    ds = ds.assign_coords(lambda_1=1.0).expand_dims(lambda_1=[1.0]).squeeze("lambda_1")
    near = ds.assign_coords(varpi=[0.95 * math.sqrt(2.1 / 0.1)])
    assert degenerate_regimes(near) == ["varpi_near_divergence"]


REGIME_CONFIGS = sorted((Path(__file__).resolve().parents[2] / "config").glob("regime_*.yaml"))


@pytest.mark.scenario
@pytest.mark.parametrize("path", REGIME_CONFIGS, ids=[p.stem for p in REGIME_CONFIGS])
def test_shipped_regime_sweeps_read_as_their_prediction(path, local_client):
    """Each shipped regime sweep, as shipped: the measured slope ratio of every rise and t_k^*
    row is within 20% of the predicted one (the closed-form rise omits the bulk transient);
    the last signal's rise reads faster than log d under the gap laws (the finding), and
    nothing does near the divergence limit of varpi."""
    from mfsim.execute import sweep

    ds = sweep(yaml.safe_load(path.read_text()), client=local_client)
    rows = regime_growth(ds, n_boot=100)
    for row in rows:
        assert row["ratio"] == pytest.approx(row["ratio_predicted"], rel=0.2), row
    rises = [row for row in rows if row["quantity"] == "rise"]
    last = [row for row in rises if row["k"] == int(row["group"]["r"])]
    if "varpi" in path.stem:
        assert all(row["verdict"] == "consistent with log d" for row in rows)
    else:
        assert all(row["verdict"] == "faster than log d" for row in last)
