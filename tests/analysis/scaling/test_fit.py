"""Tests of mfsim.analysis.scaling: fits of stage times versus d, bootstrap, model comparison,
verdicts (the package as a whole, through fit_scaling and fit_all)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mfsim.analysis import scaling
from mfsim.analysis.scaling import (
    VERDICT_BOUND,
    VERDICT_DECREASING,
    VERDICT_FASTER,
    VERDICT_FLAT,
    VERDICT_LOG_DECISIVE,
    VERDICT_LOG_OR_POWER,
    VERDICT_NO_RUNS,
    VERDICT_NOT_ENOUGH,
    VERDICT_NOT_REACHED,
    VERDICT_RULE,
    VERDICT_UNDEFINED,
    boxcox,
    decide_verdict,
    fit_all,
    fit_scaling,
    fits_for,
    power_analysis,
    stage_table,
)
from tests.analysis.synthetic import (
    D_VALUES,
    make_synthetic_sweep,
    verdict_of,
    verdict_rates,
)

LOG_VERDICTS = {VERDICT_LOG_DECISIVE, VERDICT_LOG_OR_POWER}

LOG, POWER, CONST = 1.0, 2.0, 3.0  # kappa of each law in the three-law sweep
GROUP = {"varpi": 0.5, "varpi_exponent": 0.0, "eta": 0.1, "r": 3}
PARAMETER_VARS = [
    name
    for p in ("log_intercept", "log_slope", "power_prefactor", "power_exponent", "const_mean")
    for name in (p, p + "_lo", p + "_hi")
]


@pytest.fixture(scope="module")
def sweep():
    """6 d values from 1e2 to 1e6, 16 seeds; kappa 1: log law, 2: power law, 3: constant."""
    return make_synthetic_sweep(("log", "power", "const"))


@pytest.fixture(scope="module")
def escape_fit(sweep):
    return fit_scaling(sweep, "escape")


def one(fit, kappa, **index):
    """The fit of one group (scalar variables)."""
    return fit.sel(kappa=kappa, **GROUP, **index)


def points(ds, quantity, kappa, **index):
    """(log d, y) of the finite values of one group, flattened over d and seed."""
    da = ds[quantity].sel(kappa=kappa, **GROUP, **index).transpose("d", "seed")
    log_d = np.broadcast_to(np.log(da["d"].values)[:, None], da.shape)
    ok = np.isfinite(da.values)
    return log_d[ok], da.values[ok]


# --------------------------------------------------------------------------------------------
# The three laws
# --------------------------------------------------------------------------------------------
def test_log_law_prefers_log_and_covers_true_slope(escape_fit):
    fit = one(escape_fit, LOG, k=1)
    assert str(fit["preferred_model"].values) == "log"
    assert bool(fit["decisive"])
    assert float(fit["log_slope_lo"]) <= 20.0 <= float(fit["log_slope_hi"])
    assert str(fit["verdict"].values) == VERDICT_LOG_DECISIVE
    assert "excluded" in str(fit["verdict_detail"].values)
    assert float(fit["boxcox_alpha_lo"]) <= 0.0 <= float(fit["boxcox_alpha_hi"])
    # k = 2 follows 2 (5 + 20 log d): slope 40
    fit2 = one(escape_fit, LOG, k=2)
    assert float(fit2["log_slope_lo"]) <= 40.0 <= float(fit2["log_slope_hi"])
    assert str(fit2["verdict"].values) == VERDICT_LOG_DECISIVE


def test_power_law_prefers_power_and_covers_true_exponent(escape_fit):
    fit = one(escape_fit, POWER, k=1)
    assert str(fit["preferred_model"].values) == "power"
    assert float(fit["power_exponent_lo"]) <= 0.5 <= float(fit["power_exponent_hi"])
    assert float(fit["power_prefactor_lo"]) <= 3.0 <= float(fit["power_prefactor_hi"])
    assert str(fit["verdict"].values) == VERDICT_FASTER
    assert float(fit["power_exponent_lo"]) > 0
    # the Box-Cox family contains c d^alpha exactly: its interval covers the true 0.5
    assert 0.0 < float(fit["boxcox_alpha_lo"]) <= 0.5 <= float(fit["boxcox_alpha_hi"]) + 0.03


def test_constant_prefers_const_and_finds_no_growth(escape_fit):
    fit = one(escape_fit, CONST, k=1)
    assert str(fit["preferred_model"].values) == "const"
    assert float(fit["log_slope_lo"]) <= 0.0 <= float(fit["log_slope_hi"])
    assert float(fit["const_mean_lo"]) <= 40.0 <= float(fit["const_mean_hi"])
    assert str(fit["verdict"].values) == VERDICT_FLAT


def test_noisy_log_law_is_never_called_faster_than_log():
    """Plain argmin of CV error picks power for ~15-20% of such data sets; the rule must not."""
    ds = make_synthetic_sweep(("log",) * 6, noise=60.0, rng_seed=3)
    fit = fit_scaling(ds, "escape", n_boot=400).sel(k=1)
    verdicts = set(fit["verdict"].values.ravel().tolist())
    assert VERDICT_FASTER not in verdicts
    assert verdicts <= LOG_VERDICTS | {VERDICT_FLAT}


#: (law, bounds on the share of each verdict over 30 data sets); laws of synthetic.LAWS
RATE_CASES = {
    "log, sd 10": {VERDICT_LOG_DECISIVE: (0.9, 1.0)},
    "log, sd 150": {VERDICT_FASTER: (0.0, 0.15), VERDICT_DECREASING: (0.0, 0.0)},
    "d^0.5, lognormal 0.2": {VERDICT_FASTER: (1.0, 1.0)},
    "d^0.05, lognormal 0.05": {VERDICT_LOG_DECISIVE: (0.0, 0.0), VERDICT_FLAT: (0.0, 0.0)},
    "const, sd 10": {VERDICT_FLAT: (0.8, 1.0), VERDICT_FASTER: (0.0, 0.0)},
    "60 - 4 log d, sd 3": {VERDICT_DECREASING: (1.0, 1.0)},
}


@pytest.mark.parametrize("law", list(RATE_CASES))
def test_verdict_rates_on_synthetic_laws(law):
    """Smaller version of the rate study in docs/scaling.md (benchmarks/verdict_rates.py)."""
    rates = verdict_rates(law, n_sets=30, n_boot=200, seed=7)
    for verdict, (lo, hi) in RATE_CASES[law].items():
        assert lo <= rates.get(verdict, 0.0) <= hi, (law, rates)
    assert VERDICT_LOG_DECISIVE not in rates or law.startswith("log") or law.startswith("d^0.05")


def test_negative_slope_is_never_consistent_with_log():
    y_d = np.log(np.asarray(D_VALUES))
    rng = np.random.default_rng(0)
    for trial in range(10):
        y = 300.0 - 8.0 * y_d[:, None] + 2.0 * rng.standard_normal((y_d.size, 12))
        verdict, _ = verdict_of(D_VALUES, y, n_boot=200, seed=trial)
        assert verdict == VERDICT_DECREASING


def test_small_power_law_detected_above_the_stated_detectable_alpha():
    """The power analysis is checked by the rule itself on independent synthetic power laws.

    A noisy log law over 1e2..1e30 gives "both consistent" with a detectable alpha; shifted
    power laws with 3x that alpha (same noise) must then be called faster than log d in most
    data sets, and with a third of it rarely.
    """
    d = np.geomspace(1e2, 1e30, 15)
    x = np.log(d) - np.log(d[0])
    rng = np.random.default_rng(5)
    noise = 40.0

    def data(alpha):
        mean = 100.0 + 10.0 * (np.expm1(alpha * x) / alpha if alpha else x)
        return mean[:, None] + noise * rng.standard_normal((d.size, 16))

    found = []
    for trial in range(6):
        verdict, fit = verdict_of(d, data(0.0), n_boot=200, seed=trial, full=True)
        if verdict == VERDICT_LOG_OR_POWER:
            found.append(float(fit["detectable_alpha"].values.ravel()[0]))
    assert found, "a noisy log law should leave log and power both consistent"
    alpha_det = float(np.median(found))
    assert 0 < alpha_det < 0.2
    high = [verdict_of(d, data(3 * alpha_det), n_boot=100, seed=i)[0] for i in range(20)]
    low = [verdict_of(d, data(alpha_det / 3), n_boot=100, seed=i)[0] for i in range(20)]
    assert high.count(VERDICT_FASTER) >= 16, high
    assert low.count(VERDICT_FASTER) <= 6, low


def test_boxcox_alpha_equals_a_direct_minimisation():
    """Profile estimate of alpha against scipy's bounded minimiser of the same weighted RSS."""
    from scipy.optimize import minimize_scalar

    d = np.geomspace(1e2, 1e8, 8)
    x = np.log(d)
    rng = np.random.default_rng(2)
    y = 20.0 + 3.0 * np.expm1(0.2 * (x - x[0]))[:, None] / 0.2 + rng.normal(0, 2.0, (8, 20))
    _, fit = verdict_of(d, y, n_boot=50, seed=0, full=True)
    means, var = y.mean(1), y.var(1, ddof=1)
    w = 20 / var

    def rss(alpha):
        z = np.expm1(alpha * (x - x[0])) / alpha
        design = np.stack([np.ones_like(z), z], 1) * np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(design, means * np.sqrt(w), rcond=None)
        return float(np.sum((means * np.sqrt(w) - design @ coef) ** 2))

    best = minimize_scalar(rss, bounds=(0.01, 1.0), method="bounded", options={"xatol": 1e-6})
    grid_step = 0.05  # the profile grid near alpha = 0.2 for ln(d) spanning 13.8
    assert float(fit["boxcox_alpha"].values.ravel()[0]) == pytest.approx(best.x, abs=grid_step)


