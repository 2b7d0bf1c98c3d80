"""A step limit that leaves the literal t_k^* undetermined says so in one warning."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np

import mfsim
from mfsim.engine.advice import StepLimitWarning


def _simulate(steps, r=2, **kwargs):
    spec = mfsim.spectrum("flat", 400, r=r, kappa=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = mfsim.simulate(spec, eta=0.1, steps=steps, varpi=0.5, seeds=range(4), progress=False,
                            **kwargs)  # fmt: skip
    return ds, [w for w in caught if issubclass(w.category, StepLimitWarning)]


def test_a_short_step_limit_warns_once_with_the_predicted_steps():
    ds, caught = _simulate(600)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "undetermined (NaN) in 4 of 4 runs (k = 1)" in message and "steps=600" in message
    # t^sharp of eq. 14 written out: log(Delta / (4 r)) / log(1 - eta Delta / 6)
    eta, delta, r = 0.1, 0.2, 2
    t_sharp = math.log(delta / (4 * r)) / math.log(1 - eta * delta / 6)
    t_k = ds.t_k.sel(k=1).values
    assert np.isfinite(t_k).all()  # recorded although after the last step
    predicted = int(re.search(r"About steps=(\d+)", message).group(1))
    assert predicted == int(t_k.max()) + math.ceil(t_sharp)
    assert (ds.stop_step.values < predicted).all()


def test_no_warning_when_runs_converge_or_t_k_star_is_not_defined():
    ds, caught = _simulate(6000)
    assert not caught and (ds.status.values == 0).all()
    assert np.isfinite(ds.t_k_star.sel(k=1).values).all()
    _, caught = _simulate(600, r=1)  # t_k^* is defined for k < r only
    assert not caught


def test_a_run_to_the_limit_that_determines_t_k_star_does_not_warn():
    ds, caught = _simulate(4500, stop_error=0.0)  # no stop at convergence
    assert np.isfinite(ds.t_k_star.sel(k=1).values).all() and not caught
