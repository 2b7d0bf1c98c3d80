"""Theorem 6 audit: zero violations in the theorem's regime, and injected violations are found."""

import numpy as np
import pytest

import mfsim
from mfsim.analysis.audit import (
    PROPERTIES,
    audit_summary,
    audit_table,
    audit_theorem6,
    noise_floor_closed_form,
)


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
    # an audit that covered no run says so; it is not "no violations"
    assert audit.attrs["coverage"] == "empty" and audit.attrs["steps_checked"] == 0
    assert "covered no run" in audit_summary(audit)


@pytest.fixture(scope="module")
def floor_run():
    """The theorem's regime long enough for the noise to reach the float64 floor.

    kappa = 2.2: Delta = 0.4545, eta = 0.004 <= Delta / (100 lambda_1^2) = 0.004545; the bound
    (1 - eta Delta/6)^(t - t_1) falls below 1e-14 about 1e5 steps after t_1 (about 2.7e4).
    """
    spec = mfsim.spectrum("flat", 1000, r=2, kappa=2.2)
    return mfsim.simulate(
        spec,
        eta=0.004,
        steps=140_000,
        varpi=0.5,
        seeds=range(4),
        stop_error=0,
        record="log",
        record_num=3000,
    )


def test_the_float_floor_is_unresolved_not_violated(floor_run):
    ds = floor_run
    audit = audit_theorem6(ds)
    assert audit.conditions_hold.all() and audit.attrs["coverage"] == "covered"
    for name in PROPERTIES:
        assert (audit[f"violations_{name}"] == 0).all(), name
        assert (audit[f"checked_{name}"] > 0).all(), name
    assert (audit.unresolved_noise_decay > 0).all()
    # the raw comparison (no floor) fails at the floor: these are the steps set aside
    q6 = 1 - ds.eta * ds.Delta / 6
    since = ds.step - ds.t_k
    raw = (since >= 0) & (ds.k < ds.r) & ds.error.notnull() & (ds.noise > q6**since * (1 + 1e-9))
    assert int(raw.sum()) > 0
    bound = q6**since
    assert float(bound.where(raw).max()) < 1e-13  # only where the bound is tiny
    table = audit_table(audit)
    assert table["steps unresolved (rounding floor)"].sum() > 0
    assert "0 violations" in audit_summary(audit)


def test_the_engines_noise_floor_variable_is_used_when_present(floor_run):
    ds = floor_run.copy()
    ds["noise_floor"] = xr_full_like(ds.noise, 1.0)  # nothing below 1 is resolved
    audit = audit_theorem6(ds)
    assert audit.attrs["noise_floor_source"] == "noise_floor variable"
    assert int(audit.checked_noise_decay.sum()) == 0
    assert int(audit.unresolved_noise_decay.sum()) > 0
    ds["noise_floor"] = xr_full_like(ds.noise, 0.0)  # everything resolved: the raw comparison
    assert int(audit_theorem6(ds).violations_noise_decay.sum()) > 0


def xr_full_like(da, value):
    import xarray as xr

    return xr.full_like(da, value)


@pytest.mark.parametrize(
    "family,d,r,kappa,steps",
    [("figure1", 200, 2, None, 1500), ("linear", 150, 3, 5, 2500), ("flat", 100, 2, 5, 2000)],
)
def test_noise_floor_bounds_the_error_against_extended_precision(family, d, r, kappa, steps):
    """|reported noise_k - noise_k of a longdouble GD from the same X_0| <= floor, every step.

    The reference is GD on the dense rows in np.longdouble with noise_k from the direct sum
    over rows i > k of (u_k . x_i)^2; it decays to 1e-20 and below where float64 stalls.
    """
    spec = mfsim.spectrum(family, d, r=r, kappa=kappa)
    x0 = np.random.default_rng(5).standard_normal((d, r)) * 0.5 / np.sqrt(d)
    ds = mfsim.simulate(spec, eta=0.1, steps=steps, X0=x0, stop_error=0, record="all")
    lam = spec.eigenvalues().astype(np.longdouble)
    x, eta = x0.astype(np.longdouble), np.longdouble(0.1)
    ref = np.empty((steps + 1, r), dtype=np.longdouble)
    for t in range(steps + 1):
        for k in range(r):
            dots = x[k + 1 :] @ x[k]
            ref[t, k] = np.sqrt(np.sum(dots * dots))
        x = x + eta * (lam[:, None] * x - x @ (x.T @ x))
    noise = ds.noise.isel(seed=0).transpose("step", "k").values
    floor = noise_floor_closed_form(ds).isel(seed=0).transpose("step", "k").values
    ratio = np.abs(noise - ref.astype(np.float64)) / floor
    assert ratio.max() <= 1.0
    assert ratio.max() > 1e-3  # conservative, not vacuous
    assert ref.astype(np.float64).min() < 1e-3 * floor.max()  # the floor was reached


def test_audit_counts_runs_at_theorem6_step_size_written_as_0_002():
    """eta = 0.002 at kappa = 5 is Theorem 6's bound Delta / (100 lambda_1^2), although Delta =
    1.0 - 0.8 rounds below 0.2: the audit covers such runs and checks their steps."""
    import warnings

    import mfsim
    from mfsim.analysis.audit import audit_theorem6

    spec = mfsim.spectrum("flat", {"log10": 300}, r=2, kappa=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = mfsim.simulate(spec, eta=0.002, steps=20_000, varpi=0.5, seeds=range(2))
    audit = audit_theorem6(ds)
    assert bool(audit.conditions_hold.all())
    assert int(audit.checked_S_absorbing.sum()) > 0
    assert int(audit.violations_S_absorbing.sum()) == 0