def test_values_below_zero_exclude_the_power_model_from_every_comparison():
    d = np.asarray(D_VALUES)
    rng = np.random.default_rng(4)
    y = -50.0 + 10.0 * np.log(d)[:, None] + 5.0 * rng.standard_normal((d.size, 16))
    assert (y <= 0).any()
    verdict, fit = verdict_of(d, y, n_boot=100, seed=0, full=True)
    fit = fit.isel(kappa=0, k=0)
    assert np.isnan(fit["power_exponent"]) and np.isnan(fit["cv_rmse"].sel(model="power"))
    assert np.isfinite(fit["cv_rmse"].sel(model="log")) and np.isfinite(fit["boxcox_alpha"])
    assert "power law c d^alpha not fitted" in str(fit["caveat"].values)
    assert "excluded from both" in fit.attrs["nonpositive_values"]
    assert verdict in LOG_VERDICTS and verdict != VERDICT_LOG_DECISIVE


def test_decide_verdict_order_and_vocabulary():
    base = {"exists": True, "defined": True, "min_d": 3, "n_bound_dominated": 0}
    assert decide_verdict({**base, "exists": False})[0] == VERDICT_NO_RUNS
    few = {**base, "n_d_used": 1}
    assert decide_verdict({**few, "n_bound_dominated": 9, "n_not_reached": 2})[0] == VERDICT_BOUND
    assert decide_verdict({**few, "n_not_reached": 5})[0] == VERDICT_NOT_REACHED
    assert decide_verdict({**few, "n_not_reached": 0})[0] == VERDICT_NOT_ENOUGH
    fitted = {
        **base,
        "n_d_used": 6,
        "n_not_reached": 0,
        "log_slope_lo": 1.0,
        "log_slope_hi": 2.0,
        "boxcox_alpha_lo": -0.1,
        "boxcox_alpha_hi": 0.2,
        "preferred": "log",
        "decisive_over": {"const", "power"},
        "power_fitted": True,
    }
    assert decide_verdict(fitted)[0] == VERDICT_LOG_DECISIVE
    calls = []
    verdict, detail = decide_verdict(
        {**fitted, "power_fitted": False}, lambda: calls.append(1) or 0.05
    )
    assert verdict == VERDICT_LOG_OR_POWER and calls == [1] and "alpha >= 0.05" in detail
    assert decide_verdict({**fitted, "boxcox_alpha_lo": 0.01})[0] == VERDICT_FASTER
    assert decide_verdict({**fitted, "log_slope_lo": -1.0})[0] == VERDICT_FLAT
    assert (
        decide_verdict({**fitted, "log_slope_lo": -2, "log_slope_hi": -1})[0] == VERDICT_DECREASING
    )
    # the rule table lists every verdict exactly once, in the order applied
    assert len({v for v, _ in VERDICT_RULE}) == len(VERDICT_RULE)


