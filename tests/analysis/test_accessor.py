"""``ds.mfsim`` on the Dataset of one ``mfsim.simulate`` batch and the size-1 dims view."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import mfsim
from mfsim.analysis.accessor import as_sweep, squeeze_grid
from mfsim.datamodel import AXES


@pytest.fixture(scope="module")
def batch() -> xr.Dataset:
    spec = mfsim.spectrum("flat", 1000, r=2, kappa=5)
    return mfsim.simulate(spec, eta=0.1, steps=1500, varpi=0.5, seeds=range(5), progress=False)


def test_stage_table_of_a_simulate_result_has_the_seed_medians(batch):
    table = batch.mfsim.stage_table(quantities=("rise", "t_k_star"))
    rise = table[table["quantity"] == "rise"].set_index("k")
    for k in (1, 2):
        values = batch.rise.sel(k=k).values
        assert rise.loc[k, "median"] == np.median(values)
        assert rise.loc[k, "n_reached"] == np.isfinite(values).sum() == 5
        assert rise.loc[k, "d"] == 1000
    star = table[table["quantity"] == "t_k_star"]
    # flat bulk at d = 1000: t_1^* = ceil(t^sharp) by construction (bound-dominated)
    assert list(star["k"]) == [1]
    assert int(star["n_bound_dominated"].iloc[0]) == int(batch.t_k_star_bound_dominated.sum())


def test_fit_methods_accept_a_simulate_result(batch):
    fit = batch.mfsim.fit_scaling("rise", n_boot=10)
    assert fit.sizes["d"] == 1 and int(fit["d"][0]) == 1000
    # one d: no slope can be fitted, and the counts say how many runs there were
    assert np.isnan(fit["log_slope"].values).all()
    assert int(fit["n_runs"].sel(k=1).sum()) == 5
    merged = batch.mfsim.fit_all(quantities=("rise", "escape"), n_boot=10)
    assert merged.attrs["quantities"] == "rise, escape"


def test_as_sweep_promotes_scalar_grid_values_only(batch):
    sweep = as_sweep(batch)
    for dim in AXES:
        assert sweep.sizes[dim] == (5 if dim == "seed" else 1)
        assert float(sweep[dim][0]) == float(batch[dim][0] if dim == "seed" else batch[dim])
    assert as_sweep(sweep) is sweep  # a sweep Dataset is returned unchanged
    np.testing.assert_array_equal(sweep.rise.values.reshape(5, 2), batch.rise.values)


def test_squeezed_drops_size_one_grid_dims_and_keeps_their_values(batch):
    sweep = as_sweep(batch)
    view = sweep.mfsim.squeezed()
    assert "seed" in view.dims and not {"d", "kappa", "varpi", "eta", "r"} & set(view.dims)
    assert float(view["eta"]) == 0.1 and int(view["d"]) == 1000
    np.testing.assert_array_equal(view.rise.values, batch.rise.values)
    assert "d" in sweep.dims  # the Dataset itself is unchanged
    only_d = sweep.mfsim.squeezed(dims=["d"])
    assert "d" not in only_d.dims and "eta" in only_d.dims


def test_squeeze_grid_names_a_bad_dim(batch):
    sweep = as_sweep(batch)
    with pytest.raises(ValueError, match="'seed' has size 5"):
        squeeze_grid(sweep, ["seed"])
    with pytest.raises(ValueError, match="'nope' is not a dim"):
        squeeze_grid(sweep, ["nope"])


def test_the_scale_c_and_the_papers_varpi_cannot_be_confused(batch):
    scale, varpi = batch["varpi"].attrs, batch["varpi_effective"].attrs
    assert scale["long_name"].startswith("initialization scale c")
    assert "varpi_effective" in scale["description"]
    assert varpi["long_name"].startswith("initialization scale varpi of X_0")
    assert "coordinate varpi" in varpi["description"]


def test_fit_table_of_a_simulate_result_has_the_theory_of_its_spectrum(batch):
    import math

    table = batch.mfsim.fit_table(n_boot=10)
    rise = table[table["quantity"] == "rise"].set_index("k")
    # flat bulk at kappa = 5: lambda = 1, 0.8 and the bulk level 0.6; eta = 0.1
    for k, lam in ((1, 1.0), (2, 0.8)):
        expected = 1 / (2 * math.log(1 + 0.1 * (lam - 0.6)))
        assert rise.loc[k, "theory_log_slope"] == pytest.approx(expected, rel=1e-12)
    assert (rise["n_runs"] == 5).all()
