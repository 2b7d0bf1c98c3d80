"""The fits read a sweep store lazily: the per-step arrays (the bulk of a store) are never
loaded, and the stage variables only when reduced."""

from __future__ import annotations

import dask.array
import numpy as np
import xarray as xr

from mfsim.analysis.scaling import fit_all
from tests.analysis.synthetic import make_synthetic_sweep


def _never(block):
    raise AssertionError("a per-step array of the sweep store was loaded")


def test_fit_all_does_not_load_the_per_step_arrays(tmp_path):
    synthetic = make_synthetic_sweep(("log", "power"), n_seeds=12, n_recorded=2000)
    synthetic.to_zarr(tmp_path / "sweep.zarr", zarr_format=2)
    ds = xr.open_zarr(tmp_path / "sweep.zarr")
    per_step = [
        name for name, var in ds.data_vars.items() if {"step", "heatmap_step"} & set(var.dims)
    ]
    assert {"error", "signal", "top_gram"} <= set(per_step)
    bulk = sum(ds[name].nbytes for name in per_step)
    assert bulk > 0.9 * ds.nbytes  # the store is mostly per-step arrays
    for name in per_step:
        data = ds[name].data
        assert isinstance(data, dask.array.Array)  # lazy as opened
        # computing any block of these arrays fails the test
        ds[name] = ds[name].copy(data=data.map_blocks(_never, dtype=data.dtype))
    lazy = fit_all(ds, n_boot=20)
    # a second route: the same fits of the whole store loaded in memory
    whole = fit_all(synthetic, n_boot=20)
    for name in whole.data_vars:
        a, b = lazy[name].values, whole[name].values
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert (a == b).all(), name