def test_output_layout(escape_fit):
    assert escape_fit.attrs["quantity"] == "escape"
    assert escape_fit.attrs["n_boot"] == 1000
    assert list(escape_fit["model"].values) == ["const", "log", "power"]
    for name in PARAMETER_VARS:
        assert escape_fit[name].dims == ("kappa", "varpi", "varpi_exponent", "eta", "r", "k")
    assert escape_fit["cv_rmse"].dims[-1] == "model"
    assert escape_fit["n_reached"].dims[-1] == "d"
    assert escape_fit["curve"].dims[-2:] == ("model", "d_curve")
    # the preferred model has the lowest CV error and zero excess
    fit = one(escape_fit, LOG, k=1)
    cv = fit["cv_rmse"].to_series()
    assert cv.idxmin() == "log"
    assert float(fit["cv_excess"].sel(model="log")) == 0.0
    assert float(fit["cv_win_fraction"].sum()) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# Independent checks of the estimates
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kappa", [LOG, POWER, CONST])
def test_point_estimates_match_numpy_polyfit(sweep, escape_fit, kappa):
    log_d, y = points(sweep, "escape", kappa, k=1)
    fit = one(escape_fit, kappa, k=1)
    slope, intercept = np.polyfit(log_d, y, 1)
    assert float(fit["log_slope"]) == pytest.approx(slope, rel=1e-10)
    assert float(fit["log_intercept"]) == pytest.approx(intercept, rel=1e-10)
    alpha, log_c = np.polyfit(log_d, np.log(y), 1)
    assert float(fit["power_exponent"]) == pytest.approx(alpha, rel=1e-10, abs=1e-12)
    assert float(fit["power_prefactor"]) == pytest.approx(np.exp(log_c), rel=1e-10)
    assert float(fit["const_mean"]) == pytest.approx(y.mean(), rel=1e-12)
    # R^2 of the log model on the y scale
    resid = y - np.polyval([slope, intercept], log_d)
    r2 = 1 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2)
    assert float(fit["r2"].sel(model="log")) == pytest.approx(r2, rel=1e-10)


