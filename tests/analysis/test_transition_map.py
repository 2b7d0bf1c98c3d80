"""mfsim.analysis.transition_map and its report section and figures, on a synthetic map whose
slopes are set from closed forms written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from mfsim.analysis.transition_map import is_map, map_points

LOG10_D = np.linspace(2, 300, 10)
KAPPAS, ETAS = [5.0, 10.0], [0.1, 0.05]


def _rise_slope(eta, kappa, k, r=2):
    """1 / (2 ln(1 + eta (lambda_k - lambda_{r+1}))), lambda_k - lambda_3 = (r - k + 1) / kappa."""
    return 1.0 / (2.0 * math.log1p(eta * (r - k + 1) / kappa))


def _t1_slope(eta, kappa):
    """(S_2 - S_1) ln rho_2 / (ln rho_2 - ln q), q = 1 - eta Delta / 6 (docs/transition.md)."""
    delta = 1.0 / kappa
    log_rho = math.log1p(eta * delta)
    log_q = math.log(1 - eta * delta / 6)
    return (_rise_slope(eta, kappa, 2) - _rise_slope(eta, kappa, 1)) * log_rho / (log_rho - log_q)


@pytest.fixture(scope="module")
def sweep():
    """t_1^* bound-dominated below 1e150, then measured with the predicted slope, except at
    kappa = 10, eta = 0.05, where it is 1.3 times the prediction."""
    rng = np.random.default_rng(0)
    ln_d = LOG10_D * math.log(10)
    shape = (2, 2, 1, 1, LOG10_D.size, 8, 2)
    rise = np.full(shape, np.nan)
    t1 = np.full(shape, np.nan)
    flag = np.zeros(shape, bool)
    for i, kappa in enumerate(KAPPAS):
        for j, eta in enumerate(ETAS):
            for k in (1, 2):
                noise = rng.normal(0, 2, (LOG10_D.size, 8))
                rise[i, j, 0, 0, :, :, k - 1] = 50 + _rise_slope(eta, kappa, k) * ln_d[:, None]
                rise[i, j, 0, 0, :, :, k - 1] += noise
            factor = 1.3 if (kappa, eta) == (10.0, 0.05) else 1.0
            start = 150 * math.log(10)
            measured = 1000 + factor * _t1_slope(eta, kappa) * (ln_d - start)
            bound = ln_d < start
            t1[i, j, 0, 0, :, :, 0] = np.where(bound, 1000.0, measured)[:, None]
            flag[i, j, 0, 0, :, :, 0] = bound[:, None]
    dims = ("kappa", "eta", "varpi", "r", "d", "seed", "k")
    return xr.Dataset(
        {"rise": (dims, rise), "t_k_star": (dims, t1), "t_k_star_bound_dominated": (dims, flag)},
        coords={
            "kappa": KAPPAS,
            "eta": ETAS,
            "varpi": [0.5],
            "r": [2],
            "d": 10.0**LOG10_D,
            "seed": np.arange(8),
            "k": [1, 2],
            "lambda_1": 1.0,
        },  # fmt: skip
        attrs={"config": "spectrum: {family: flat}\nrun: {steps: 100000}\n"},
    )


def test_slopes_ratios_and_disagreements(sweep):
    assert is_map(sweep) and not is_map(sweep.isel(kappa=[0], eta=[0]))
    # the closed forms are the flat family's: a linear bulk is no map
    assert not is_map(sweep.assign_attrs(config="spectrum: {family: linear}\n"))
    rows = {(row["point"]["kappa"], row["point"]["eta"]): row for row in map_points(sweep)}
    assert len(rows) == 4
    for (kappa, eta), row in rows.items():
        expected = [_rise_slope(eta, kappa, 1), _rise_slope(eta, kappa, 2)]
        assert row["rise_predicted"] == pytest.approx(expected, rel=1e-12)
        assert row["rise_ratios"] == pytest.approx([1, 1], abs=0.02)
        assert row["t_star_predicted"] == pytest.approx(_t1_slope(eta, kappa), rel=1e-9)
        factor = 1.3 if (kappa, eta) == (10.0, 0.05) else 1.0
        assert row["t_star_ratio"] == pytest.approx(factor, rel=1e-6)
        assert row["threshold"] == pytest.approx(LOG10_D[LOG10_D >= 150][0])
        # collapse: t_1^* eta Delta / ln d at the largest d, from the law written above
        last = 1000 + factor * _t1_slope(eta, kappa) * (LOG10_D[-1] - 150) * math.log(10)
        assert row["collapse"][-1] == pytest.approx(last * eta / kappa / (300 * math.log(10)))
        assert np.isnan(row["collapse"][LOG10_D < 150]).all()
    assert any("t_1^* slope ratio 1.3" in reason for reason in rows[(10.0, 0.05)]["disagrees"])
    assert not any("slope ratio" in r for r in rows[(5.0, 0.1)]["disagrees"])


def test_report_section_and_figures(sweep, tmp_path):
    from mfsim.output.finding_map import map_section
    from mfsim.output.transition_map_figures import plot_transition_map

    section = map_section(sweep)
    opening = section["opening"]
    assert opening.startswith("Across the map (kappa 5 to 10, eta 0.05 to 0.1, varpi 0.5, r 2")
    assert "measured at 3 or more d values at 4 of 4 points" in opening
    assert "within 10% at 3 of them" in opening and "sampled range of d only" in opening
    assert len(section["rows"]) == 4
    paths = plot_transition_map(sweep, tmp_path / "transition_map")
    assert sorted(p.name for p in paths) == sorted(
        f"transition_map_{n}.{s}" for n in ("ratios", "collapse") for s in ("png", "pdf")
    )
    assert all(p.stat().st_size > 1000 for p in paths)
    assert map_section(sweep.isel(kappa=[0], eta=[0])) is None
