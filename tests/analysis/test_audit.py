"""Theorem 6 audit: zero violations in the theorem's regime, and injected violations are found."""

import numpy as np
import pytest

import mfsim
from mfsim.analysis.audit import PROPERTIES, audit_table, audit_theorem6


@pytest.fixture(scope="module")
def regime_run():
    # eta <= Delta / (100 lambda_1^2) = 0.002 and sigma_1(X_0) << 1/sqrt(3 eta)
    spec = mfsim.spectrum("flat", 30, r=2, kappa=5)
    return mfsim.simulate(
        spec,
        eta=0.0019,
        steps=240_000,
        varpi=0.5,
        seeds=range(2),
        stop_error=0,
        record="log",
        record_num=3000,
    )


def test_no_violation_in_the_theorems_regime(regime_run):
    audit = audit_theorem6(regime_run)
    assert audit.conditions_hold.all()
    for name in ("S_absorbing", "signal_stays", "noise_decay", "signal_error"):
        assert (audit[f"checked_{name}"] > 0).all(), name
        assert (audit[f"violations_{name}"] == 0).all(), name
    table = audit_table(audit)
    assert len(table) == len(PROPERTIES) and table["violating steps"].sum() == 0


def test_injected_violations_are_counted(regime_run):
    ds = regime_run.copy(deep=True)
    t1 = ds.t_k.sel(k=1, seed=0).item()
    late = ds.step.values[ds.step.values > t1 + 100][:3]
    ds["noise"].loc[dict(seed=0, k=1, step=late)] = 1.0  # far above (1 - eta Delta/6)^(t - t_1)
    first_s = ds.first_in_S.sel(seed=1).item()
    late_s = ds.step.values[ds.step.values > first_s][5]
    ds["in_S"].loc[dict(seed=1, step=late_s)] = 0
    audit = audit_theorem6(ds)
    assert audit.violations_noise_decay.values.tolist() == [3, 0]
    assert audit.violations_S_absorbing.values.tolist() == [0, 1]


def test_bounds_are_not_checked_outside_the_conditions():
    spec = mfsim.spectrum("figure1", 200)
    ds = mfsim.simulate(spec, eta=0.1, steps=500, varpi=0.5, seeds=[0])  # eta > Delta/100
    audit = audit_theorem6(ds)
    assert not audit.conditions_hold.any()
    assert all(int(audit[f"checked_{name}"].sum()) == 0 for name in PROPERTIES)
    assert np.isfinite(ds.rise).all()  # the run itself is fine