def test_cross_validation_by_hand(sweep, escape_fit):
    log_d, y = points(sweep, "escape", LOG, k=1)
    levels = np.unique(log_d)
    fold_mse = []
    for level in levels:
        held = log_d == level
        slope, intercept = np.polyfit(log_d[~held], y[~held], 1)
        fold_mse.append(np.mean((y[held] - (intercept + slope * level)) ** 2))
    expected = np.sqrt(np.mean(fold_mse))
    got = float(one(escape_fit, LOG, k=1)["cv_rmse"].sel(model="log"))
    assert got == pytest.approx(expected, rel=1e-10)


def test_aic_on_original_scale(sweep, escape_fit):
    log_d, y = points(sweep, "escape", POWER, k=1)
    fit = one(escape_fit, POWER, k=1)
    n = y.size
    alpha, log_c = np.polyfit(log_d, np.log(y), 1)
    ss_log = np.sum((np.log(y) - log_c - alpha * log_d) ** 2)
    expected = n * np.log(2 * np.pi * ss_log / n) + n + 2 * 3 + 2 * np.sum(np.log(y))
    assert float(fit["aic"].sel(model="power")) == pytest.approx(expected, rel=1e-10)
    # on this power-law data AIC agrees with CV
    assert fit["aic"].to_series().idxmin() == "power"


# --------------------------------------------------------------------------------------------
# Missing values: counted, never fitted, never filled
# --------------------------------------------------------------------------------------------
def test_not_reached_values_are_counted_and_not_fitted(sweep):
    ds = sweep.copy(deep=True)
    sel = {"kappa": LOG, **GROUP, "k": 1}
    escape = ds["escape"].loc[sel].transpose("d", "seed").values.copy()
    escape[2, :5] = np.nan
    escape[5, [3, 7]] = np.nan
    ds["escape"].loc[sel] = xr.DataArray(escape, dims=("d", "seed"))
    fit = one(fit_scaling(ds, "escape", n_boot=300), LOG, k=1)

    np.testing.assert_array_equal(fit["n_runs"].values, 16)
    np.testing.assert_array_equal(fit["n_not_reached"].values, [0, 0, 5, 0, 0, 2])
    np.testing.assert_array_equal(fit["n_reached"].values, [16, 16, 11, 16, 16, 14])
    np.testing.assert_array_equal(fit["n_bound_dominated"].values, 0)
    assert "7 runs did not reach" in str(fit["caveat"].values)

    # the point estimates are those of the remaining points
    log_d, y = points(ds, "escape", LOG, k=1)
    assert y.size == 96 - 7
    slope, intercept = np.polyfit(log_d, y, 1)
    assert float(fit["log_slope"]) == pytest.approx(slope, rel=1e-10)

    # where the NaN sit among the seeds does not matter: compact the reached values to the
    # front of each d and the whole result (bootstrap included) is identical
    compact = np.full_like(escape, np.nan)
    for i, row in enumerate(escape):
        kept = row[np.isfinite(row)]
        compact[i, : kept.size] = kept
    ds2 = ds.copy(deep=True)
    ds2["escape"].loc[sel] = xr.DataArray(compact, dims=("d", "seed"))
    fit2 = one(fit_scaling(ds2, "escape", n_boot=300), LOG, k=1)
    xr.testing.assert_identical(fit, fit2)


