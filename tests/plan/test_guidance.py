"""mfsim.plan.guidance: the three warnings before a run, each checked against the engine or a
closed form written out here, and printed by ``mfsim plan``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import mfsim
from mfsim.cli import main
from mfsim.config.model import parse
from mfsim.plan.guidance import format_warnings, plan_warnings
from tests.helpers import tiny, write_config


def flat(**grid) -> dict:
    """A flat-bulk sweep (kappa = 5: lambda = 1, 0.8 and the bulk at 0.6) with `grid` updates."""
    return tiny(spectrum={"family": "flat"}, grid=grid)


def kinds(config) -> dict:
    found: dict = {}
    for w in plan_warnings(parse(config)):
        found.setdefault(w.kind, []).append(w)
    return found


def _simulate(d, eta, varpi, steps):
    spec = mfsim.spectrum("flat", d, r=2, kappa=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfsim.simulate(spec, eta=eta, steps=steps, varpi=varpi, seeds=range(3),
                              progress=False)  # fmt: skip


def test_too_few_steps_warns_with_the_predicted_step_count():
    config = flat(d=[100, 1000], eta=[0.05])
    config["run"] = {"steps": 400}
    found = kinds(config)
    (w,) = found["steps"]
    # the closed form written out: ||u_2||^2 from varpi^2 / d to Delta / 2 at the rate
    # (1 + eta g)^2, then the error to 1e-10 at the rate 1 - eta g, g = lambda_2 - lambda_3
    eta, gap, d, varpi = 0.05, 0.8 - 0.6, 1000, 0.5
    rise = math.log(0.2 / 2 * d / varpi**2) / (2 * math.log1p(eta * gap))
    needed = rise + math.log(1e10) / (eta * gap)
    assert w.values["steps_needed"] == math.ceil(needed)
    assert "run.steps = 400 is below" in w.message and f"at least {math.ceil(needed)}" in w.message
    assert f"({needed / 400:.1f}x)" in w.message and "d = 1e+03" in w.message
    # the engine agrees: 400 steps end every run at its limit; given room, the runs stop at
    # convergence within the stated factor of 2 of the prediction (measured: 1.04x)
    assert (_simulate(1000, eta, varpi, 400).status.values == 1).all()
    ds = _simulate(1000, eta, varpi, 4 * w.values["steps_needed"])
    assert (ds.status.values == 0).all()
    assert (0.5 * needed <= ds.stop_step.values).all() and (ds.stop_step.values <= 2 * needed).all()
    # with that many steps the warning is gone
    config["run"] = {"steps": w.values["steps_needed"]}
    assert "steps" not in kinds(config)


def test_a_grid_where_t_k_star_is_bound_dominated_at_every_d_says_from_where_it_is_not():
    found = kinds(flat(d=[100, 10**12]))
    (w,) = found["bound_dominated"]
    (threshold,) = w.values["log10_d_measurable"]
    # docs/transition.md and config/transition.yaml: measurable from d ~ 1e138 (flat, r = 2)
    assert 135 <= threshold <= 142
    assert "every d of the grid (d <= 1e+12)" in w.message
    assert "config/transition.yaml" in w.message
    # a grid that reaches beyond the threshold measures t_k^* at its large d: no warning
    assert "bound_dominated" not in kinds(flat(d=[100, 10**200]))
    # r = 1 has no t_k^* at all
    assert "bound_dominated" not in kinds(flat(d=[100, 1000], r=[1]))


def test_runs_predicted_to_diverge_are_named_and_do_diverge():
    found = kinds(flat(d=[1000], varpi=[3.0, 6.0]))
    (w,) = found["diverges"]
    assert w.group["varpi"] == 6.0 and w.values["runs"] == 3  # 3 seeds of one d
    assert "2 + eta lambda_1 = 2.1" in w.message and "1/sqrt(3 eta) = 1.83" in w.message
    assert (_simulate(1000, 0.1, 6.0, 200).status.values == 2).all()
    assert not (_simulate(1000, 0.1, 3.0, 200).status.values == 2).any()


def test_the_shipped_transition_sweeps_get_no_warning():
    for name in ("transition", "transition_staircase"):
        assert plan_warnings(parse(f"config/{name}.yaml")) == []


def test_many_groups_of_one_kind_make_one_line():
    config = flat(d=[100, 1000], eta=[0.01, 0.02, 0.05, 0.1])
    found = kinds(config)
    assert len(found["bound_dominated"]) == 4
    lines = format_warnings(plan_warnings(parse(config)))
    bound = [line for line in lines if "bound-dominated" in line]
    assert len(bound) == 1 and "in 4 groups" in bound[0]


def test_mfsim_plan_prints_the_warnings(tmp_path, capsys):
    path = write_config(tmp_path, flat(d=[1000], varpi=[6.0]))
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path} (sweep 'tiny'): ")
    assert any(line.startswith("warning: ") and "predicted to diverge" in line for line in out)


@pytest.mark.parametrize("family", ["linear", "figure1", "staircase"])
def test_every_family_with_a_bulk_gets_a_prediction(family):
    grid = {"kappa": [5.0]} if family != "figure1" else {}
    config = tiny(spectrum={"family": family}, grid={"d": [100, 1000], **grid})
    if family == "figure1":
        config["grid"].pop("kappa")
    found = kinds(config)
    (w,) = found["bound_dominated"]
    assert np.isfinite(w.values["log10_d_measurable"][0])
