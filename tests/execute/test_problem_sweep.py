"""A tiny sweep over problem in {factorization, sensing, asymmetric}, end to end: chunks,
assembly, fits, the report's opening paragraph; every number checked against a direct
``mfsim.simulate`` call (the factorization runs against the call without ``problem``)."""

from __future__ import annotations

import numpy as np
import pytest

import mfsim
from mfsim.analysis.scaling import fit_all, fits_for
from mfsim.config import parse
from mfsim.output.finding_problems import problems_finding
from tests.helpers import in_process_sweep, tiny

# short runs: the literal t_k^* is not what these tests are about
pytestmark = pytest.mark.filterwarnings("ignore::mfsim.engine.advice.StepLimitWarning")

GRID = {"problem": ["factorization", "sensing", "asymmetric"], "measurements": [4],
        "imbalance": [2], "d": [12, 24, 48], "seeds": {"start": 0, "count": 3}}  # fmt: skip
RUN = {"steps": 150, "heatmap_steps": [0, 20]}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    mixed = tiny(grid=GRID, run=RUN)
    alone = tiny(grid={k: v for k, v in GRID.items() if k in ("d", "seeds")}, run=RUN)
    return (
        in_process_sweep(mixed, tmp_path_factory.mktemp("mixed")),
        in_process_sweep(alone, tmp_path_factory.mktemp("alone")),
        parse(mixed),
    )


def _direct(config, d, **options):
    point = {"eta": config.grid.eta[0], "varpi": config.grid.varpi[0], "seeds": config.grid.seed}
    spec = mfsim.spectrum("linear", d, r=2, kappa=config.grid.kappa[0])
    if options:
        return mfsim.simulate(spec, steps=config.run.steps, **point, **options)
    return mfsim.simulate(spec, **point, **config.run.simulate_kwargs())


def test_store_layout(sweeps):
    mixed, alone, _ = sweeps
    assert mixed["problem"].values.tolist() == [
        "factorization", "sensing m/(dr)=4", "asymmetric imbalance=2"]  # fmt: skip
    assert mixed.attrs["grid_dims"].split()[-2:] == ["problem", "seed"]
    assert "problem" not in alone.dims and "distance" not in alone
    np.testing.assert_array_equal(mixed["measurements"].values, [np.nan, 4.0, np.nan])
    np.testing.assert_array_equal(mixed["imbalance"].values, [np.nan, np.nan, 2.0])
    assert (mixed["status"] >= 0).all()  # every cell holds a run


def test_factorization_runs_are_bit_for_bit_those_without_the_problem_axis(sweeps):
    mixed, alone, config = sweeps
    fact = mixed.sel(problem="factorization")
    for name in alone.data_vars:
        if name == "wall_time":
            continue
        a, b = alone[name].values, fact[name].transpose(*alone[name].dims).values
        assert a.tobytes() == b.tobytes(), name
    for d in (12, 48):
        direct = _direct(config, d)  # main's code path: simulate without `problem`
        cell = fact.sel(d=d).squeeze(["kappa", "varpi", "varpi_exponent", "eta", "r"])
        for name in ("error", "signal", "noise", "rise", "learned", "t_k", "t_eps", "status"):
            want = direct[name].values
            got = cell[name].transpose(*direct[name].dims).values.astype(want.dtype)
            assert want.tobytes() == got.tobytes(), name
    assert np.isnan(fact["residual"].values).all()


@pytest.mark.parametrize(("label", "options"), [
    ("sensing m/(dr)=4", {"problem": "sensing", "measurements": None}),
    ("asymmetric imbalance=2", {"problem": "asymmetric", "imbalance": 2.0}),
])  # fmt: skip
def test_problem_runs_equal_direct_calls(sweeps, label, options):
    mixed, _, config = sweeps
    cell = mixed.sel(problem=label, d=24).squeeze(["kappa", "varpi", "varpi_exponent", "eta", "r"])
    if options["problem"] == "sensing":
        options = {**options, "measurements": 4 * 24 * 2}
    direct = _direct(config, 24, **options).sel(step=config.run.recorded_steps)
    extra = "residual" if options["problem"] == "sensing" else "imbalance_norm"
    for name in ("error", "signal", "noise", "distance", extra):
        want = direct[name].values
        assert want.tobytes() == cell[name].transpose(*direct[name].dims).values.tobytes(), name
    # rise from every step of the direct call (first signal >= Delta/2), independently
    signal = _direct(config, 24, **options)["signal"].values  # (seed, k, step)
    risen = signal >= float(direct["Delta"]) / 2
    naive = np.where(risen.any(-1), risen.argmax(-1), np.nan)
    np.testing.assert_array_equal(cell["rise"].transpose("seed", "k").values, naive)


def test_fits_group_by_problem_and_the_report_opens_with_the_comparison(sweeps):
    mixed, _, _ = sweeps
    fits = fit_all(mixed, ["rise", "learned"], n_boot=50)
    rise = fits_for(fits, "rise")
    assert rise["log_slope"].sizes["problem"] == 3
    text = str(problems_finding(mixed, fits))
    assert text.startswith("Matrix sensing against factorization")
    assert "m/(dr) = 4" in text and "imbalance varpi'/varpi = 2" in text
    assert text.endswith("Verdicts describe the sampled range of d only.")
    assert (
        problems_finding(mixed.sel(problem=["factorization"]), fits.sel(problem=["factorization"]))
        is None
    )