def test_not_reached_fit_equals_fit_without_those_runs(sweep):
    """NaN in the last two seeds of every d == dropping those two seeds from the Dataset."""
    ds = sweep.copy(deep=True)
    ds["escape"].loc[{"seed": [14, 15]}] = np.nan
    with_nan = fit_scaling(ds, "escape", n_boot=200)
    dropped = fit_scaling(sweep.isel(seed=slice(0, 14)), "escape", n_boot=200)
    for name in PARAMETER_VARS + ["cv_rmse", "cv_excess_lo", "preferred_model", "verdict"]:
        xr.testing.assert_identical(with_nan[name], dropped[name])
    defined = with_nan.sel(k=[1, 2])
    np.testing.assert_array_equal(defined["n_not_reached"].values, 2)
    np.testing.assert_array_equal(defined["n_reached"].values, 14)
    np.testing.assert_array_equal(dropped.sel(k=[1, 2])["n_not_reached"].values, 0)


def test_bound_dominated_t_k_star_is_counted_and_excluded(sweep):
    sel = {"kappa": LOG, **GROUP, "k": 1, "d": D_VALUES[1], "seed": [0, 1, 2]}
    flagged = sweep.copy(deep=True)
    flagged["t_k_star_bound_dominated"].loc[sel] = True
    flagged["t_k_star"].loc[sel] = 1e6  # would wreck the fit if it were used
    as_nan = sweep.copy(deep=True)
    as_nan["t_k_star"].loc[sel] = np.nan

    fit = one(fit_scaling(flagged, "t_k_star", n_boot=200), LOG, k=1)
    ref = one(fit_scaling(as_nan, "t_k_star", n_boot=200), LOG, k=1)
    np.testing.assert_array_equal(fit["n_bound_dominated"].values, [0, 3, 0, 0, 0, 0])
    np.testing.assert_array_equal(fit["n_not_reached"].values, 0)
    np.testing.assert_array_equal(fit["n_reached"].values, [16, 13, 16, 16, 16, 16])
    np.testing.assert_array_equal(ref["n_not_reached"].values, [0, 3, 0, 0, 0, 0])
    for name in PARAMETER_VARS + ["cv_rmse", "verdict"]:
        xr.testing.assert_identical(fit[name], ref[name])
    assert "3 bound-dominated" in str(fit["caveat"].values)
    assert 20.0 < float(fit["log_slope"]) < 30.0  # true 1.2 * 20; the 1e6 values are not used


def test_too_few_d_values_is_not_enough_data(sweep):
    ds = sweep.copy(deep=True)
    ds["escape"].loc[{"d": list(D_VALUES[:4])}] = np.nan
    fit = fit_scaling(ds, "escape", n_boot=100)
    g = one(fit, LOG, k=1)
    assert str(g["verdict"].values) == VERDICT_NOT_REACHED
    assert str(g["case_text"].values).startswith("not reached (d = 100 to 2.51e+04)")
    assert str(g["preferred_model"].values) == "none"
    assert int(g["n_d_used"]) == 2
    np.testing.assert_array_equal(g["n_not_reached"].values, [16, 16, 16, 16, 0, 0])
    # min_seeds: d values with a single reached seed are counted but not used
    ds = sweep.copy(deep=True)
    ds["escape"].loc[{"d": list(D_VALUES[:4]), "seed": list(range(1, 16))}] = np.nan
    g = one(fit_scaling(ds, "escape", n_boot=100), LOG, k=1)
    assert str(g["verdict"].values) == VERDICT_NOT_REACHED
    np.testing.assert_array_equal(g["used_in_fit"].values, [0, 0, 0, 0, 1, 1])
    g = one(fit_scaling(ds, "escape", n_boot=100, min_seeds=1), LOG, k=1)
    assert str(g["verdict"].values) in LOG_VERDICTS
    assert int(g["n_d_used"]) == 6


