"""The lean reduced kernel (mfsim/engine/reduced.py) against the plain engine's kernels on the
same reduced system and X_0: every diagnostic and every stage quantity, bit for bit, in
float64's range (d up to 10^300); and its input handling."""

from __future__ import annotations

import numpy as np
import pytest

import mfsim

DIAGNOSTICS = (
    "error",
    "signal",
    "noise",
    "noise_floor",
    "sigma1_sq_X",
    "sigma1_sq_K",
    "sigmar_sq_U",
    "sigma1_sq_J",
    "top_gram",
    "in_S",
    "in_R",
)
STAGES = (
    "t_init",
    "T_u",
    "t_k",
    "t_k_star",
    "t_k_star_bound_dominated",
    "t_R",
    "first_in_S",
    "first_in_R",
    "t_eps",
    "rise",
    "learned",
    "escape",
    "plateau",
    "status",
    "stop_step",
)


@pytest.mark.parametrize(
    "family,d,r,steps,record",
    [
        ("flat", 10**6, 2, 3000, "all"),
        ("flat", 10**100, 3, 2500, "all"),
        ("staircase", 10**40, 3, 3000, "all"),
        ("flat", 10**300, 2, 10000, "log"),
        ("staircase", 10**5, 2, 6000, "log"),
    ],
)
def test_lean_kernel_gives_the_plain_kernels_bits(family, d, r, steps, record):
    spec = mfsim.spectrum(family, d, r=r, kappa=5)
    kw = dict(
        eta=0.1,
        steps=steps,
        varpi=0.5,
        seeds=range(3),
        record=record,
        record_num=300,
        heatmap_steps=[0, 40, 700],
    )
    plain = mfsim.simulate(spec, kernel="seed", **kw)
    lean = mfsim.simulate(spec, **kw)  # 'auto': the lean kernel for a reduced system
    assert lean.attrs["reduced_engine"] == 1 == plain.attrs["reduced_engine"]
    assert np.isfinite(lean.rise.values).any()  # the runs reach the stages compared
    for name in DIAGNOSTICS + STAGES:
        np.testing.assert_array_equal(lean[name].values, plain[name].values, err_msg=name)


def test_lean_kernel_from_an_explicit_x0_equals_the_plain_engine():
    """An explicit X_0 reduced by QR: the lean kernel, the plain kernel on the same reduced
    rows, and the unreduced engine agree (the last to 1e-10: a different system)."""
    r = 2
    values = [3.0, 2.5, 2.0] + [1.0] * 40 + [0.5] * 30
    spec = mfsim.spectrum("custom", r=r, eigenvalues=values)
    x0 = np.random.default_rng(3).standard_normal((spec.d, r)) * 0.6 / np.sqrt(spec.d)
    kw = dict(eta=0.05, steps=600, X0=x0, stop_error=0)
    lean = mfsim.simulate(spec, reduce=True, **kw)
    seed_kernel = mfsim.simulate(spec, reduce=True, kernel="seed", **kw)
    unreduced = mfsim.simulate(spec, reduce=False, **kw)
    for name in ("error", "signal", "sigma1_sq_X", "sigmar_sq_U"):
        np.testing.assert_array_equal(lean[name].values, seed_kernel[name].values, err_msg=name)
        a = unreduced[name].values
        np.testing.assert_allclose(lean[name].values, a, rtol=1e-10, atol=1e-10 * np.abs(a).max())
    np.testing.assert_array_equal(lean.rise.values, unreduced.rise.values)


def test_kernel_argument_is_checked():
    spec = mfsim.spectrum("linear", 50, r=2, kappa=5)
    with pytest.raises(ValueError, match="kernel='reduced' needs a reduced system"):
        mfsim.simulate(spec, steps=5, kernel="reduced")
    with pytest.raises(ValueError, match="kernel must be"):
        mfsim.simulate(spec, steps=5, kernel="fast")


def test_d_beyond_float64_is_stored_as_minus_log10_d():
    spec = mfsim.spectrum("flat", {"log10": 400}, r=2, kappa=5)
    ds = mfsim.simulate(spec, eta=0.1, steps=20, seeds=[0])
    assert ds.d.dtype == np.float64 and ds.d.values == -400.0
    assert ds.log10_d.values == 400.0
    assert np.isfinite(ds.d.values) and "log10_d" in ds.d.attrs["description"]
    # the early signals (~10^-400) are below float64's range: 0 in the float variable
    assert ds.signal.values[0, 0, 0] == 0.0 and ds.status.values[0] == 1


def test_log10_d_up_to_ten_thousand_is_accepted_and_beyond_is_refused():
    spec = mfsim.spectrum("staircase", {"log10": 10_000}, r=2, kappa=5)
    assert spec.log10_d == 10_000.0
    ds = mfsim.simulate(spec, eta=0.1, steps=5, seeds=[0])
    assert ds.log10_d.values == 10_000.0 and ds.status.values[0] == 1
    with pytest.raises(ValueError, match="log10 must lie in"):
        mfsim.spectrum("flat", {"log10": 10_000.5}, r=2, kappa=5)
