"""Sensing and asymmetric batches in the sweep layout: stage times against a naive scan of
every step written here, the recorded steps, the quantities these engines do not compute."""

from __future__ import annotations

import numpy as np
import pytest

import mfsim
from mfsim.datamodel import MAX_STEPS, NONFINITE, PROBLEM_VARIABLES
from mfsim.engine.problem_layout import add_missing_problem_variables, to_sweep_layout

# short runs: the literal t_k^* is not what these tests are about
pytestmark = pytest.mark.filterwarnings("ignore::mfsim.engine.advice.StepLimitWarning")

RECORDED = np.array([0, 1, 5, 40, 150, 300])
EPSILONS = (0.3, 1e-2)


def _naive_first(mask):
    hits = np.flatnonzero(mask)
    return float(hits[0]) if hits.size else np.nan


def _naive_learned(series, target, tolerance):
    bad = np.flatnonzero(np.abs(target - series) > tolerance * target)
    if not bad.size:
        return 0.0
    return float(bad[-1] + 1) if bad[-1] + 1 < series.size else np.nan


@pytest.fixture(scope="module", params=["asymmetric", "sensing"])
def batch(request):
    spec = mfsim.spectrum("linear", 30, r=2, kappa=4)
    options = {"imbalance": 2.0} if request.param == "asymmetric" else {"measurements": 600}
    ds = mfsim.simulate(spec, eta=0.1, steps=300, varpi=0.5, seeds=[0, 1, 2],
                        problem=request.param, **options)  # fmt: skip
    return ds


def test_stage_times_equal_a_naive_scan(batch):
    out = to_sweep_layout(batch, recorded_steps=RECORDED, epsilons=EPSILONS,
                          learned_tolerance=0.01, heatmap_steps=(0, 10))  # fmt: skip
    signal = batch["signal"].transpose("seed", "k", "step").values
    error = batch["error"].transpose("seed", "step").values
    lam = batch["lambda_k"].values
    delta_gap = float(batch["Delta"])
    for s in range(signal.shape[0]):
        for k in range(signal.shape[1]):
            assert out["rise"].values[s, k] == pytest.approx(
                _naive_first(signal[s, k] >= delta_gap / 2), nan_ok=True
            )
            assert out["learned"].values[s, k] == pytest.approx(
                _naive_learned(signal[s, k], lam[k], 0.01), nan_ok=True
            )
        for e, eps in enumerate(EPSILONS):
            assert out["t_eps"].values[s, e] == pytest.approx(
                _naive_first(error[s] <= eps), nan_ok=True
            )
    escape = out["rise"].values[:, 1] - out["rise"].values[:, 0]
    np.testing.assert_array_equal(out["escape"].values[:, 0], escape)
    # a problem where the signals rise within 300 steps: the comparison is not vacuous
    assert np.isfinite(out["rise"].values).all()


def test_recorded_steps_and_not_computed_quantities(batch):
    out = to_sweep_layout(batch, recorded_steps=RECORDED, epsilons=EPSILONS,
                          learned_tolerance=0.01, heatmap_steps=(0, 10))  # fmt: skip
    np.testing.assert_array_equal(out["step"].values, RECORDED)
    for name in ("error", "signal", "noise"):
        np.testing.assert_array_equal(out[name].values, batch[name].sel(step=RECORDED).values)
    for name in PROBLEM_VARIABLES:
        assert name in out
        if name in batch:
            np.testing.assert_array_equal(out[name].values, batch[name].sel(step=RECORDED).values)
        else:
            assert np.isnan(out[name].values).all()
    assert (out["in_S"].values == -1).all() and (out["in_R"].values == -1).all()
    assert np.isnan(out["t_k"].values).all() and np.isnan(out["first_in_S"].values).all()
    assert (out["status"].values == MAX_STEPS).all()
    assert (out["stop_step"].values == 300).all()
    np.testing.assert_array_equal(out["heatmap_step"].values, [0, 10])


def test_nonfinite_run_is_flagged_and_has_no_stages(batch):
    broken = batch.copy(deep=True)
    broken["error"][1, 120:] = np.nan
    out = to_sweep_layout(broken, recorded_steps=RECORDED, epsilons=EPSILONS,
                          learned_tolerance=0.01, heatmap_steps=())  # fmt: skip
    assert out["status"].values.tolist() == [MAX_STEPS, NONFINITE, MAX_STEPS]
    assert out["stop_step"].values[1] == 119
    assert np.isnan(out["rise"].values[1]).all()
    assert np.isfinite(out["rise"].values[0]).all()


def test_recorded_step_past_the_run_is_refused(batch):
    with pytest.raises(ValueError, match="past the run's last step"):
        to_sweep_layout(batch, recorded_steps=[0, 301], epsilons=EPSILONS,
                        learned_tolerance=0.01, heatmap_steps=())  # fmt: skip


def test_factorization_batch_gets_nan_problem_variables():
    spec = mfsim.spectrum("linear", 20, r=2, kappa=4)
    ds = mfsim.simulate(spec, eta=0.1, steps=50, seeds=[0])
    out = add_missing_problem_variables(ds)
    for name, (dims, attrs) in PROBLEM_VARIABLES.items():
        assert out[name].dims == dims
        assert np.isnan(out[name].values).all()
        assert out[name].attrs["units"] == attrs["units"]
    assert "distance" not in ds  # the input is left alone