def test_undefined_index_no_runs_and_diverged(sweep):
    ds = sweep.copy(deep=True)
    # status -1: grid cells without a run (values NaN there)
    ds["status"].loc[{"kappa": CONST, "seed": list(range(10, 16)), "d": D_VALUES[0]}] = -1
    ds["escape"].loc[{"kappa": CONST, "seed": list(range(10, 16)), "d": D_VALUES[0]}] = np.nan
    ds["status"].loc[{"kappa": POWER}] = -1
    ds["escape"].loc[{"kappa": POWER}] = np.nan
    ds["status"].loc[{"kappa": LOG, "seed": [0, 1], "d": D_VALUES[5]}] = 2
    fit = fit_scaling(ds, "escape", n_boot=100)
    # escape is not defined at k = r = 3
    g = one(fit, LOG, k=3)
    assert str(g["verdict"].values) == VERDICT_UNDEFINED
    np.testing.assert_array_equal(g["n_undefined"].values, 16)
    np.testing.assert_array_equal(g["n_not_reached"].values, 0)
    assert str(one(fit, POWER, k=1)["verdict"].values) == VERDICT_NO_RUNS
    g = one(fit, CONST, k=1)
    np.testing.assert_array_equal(g["n_runs"].values, [10, 16, 16, 16, 16, 16])
    np.testing.assert_array_equal(g["n_not_reached"].values, 0)
    g = one(fit, LOG, k=1)
    np.testing.assert_array_equal(g["n_diverged"].values, [0, 0, 0, 0, 0, 2])
    # rise is defined up to k = r; its values in cells without a run are ignored, loudly
    with pytest.warns(UserWarning, match="without a run"):
        rise = fit_scaling(ds, "rise", n_boot=100)
    assert str(one(rise, LOG, k=3)["verdict"].values) in LOG_VERDICTS
    assert str(one(rise, POWER, k=1)["verdict"].values) == VERDICT_NO_RUNS


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------
def test_bootstrap_is_reproducible(sweep, escape_fit):
    again = fit_scaling(sweep, "escape")
    xr.testing.assert_identical(escape_fit, again)
    other = fit_scaling(sweep, "escape", seed=1)
    assert not np.array_equal(other["log_slope_lo"].values, escape_fit["log_slope_lo"].values)
    # a group's result does not depend on the other groups in the Dataset
    alone = fit_scaling(sweep.sel(kappa=[LOG]), "escape")
    xr.testing.assert_identical(alone.sel(kappa=LOG), escape_fit.sel(kappa=LOG))


def test_interval_shrinks_with_noise():
    widths = []
    for noise in (20.0, 5.0, 1.25):
        ds = make_synthetic_sweep(("log",), noise=noise, rng_seed=11)
        fit = one(fit_scaling(ds, "escape", n_boot=500), LOG, k=1)
        widths.append(float(fit["log_slope_hi"] - fit["log_slope_lo"]))
        assert float(fit["log_slope_lo"]) <= 20.0 <= float(fit["log_slope_hi"])
    assert widths[0] > widths[1] > widths[2] > 0
    # the slope's standard error is proportional to the noise
    assert widths[0] / widths[2] == pytest.approx(16.0, rel=0.3)


def test_invalid_arguments(sweep):
    with pytest.raises(KeyError):
        fit_scaling(sweep, "no_such_quantity")
    with pytest.raises(ValueError):
        fit_scaling(sweep, "escape", confidence=1.5)
    with pytest.raises(ValueError):
        fit_scaling(sweep, "error")  # a per-step variable, not a stage time


# --------------------------------------------------------------------------------------------
# fit_all, stage_table, accessor
# --------------------------------------------------------------------------------------------
def test_fit_all_round_trips_through_netcdf(sweep, tmp_path):
    fits = fit_all(sweep, n_boot=100)
    assert scaling.fit_quantities(fits) == list(scaling.STAGE_QUANTITIES)
    assert fits["escape__verdict"].dims == ("kappa", "varpi", "varpi_exponent", "eta", "r", "k")
    assert "k" not in fits["t_eps__verdict"].dims and "eps" in fits["t_eps__verdict"].dims
    path = tmp_path / "fits.nc"
    fits.to_netcdf(path)
    with xr.open_dataset(path) as back:
        back = back.load()
    xr.testing.assert_identical(fits, back)
    single = fit_scaling(sweep, "t_eps", n_boot=100)
    for name in single.data_vars:
        xr.testing.assert_identical(fits_for(back, "t_eps")[name], single[name])


