"""mfsim.datamodel: one home for status codes and attributes; kappa means the same everywhere."""

from __future__ import annotations

import numpy as np

import mfsim
from mfsim import datamodel
from mfsim.engine import kernels


def test_engine_status_codes_are_the_datamodel_codes():
    codes = (kernels.CONVERGED, kernels.MAX_STEPS, kernels.DIVERGED, kernels.NONFINITE)
    assert codes + (kernels.UNDERFLOW,) == (0, 1, 2, 3, 4)
    assert kernels.STATUS_MEANINGS is datamodel.STATUS_MEANINGS
    flags = datamodel.STATUS_FLAGS
    assert flags["flag_values"].tolist() == [0, 1, 2, 3, 4]
    assert flags["flag_meanings"].split() == [
        "converged", "max_steps", "diverged", "nonfinite", "underflow"
    ]  # fmt: skip
    assert set(datamodel.FAILED_STATUSES) == {datamodel.DIVERGED, datamodel.NONFINITE}


def test_fill_values():
    assert datamodel.fill_value(np.bool_) is False
    assert datamodel.fill_value(np.int8) == datamodel.NO_RUN == -1
    assert np.isnan(datamodel.fill_value(np.float64))


def test_batch_dataset_kappa_is_requested_and_kappa_realized_is_lambda_1_over_Delta():  # noqa: N802
    spec = mfsim.spectrum("linear", 50, r=2, kappa=5.0)
    ds = mfsim.simulate(spec, eta=0.1, varpi=0.5, seeds=[0], steps=5)
    assert float(ds["kappa"]) == 5.0  # the value asked for, exactly
    top = spec.top(3)
    # independent: lambda_1 / min gap of the top r + 1 eigenvalues
    assert float(ds["kappa_realized"]) == top[0] / min(top[0] - top[1], top[1] - top[2])
    fixed = mfsim.simulate(mfsim.spectrum("figure1", 50), eta=0.1, varpi=0.5, seeds=[0], steps=5)
    assert float(fixed["kappa"]) == float(fixed["kappa_realized"])  # the family fixes it
