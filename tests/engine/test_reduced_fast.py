"""The short-cut reduced kernel (mfsim/engine/reduced_fast.py, ``kernel='reduced'``) against the
step-by-step one (``kernel='reduced-step'``, every step through the stop rules and the stage
analysis): every stored variable bit for bit, stage times to the step, at d from 10^6 to 10^1000,
eta in {0.1, 0.002} (Theorem 6's bound Delta / (100 lambda_1^2) at kappa = 5), r in {2, 3},
flat and staircase bulks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mfsim
from mfsim.theory import step_size_bound


def _both(spec, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step-limit warnings of the short runs
        fast = mfsim.simulate(spec, kernel="reduced", **kw)
        step = mfsim.simulate(spec, kernel="reduced-step", **kw)
    return fast, step


def _assert_same_bits(fast, step):
    assert set(fast.data_vars) == set(step.data_vars)
    for name in fast.data_vars:
        if name == "wall_time":
            continue
        np.testing.assert_array_equal(fast[name].values, step[name].values, err_msg=name)


@pytest.mark.parametrize(
    "family,log10_d,r,eta,steps",
    [
        # Theorem 6's step size at huge d: the first 60,000 steps (quiet steps, rows renormalized)
        ("flat", 300, 2, "bound", 60_000),
        ("flat", 1000, 3, "bound", 60_000),
        ("staircase", 300, 2, "bound", 30_000),
        # eta = 0.1: whole runs to convergence (d = 10^1000: to the step limit, past rise_1)
        ("flat", 300, 2, 0.1, 22_000),
        ("flat", 300, 3, 0.1, 22_000),
        ("flat", 1000, 2, 0.1, 70_000),
        ("staircase", 300, 3, 0.1, 22_000),
        ("staircase", 5, 2, 0.1, 6_000),
    ],
)
def test_short_cut_kernel_gives_the_step_by_step_bits(family, log10_d, r, eta, steps):
    spec = mfsim.spectrum(family, {"log10": log10_d}, r=r, kappa=5)
    if eta == "bound":
        eta = step_size_bound(spec.Delta, spec.lambda_1)
    kw = dict(
        eta=eta,
        steps=steps,
        varpi=0.5,
        seeds=range(3),
        record="log",
        record_num=150,
        heatmap_steps=[0, 50, 5000],
    )
    fast, step = _both(spec, **kw)
    _assert_same_bits(fast, step)
    assert np.isfinite(fast.rise.values).any() or steps <= 60_000


def test_short_cut_kernel_scans_eq15_and_converges_at_theorem6_step_size():
    """The whole-run case above does reach what the short-cut must not skip: t_k^* (the eq. 15
    scan), t_R, every t_eps and convergence."""
    spec = mfsim.spectrum("flat", {"log10": 6}, r=2, kappa=5)
    eta = step_size_bound(spec.Delta, spec.lambda_1)
    assert eta == pytest.approx(0.002)
    fast, step = _both(spec, eta=eta, steps=400_000, varpi=0.5, seeds=range(2))
    assert np.isfinite(fast.t_k_star.sel(k=1).values).all()
    assert np.isfinite(fast.t_R.values).all()
    assert np.isfinite(fast.t_eps.values).all()
    assert (fast.status.values == step.status.values).all()
    _assert_same_bits(fast, step)