def test_fit_all_skips_missing_quantities_with_warning(sweep):
    with pytest.warns(UserWarning, match="not fitted"):
        fits = fit_all(sweep.drop_vars("plateau"), quantities=("escape", "plateau"), n_boot=50)
    assert fits.attrs["quantities"] == "escape"
    assert fits.attrs["missing_quantities"] == "plateau"


def test_stage_table(sweep):
    ds = sweep.copy(deep=True)
    ds["escape"].loc[{"kappa": LOG, "k": 1, "d": D_VALUES[0], "seed": [0, 1, 2]}] = np.nan
    table = stage_table(ds)
    assert set(table["quantity"]) == set(scaling.STAGE_QUANTITIES)
    row = table[
        (table["quantity"] == "escape")
        & (table["kappa"] == LOG)
        & (table["k"] == 1)
        & (table["d"] == D_VALUES[0])
    ]
    assert len(row) == 1
    values = ds["escape"].sel(kappa=LOG, k=1, d=D_VALUES[0], **GROUP).values
    values = values[np.isfinite(values)]
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    assert row["median"].item() == pytest.approx(q50)
    assert row["iqr"].item() == pytest.approx(q75 - q25)
    assert row["n_reached"].item() == 13 and row["n_not_reached"].item() == 3
    # escape is not defined at k = r: no rows
    assert table[(table["quantity"] == "escape") & (table["k"] == 3)].empty
    assert len(table[(table["quantity"] == "rise") & (table["k"] == 3)]) == 3 * 6
    assert table[table["quantity"] == "t_eps"]["eps"].notna().all()


def test_accessor(sweep):
    import mfsim.analysis.accessor  # noqa: F401

    fit = sweep.mfsim.fit_scaling("escape", n_boot=50)
    xr.testing.assert_identical(fit, fit_scaling(sweep, "escape", n_boot=50))
    assert sweep.mfsim.fit_all(quantities=("rise",), n_boot=20).attrs["quantities"] == "rise"
    assert len(sweep.mfsim.stage_table()) == len(stage_table(sweep))


# --------------------------------------------------------------------------------------------
# Speed-ups that must not change a number
# --------------------------------------------------------------------------------------------
def test_chi2_quantile_table_holds_scipys_float64_values():
    from scipy.special import ndtri
    from scipy.stats import chi2

    for confidence, value in scaling.CHI2_1_QUANTILES.items():
        assert value == ndtri(0.5 + confidence / 2.0) ** 2  # the same double, not close
        assert value == pytest.approx(chi2.ppf(confidence, 1), rel=1e-12)
    assert boxcox._chi2_1_quantile(0.8) == ndtri(0.9) ** 2  # outside the table: scipy


@pytest.mark.filterwarnings("ignore:.*sit in grid cells without a run:UserWarning")
def test_classify_runs_agrees_with_a_loop_over_entries():
    """Masks against a per-entry loop, with cells without a run, diverged runs, NaN,
    bound-dominated flags (NaN and object dtype) and status stored in another dim order."""
    ds = make_synthetic_sweep(("log", "power"), n_seeds=5, rng_seed=4)
    status = ds["status"].values.copy()
    status.flat[::7], status.flat[3::11] = -1, 2
    ds["status"] = (ds["status"].dims, status)
    ds["status"] = ds["status"].transpose(*reversed(ds["status"].dims))
    ds["t_k_star"] = ds["t_k_star"].where(ds["seed"] != 1)
    flag = ds["t_k_star_bound_dominated"].astype(float).where(ds["seed"] != 2)
    flag.loc[{"seed": 3}] = 1.0
    for variant in (flag, flag.astype(object)):
        ds["t_k_star_bound_dominated"] = variant
        for quantity in ("t_k_star", "escape", "rise", "t_eps"):
            runs = scaling.classify_runs(ds, quantity)
            value = ds[quantity]
            assert runs["value"].dims == value.dims
            for index in np.ndindex(value.shape):
                at = {dim: value[dim].values[i] for dim, i in zip(value.dims, index, strict=True)}
                v = float(value.values[index])
                s = int(ds["status"].sel({d: at[d] for d in ds["status"].dims}).values)
                exists, diverged = s != -1, s in (2, 3)
                undefined = "k" in at and (
                    at["k"] >= at["r"] if quantity in ("t_k_star", "escape") else at["k"] > at["r"]
                )
                bound = False
                if quantity == "t_k_star":
                    f = ds["t_k_star_bound_dominated"].values[index]
                    bound = f == f and bool(f) and np.isfinite(v)  # NaN flag: False
                defined = exists and not undefined
                expected = {
                    "exists": exists,
                    "reached": defined and np.isfinite(v) and not bound,
                    "not_reached": defined and not np.isfinite(v),
                    "bound_dominated": defined and bound,
                    "undefined": exists and undefined,
                    "diverged": exists and diverged,
                }
                got = {name: bool(runs[name].values[index]) for name in expected}
                assert got == expected, (quantity, at)


