"""mfsim.store.assemble: the sweep store, refusals, fill values, chunking independence."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import xarray as xr
import yaml

from mfsim.config.validate import load_config
from mfsim.datamodel import AXES
from mfsim.plan.grid import make_chunks
from mfsim.store import MARKER, IncompleteStoreError, assemble, is_complete
from tests.helpers import STORE_TINY, run_all, store_tiny


def test_assemble_refuses_incomplete_store(many_chunks, tmp_path):
    config, _, paths, _ = many_chunks
    broken = tmp_path / paths[3].name
    shutil.copytree(paths[3], broken)
    (broken / MARKER).unlink()
    with pytest.raises(IncompleteStoreError, match=str(broken)):
        assemble([*paths[:3], broken, *paths[4:]], config, tmp_path / "sweep.zarr")
    assert not (tmp_path / "sweep.zarr").exists()


def test_assemble_refuses_missing_and_duplicate_runs(many_chunks, tmp_path):
    config, _, paths, _ = many_chunks
    with pytest.raises(ValueError, match="missing"):
        assemble(paths[1:], config, tmp_path / "a.zarr")
    with pytest.raises(ValueError, match="also holds"):
        assemble([*paths, paths[0]], config, tmp_path / "b.zarr")


def test_assemble_refuses_store_of_other_run_settings(many_chunks, tmp_path):
    config, _, paths, _ = many_chunks
    other = copy.deepcopy(STORE_TINY)
    other["run"]["steps"] = 150
    with pytest.raises(ValueError, match="other run settings"):
        assemble(paths, load_config(other, results_root=None), tmp_path / "s.zarr")


def test_sweep_store_layout(many_chunks):
    config, _, _, store = many_chunks
    assert is_complete(store)
    ds = xr.open_zarr(store)
    assert tuple(ds["error"].dims) == (*AXES, "step")
    assert tuple(ds["signal"].dims) == (*AXES, "k", "step")
    assert tuple(ds["t_eps"].dims) == (*AXES, "eps")
    assert tuple(ds["top_gram"].dims) == (*AXES, "heatmap_step", "row", "col")
    assert tuple(ds["t_star"].dims) == ("d", "kappa", "eta", "r")
    assert ds["d"].values.tolist() == [50, 200]
    assert ds["r"].values.tolist() == [1, 2]
    assert ds["varpi_exponent"].values.tolist() == [0.0, 0.5]
    assert ds["seed"].values.tolist() == [0, 1, 2]
    assert ds["step"].values.tolist() == list(range(201))
    assert ds["heatmap_step"].values.tolist() == [0, 50]
    np.testing.assert_allclose(
        ds["varpi_effective"].sel(d=200, varpi=0.5, varpi_exponent=0.5), 0.5 * 200**-0.5
    )
    # dtypes and the run outcome
    assert ds["status"].dtype == np.int8 and ds["in_S"].dtype == np.int8
    assert ds["t_k_star_bound_dominated"].dtype == bool
    assert set(np.unique(ds["status"].values)) <= {0, 1}
    # k > r is NaN: r = 1 has no second signal
    assert np.isnan(ds["signal"].sel(r=1, k=2).values).all()
    assert np.isfinite(ds["signal"].sel(r=1, k=1, step=0).values).all()
    assert np.isnan(ds["lambda_k"].sel(r=1, k=2).values).all()
    # attributes: units everywhere, provenance
    for name in ("error", "t_k_star", "status", "d", "varpi", "eta", "step", "varpi_effective"):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert ds["t_k_star"].attrs["units"] == "steps"
    assert list(ds["status"].attrs["flag_values"]) == [0, 1, 2, 3, 4]  # 4: underflow
    assert ds.attrs["mfsim_version"]
    assert "git_commit" in ds.attrs and "created" in ds.attrs
    assert yaml.safe_load(ds.attrs["config"]) == config
    # Zarr chunks: one d, all seeds and steps of a grid point together
    chunks = ds["error"].encoding["chunks"]
    assert chunks[0] == 1 and chunks[-2:] == (3, 201)


def test_assemble_allow_missing_fills(many_chunks, tmp_path):
    config, _, paths, _ = many_chunks
    chunks = make_chunks(config)
    dropped = chunks[0]
    store = assemble(paths[1:], config, tmp_path / "sweep.zarr", allow_missing=True)
    ds = xr.open_zarr(store)
    batch = dropped.batches[0]
    cell = {
        "d": batch.point.d,
        "r": batch.point.r,
        "kappa": batch.point.kappa,
        "varpi": batch.point.varpi,
        "varpi_exponent": batch.point.varpi_exponent,
        "eta": batch.point.eta,
        "seed": list(batch.seeds),
    }
    missing = ds.sel(cell)
    assert (missing["status"].values == -1).all()
    assert (missing["in_S"].values == -1).all()
    assert np.isnan(missing["error"].values).all()
    assert np.isnan(missing["t_k"].values).all()
    assert not missing["t_k_star_bound_dominated"].values.any()
    assert ds.attrs["n_missing_runs"] == len(batch.seeds)
    present = ds["status"].values != -1
    assert present.sum() == ds.attrs["n_runs"]


def test_same_result_whatever_the_chunking(many_chunks, tmp_path, assert_same_data):
    config_many, _, _, store_many = many_chunks
    config_one = store_tiny(target_seconds=1e9)
    # one chunk holding every (d, r) group (mixed d and r in one chunk store)
    assert len(make_chunks(config_one)) == 1 < len(make_chunks(config_many))
    paths = run_all(config_one, tmp_path, threads=2)
    store_one = assemble(paths, config_one, tmp_path / "sweep.zarr")
    assert_same_data(xr.open_zarr(store_many).load(), xr.open_zarr(store_one).load())
