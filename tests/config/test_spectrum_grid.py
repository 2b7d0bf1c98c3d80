"""Every spectrum of a grid is built at config time; staircase parameters reach the engine."""

from __future__ import annotations

import numpy as np
import pytest

import mfsim
from mfsim.config import parse
from mfsim.config.errors import ConfigError
from mfsim.config.validate import load_config
from mfsim.engine.initialization import effective_system
from mfsim.plan.grid import engine_rows
from tests.helpers import in_process_sweep, tiny


def test_linear_family_beyond_its_largest_d_is_refused_naming_the_key(tmp_path):
    config = tiny(grid={**tiny()["grid"], "d": [200, 10**9]})
    with pytest.raises(
        ConfigError, match=r"grid\.d.*d = 1000000000, r = 2.*exceeds.*'flat' or 'staircase'"
    ):
        load_config(config, results_root=tmp_path / "results")
    assert not (tmp_path / "results").exists()  # before any job: nothing written


def test_staircase_with_more_levels_than_bulk_rows_is_refused():
    config = tiny(spectrum={"family": "staircase", "levels": 40}, grid={**tiny()["grid"]})
    config["grid"]["d"] = [30, 200]  # d - r - 1 = 27 < 40 levels at d = 30
    with pytest.raises(ConfigError, match=r"grid\.d.*d = 30, r = 2, kappa = 5.*levels = 40"):
        load_config(config, results_root=None)


def test_impossible_kappa_is_refused_for_the_staircase():
    config = tiny(spectrum={"family": "staircase"})
    config["grid"]["kappa"] = [1.5]  # lambda_3 = 1 - 2 / 1.5 < 0
    with pytest.raises(ConfigError, match=r"grid\.kappa: kappa = 1\.5 is too small for r = 2"):
        load_config(config, results_root=None)


def test_levels_only_for_the_staircase():
    config = tiny(spectrum={"family": "flat", "levels": 8})
    with pytest.raises(ConfigError, match="levels"):
        load_config(config, results_root=None)


def test_d_values_equal_in_float64_are_refused():
    config = tiny(spectrum={"family": "flat"})
    config["grid"]["d"] = [10**30, 10**30 + 1]
    with pytest.raises(ConfigError, match=r"grid\.d: two d values round to the same float64"):
        load_config(config, results_root=None)


def test_staircase_parameters_reach_the_engine(tmp_path):
    """levels, bulk_bottom and lambda_1 of the config give the runs of mfsim.simulate called
    with the spectrum built by hand from the same numbers."""
    section = {"family": "staircase", "levels": 3, "bulk_bottom": 0.1, "lambda_1": 2.0}
    config = tiny(spectrum=section, run={"steps": 80})
    config["grid"]["d"] = [10**40]
    config["grid"]["seeds"] = [0, 1]
    params = parse(load_config(config, results_root=None)).spectrum.family_params()
    assert params == {"lambda_1": 2.0, "bulk_bottom": 0.1, "levels": 3}
    ds = in_process_sweep(config, tmp_path).squeeze(
        ("d", "kappa", "varpi", "varpi_exponent", "eta")
    )
    spec = mfsim.spectrum("staircase", 10**40, r=2, kappa=5.0, levels=3, bulk_bottom=0.1,
                          lambda_1=2.0)  # fmt: skip
    direct = mfsim.simulate(spec, eta=0.1, varpi=0.5, seeds=[0, 1], steps=80,
                            record=ds["step"].values)  # fmt: skip
    assert float(ds["lambda_1"].squeeze()) == 2.0
    np.testing.assert_array_equal(ds["error"].squeeze("r").values, direct["error"].values)
    default = mfsim.simulate(
        mfsim.spectrum("staircase", 10**40, r=2, kappa=5.0, lambda_1=2.0),
        eta=0.1, varpi=0.5, seeds=[0, 1], steps=80, record=ds["step"].values,
    )  # fmt: skip
    assert not np.array_equal(default["error"].values, direct["error"].values)


@pytest.mark.parametrize("levels", [None, 1, 8, 32])
@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("d", [60, 10**6, 10**300])
def test_staircase_engine_rows_match_the_reduced_system(d, r, levels):
    kwargs = {} if levels is None else {"levels": levels}
    spec = mfsim.spectrum("staircase", d, r=r, kappa=5.0, **kwargs)
    assert engine_rows(d, r, "staircase", levels) == effective_system(spec).n_rows