def test_power_analysis_in_blocks_equals_the_whole_array_at_once():
    """detectable_alpha works one alternative at a time with residuals in place; the same
    simulation on the whole (alternative, simulation, alpha) array at once gives the same
    detection rates, hence the same alpha."""
    rng = np.random.default_rng(2)
    for trial in range(12):
        n_levels, n_seeds = int(rng.integers(3, 8)), int(rng.integers(2, 9))
        log_d = np.log(np.geomspace(1e2, 10 ** rng.uniform(3, 8), n_levels))
        blocks = np.repeat(np.arange(n_levels), n_seeds)
        x = log_d[blocks]
        y = 100 + rng.uniform(0, 40) * x + rng.normal(0, rng.uniform(0.5, 20), x.size)
        summary = boxcox._level_summary(x, y, blocks)
        confidence = (0.95, 0.8)[trial % 2]
        got = scaling.detectable_alpha(summary, confidence, np.random.default_rng(trial), 60)

        # the whole array at once
        sim_rng = np.random.default_rng(trial)
        xs, w = summary["x"], summary["weight"]
        a, b, gamma = scaling.boxcox_interval(summary, confidence)["log_fit"]
        q = boxcox.log_log_regressor(summary["x"])
        if not b > 0:
            assert got == np.inf
            continue
        span = xs.max() - xs.min()
        noise = np.stack(
            [
                res[sim_rng.integers(0, res.size, size=(60, res.size))].mean(-1)
                for res in summary["residuals"]
            ],
            axis=-1,
        )
        alt = power_analysis._POWER_GRID_SCALED / span
        correction = 0.0 if q is None else gamma * q
        sims = (a + b * (boxcox._boxcox_raw(xs, alt) - correction))[:, None, :] + noise[None]
        grid = boxcox._ALPHA_GRID_SCALED / span
        zero = int(np.argmin(np.abs(grid)))
        rss, _ = boxcox._corrected_rss(xs, grid, q, sims, w)
        n_parameters = 3 if q is None else 4
        best, inside = boxcox._profile(rss, xs.size, confidence, n_parameters=n_parameters)
        rate = ((~inside[..., : zero + 2]).all(-1) & (grid[best] > 0)).mean(-1)
        hits = np.flatnonzero(rate >= scaling.DETECTION_POWER)
        assert got == (float(alt[hits[0]]) if hits.size else float("inf"))


def test_fitting_imports_neither_scipy_nor_matplotlib(tmp_path):
    """The fits at the usual confidence levels need numpy and xarray only: fit_all imports no
    scipy or matplotlib module beyond those that dask.array brings (xarray imports dask.array
    whenever it checks for dask arrays, and dask.array imports parts of scipy)."""
    import subprocess
    import sys

    make_synthetic_sweep(("log",), n_seeds=4).to_zarr(tmp_path / "sweep.zarr")
    code = (
        "import sys, xarray as xr\n"
        "import mfsim.jobs\n"
        "from mfsim.analysis.scaling import fit_all\n"
        f"ds = xr.open_zarr({str(tmp_path / 'sweep.zarr')!r}, chunks=None).load()\n"
        "def heavy():\n"
        "    return {m for m in sys.modules if m.split('.')[0] in ('scipy', 'matplotlib')}\n"
        "import dask.array  # noqa: F401  (xarray imports it in any case)\n"
        "before = heavy()\n"
        "fits = fit_all(ds, n_boot=20)\n"
        "assert fits['rise__verdict'].size > 0\n"
        "print(sorted(heavy() - before))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
