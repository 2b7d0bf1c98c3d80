"""Stores of sweeps with d of any size (up to 10^300): d int64 below 2^53 else float64, an exact
log10_d coordinate, round trip through xarray.open_zarr, values equal to the engine's."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import xarray as xr

import mfsim
from mfsim.config.validate import load_config
from mfsim.plan.grid import make_chunks
from mfsim.store import assemble, chunk_store_path
from tests.helpers import in_process_sweep, run_all, store_tiny

#: 10^2, 3^100 (about 5.2e47: beyond 2^53, not a power of 10) and 10^300.
HUGE_D = [100, 3**100, 10**300]
STEPS = 60

HUGE = {
    "sweep": "huge",
    "spectrum": {"family": "flat"},
    "grid": {
        "d": HUGE_D,
        "r": [2],
        "kappa": [5.0],
        "varpi": [0.5],
        "eta": [0.1],
        "seeds": {"start": 0, "count": 2},
    },
    "run": {"steps": STEPS, "heatmap_steps": [0]},
}


def mp_log10(d: int) -> float:
    """log10 of the exact integer, 40 digits, rounded once to float64."""
    with mpmath.workdps(40):
        return float(mpmath.log10(mpmath.mpf(d)))


@pytest.fixture(scope="module")
def huge_sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("huge")
    return in_process_sweep(HUGE, directory), directory


def test_sweep_store_holds_d_up_to_1e300(huge_sweep):
    ds, directory = huge_sweep
    reopened = xr.open_zarr(directory / "sweep.zarr")  # lazily, as the analysis rules read it
    assert reopened["d"].dtype == np.float64
    assert reopened["d"].values.tolist() == [float(d) for d in HUGE_D]
    assert reopened["log10_d"].dims == ("d",) and reopened["log10_d"].dtype == np.float64
    expected = np.array([mp_log10(d) for d in HUGE_D])
    # within one ulp of the correctly rounded log10 of the integer (not of its float64 value)
    assert np.all(np.abs(reopened["log10_d"].values - expected) <= np.spacing(expected))
    assert reopened["log10_d"].values[[0, 2]].tolist() == [2.0, 300.0]
    assert "long_name" in reopened["log10_d"].attrs and reopened["log10_d"].attrs["units"] == "1"
    # selecting by d works on the float64 coordinate
    assert int(reopened.sel(d=1e300)["r"].size) == 1
    assert np.isfinite(ds["signal"].values).all()
    assert ds["status"].values.size == 3 * 2


def test_chunk_stores_keep_int64_d_while_every_d_is_below_2_to_53(huge_sweep, tmp_path):
    """A chunk store's d is int64 when all its d are below 2^53 (exact), else float64; log10_d
    is exact per run either way, also in a chunk that mixes d = 100 with d = 10^300."""
    _, directory = huge_sweep
    config = load_config(HUGE, results_root=None)
    dtypes = []
    for chunk in make_chunks(config):
        store = xr.open_zarr(chunk_store_path(directory, chunk))
        d_of_runs = [batch.point.d for batch in chunk.batches for _ in batch.seeds]
        exact = np.array([mp_log10(d) for d in d_of_runs])
        assert np.all(np.abs(store["log10_d"].values - exact) <= np.spacing(exact))
        dtypes.append((sorted({batch.point.d for batch in chunk.batches}), store["d"].dtype))
    assert dtypes == [([100, 3**100, 10**300], np.float64)]  # the three cheap groups together
    small = load_config({**HUGE, "grid": {**HUGE["grid"], "d": [100]}}, results_root=None)
    (chunk,) = make_chunks(small)
    paths = run_all(small, tmp_path, threads=1)
    assert xr.open_zarr(paths[0])["d"].dtype == np.int64
    assert xr.open_zarr(paths[0])["d"].values.tolist() == [100] * chunk.n_runs


def test_huge_d_values_are_the_engines(huge_sweep):
    """Assembly copies the engine's values at d = 10^300 (mfsim.simulate called directly)."""
    ds, _ = huge_sweep
    spec = mfsim.spectrum("flat", 10**300, r=2, kappa=5.0)
    direct = mfsim.simulate(
        spec,
        eta=0.1,
        varpi=0.5,
        seeds=[0, 1],
        steps=STEPS,
        heatmap_steps=[0],
        record=ds["step"].values,
    )
    stored = ds.sel(d=1e300).squeeze(("kappa", "varpi", "varpi_exponent", "eta", "r"))
    for name in ("signal", "noise", "noise_floor", "error"):
        np.testing.assert_array_equal(
            stored[name].values, direct[name].sel(step=stored["step"]).values, err_msg=name
        )
    # the signals at d = 10^300 start near varpi^2 / d = 2.5e-301: resolved, not underflowed
    start = stored["signal"].isel(step=0).values
    assert np.all((start > 1e-303) & (start < 1e-298))


def test_small_d_sweep_keeps_int64_d_and_gets_log10_d(tmp_path):
    config = store_tiny()
    store = xr.open_zarr(assemble(run_all(config, tmp_path), config, tmp_path / "s.zarr"))
    assert store["d"].dtype == np.int64 and store["d"].values.tolist() == [50, 200]
    np.testing.assert_array_equal(store["log10_d"].values, [math.log10(50), math.log10(200)])
    assert np.all(np.abs(store["log10_d"].values - [mp_log10(50), mp_log10(200)]) <= 4e-16)
