"""mfsim.pipeline: chunk stores, atomic writes, assembly, determinism across chunkings."""

from __future__ import annotations

import copy
import importlib
import io
import json
import os
import shutil

import numpy as np
import pytest
import xarray as xr
import yaml

from mfsim.config.validate import load_config
from mfsim.pipeline import (
    MARKER,
    NONDETERMINISTIC_VARIABLES,
    IncompleteStoreError,
    assemble,
    chunk_store_path,
    cluster_client,
    is_complete,
    run_chunk,
    slurm_cluster_kwargs,
    sweep,
)
from mfsim.plan.grid import AXES, make_chunks

TINY = {
    "sweep": "tiny",
    "spectrum": {"family": "linear", "lambda_1": 1.0},
    "grid": {
        "d": [50, 200],
        "r": [1, 2],
        "kappa": [5.0],
        "varpi": {"scale": [0.5], "exponent": [0.0, 0.5]},
        "eta": [0.1],
        "seeds": {"start": 0, "count": 3},
    },
    "run": {"steps": 200, "heatmap_steps": [0, 50]},
    # two seed blocks per grid point: [0, 1] and [2]
    "chunking": {"seeds_per_batch": 2},
}


def tiny(**chunking) -> dict:
    config = copy.deepcopy(TINY)
    config["chunking"].update(chunking)
    return load_config(config, results_root=None)


def run_all(config, out, client=None, threads=1) -> list:
    paths = []
    for chunk in make_chunks(config):
        path = chunk_store_path(out, chunk)
        run_chunk(chunk, config, path, client=client, threads=threads)
        paths.append(path)
    return paths


def assert_same_data(a: xr.Dataset, b: xr.Dataset) -> None:
    """Bit-identical data variables and coordinates (NaN == NaN), timings excepted."""
    assert list(a.data_vars) == list(b.data_vars)
    for name in a.variables:
        if name in NONDETERMINISTIC_VARIABLES:
            continue
        va, vb = a[name], b[name]
        assert va.dims == vb.dims, name
        assert va.dtype == vb.dtype, name
        x, y = va.values, vb.values
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
            # bit for bit, including the sign of zeros
            assert x.tobytes() == y.tobytes(), name
        else:
            assert np.array_equal(x, y), name


@pytest.fixture(scope="module")
def many_chunks(tmp_path_factory):
    """The tiny sweep with one chunk per batch, run in-process, and its assembled store."""
    config = tiny(target_seconds=1e-9)
    out = tmp_path_factory.mktemp("many")
    paths = run_all(config, out)
    store = assemble(paths, config, out / "sweep.zarr")
    return config, out, paths, store


@pytest.fixture(scope="module")
def local_client():
    with cluster_client({"cluster": "local"}, threads=2) as client:
        yield client


# --------------------------------------------------------------------------------------------
# chunk stores


def test_chunk_store_has_marker_and_runs(many_chunks):
    config, out, paths, _ = many_chunks
    chunks = make_chunks(config)
    assert len(chunks) == len(paths) == 16  # one batch per chunk: 8 grid points x 2 seed blocks
    for chunk, path in zip(chunks, paths, strict=True):
        assert is_complete(path)
        marker = json.loads((path / MARKER).read_text())
        assert marker["complete"] == 1 and marker["chunk_id"] == chunk.chunk_id
        ds = xr.open_zarr(path)
        assert ds.sizes["run"] == chunk.n_runs
        assert ds.sizes["k"] == 2  # padded to the largest r of the grid
        assert ds.attrs["mfsim_chunk_id"] == chunk.chunk_id
        seeds = [seed for batch in chunk.batches for seed in batch.seeds]
        assert ds["seed"].values.tolist() == seeds
    # no temporaries left behind
    assert not [p for p in (out / "chunks").iterdir() if ".tmp-" in p.name]


def test_interrupted_chunk_write_leaves_no_store(tmp_path, monkeypatch):
    # the module, not the function that mfsim/__init__.py may export under the same name
    sweep_module = importlib.import_module("mfsim.pipeline")

    config = tiny(target_seconds=1e-9)
    chunk = make_chunks(config)[0]
    out = chunk_store_path(tmp_path, chunk)

    def broken(ds, path, **kwargs):
        path.mkdir(parents=True)
        (path / "zarr.json").write_text("{}")  # a partial store
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_module, "_to_zarr", broken)
    with pytest.raises(KeyboardInterrupt):
        run_chunk(chunk, config, out, threads=1)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def test_rerun_replaces_stale_temporaries(tmp_path):
    config = tiny(target_seconds=1e-9)
    chunk = make_chunks(config)[0]
    out = chunk_store_path(tmp_path, chunk)
    stale = out.with_name(out.name + ".tmp-deadbeef")
    stale.mkdir(parents=True)
    run_chunk(chunk, config, out, threads=1)
    assert is_complete(out) and not stale.exists()


def test_progress_lines(tmp_path):
    config = tiny(target_seconds=1e9)
    chunk = make_chunks(config)[0]
    assert len(chunk.batches) > 1
    log = io.StringIO()
    run_chunk(chunk, config, tmp_path / "c.zarr", log=log, threads=1)
    lines = [line for line in log.getvalue().splitlines() if "batch" in line and "runs/s" in line]
    assert len(lines) == len(chunk.batches)
    assert f"runs {chunk.n_runs}/{chunk.n_runs} (100%)" in lines[-1]
    assert "ETA" in lines[0]


def test_diverged_runs_are_data(tmp_path):
    config = copy.deepcopy(TINY)
    config["grid"].update({"d": [50], "r": [2], "varpi": [3.0], "eta": [0.5]})
    config = load_config(config, results_root=None)
    paths = run_all(config, tmp_path, threads=1)
    ds = xr.open_zarr(assemble(paths, config, tmp_path / "sweep.zarr"))
    assert (ds["status"].values == 2).all()  # diverged, and the sweep completed


# --------------------------------------------------------------------------------------------
# assemble


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
    other = copy.deepcopy(TINY)
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


# --------------------------------------------------------------------------------------------
# determinism


def test_same_result_whatever_the_chunking(many_chunks, tmp_path):
    config_many, _, _, store_many = many_chunks
    config_one = tiny(target_seconds=1e9)
    assert len(make_chunks(config_one)) == 4 < len(make_chunks(config_many))  # one per (d, r)
    paths = run_all(config_one, tmp_path, threads=2)
    store_one = assemble(paths, config_one, tmp_path / "sweep.zarr")
    assert_same_data(xr.open_zarr(store_many).load(), xr.open_zarr(store_one).load())


def test_same_result_with_one_or_two_workers(many_chunks, tmp_path, local_client):
    _, _, _, store_ref = many_chunks
    config = tiny(target_seconds=1e9)  # one chunk per (d, r)
    reference = xr.open_zarr(store_ref).load()
    with cluster_client({"cluster": "local"}, threads=1) as one:
        paths = run_all(config, tmp_path / "one", client=one)
        one_worker = xr.open_zarr(assemble(paths, config, tmp_path / "one.zarr")).load()
    paths = run_all(config, tmp_path / "two", client=local_client)
    two_workers = xr.open_zarr(assemble(paths, config, tmp_path / "two.zarr")).load()
    assert_same_data(reference, one_worker)
    assert_same_data(reference, two_workers)


def test_sweep_equals_pipeline(many_chunks, tmp_path, local_client):
    _, _, _, store_ref = many_chunks
    config = tiny(target_seconds=1e9)
    in_memory = sweep(
        TINY | {"chunking": {"seeds_per_batch": 2, "target_seconds": 1e9}}, client=local_client
    )
    assert_same_data(xr.open_zarr(store_ref).load(), in_memory)
    # with an output directory: the stores stay, and a second call reuses the chunk stores
    on_disk = sweep(config, client=local_client, out=tmp_path)
    assert_same_data(in_memory, on_disk.load())
    marker = chunk_store_path(tmp_path, make_chunks(config)[0]) / MARKER
    mtime = marker.stat().st_mtime_ns
    sweep(config, client=local_client, out=tmp_path)
    assert marker.stat().st_mtime_ns == mtime


# --------------------------------------------------------------------------------------------
# Dask clusters


def test_local_workers_are_pinned_to_one_thread(local_client):
    from mfsim.pipeline import _pin_numba_threads

    def threads():
        import numba

        _pin_numba_threads(None)
        return {
            "env": {
                name: os.environ.get(name)
                for name in (
                    "NUMBA_NUM_THREADS",
                    "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS",
                )
            },
            "numba": numba.get_num_threads(),
        }

    info = local_client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
    assert len(info) == 2 and set(info.values()) == {"1"}
    result = local_client.submit(threads, pure=False).result()
    assert result["numba"] == 1
    assert set(result["env"].values()) == {"1"}
    # scheduler on loopback only
    assert local_client.scheduler.address.startswith("tcp://127.0.0.1:")


def test_slurm_cluster_settings():
    dask_config = {
        "cluster": "slurm",
        "slurm": {
            "cores": 4,
            "memory": "8GB",
            "walltime": "01:00:00",
            "queue": "short",
            "account": "proj",
            "job_extra_directives": ["--exclusive"],
            "lifetime": "55m",
            "lifetime_stagger": "4m",
            "minimum_jobs": 0,
            "maximum_jobs": 3,
            "scheduler_host": "127.0.0.1",
        },
    }
    kwargs = slurm_cluster_kwargs(dask_config)
    assert kwargs["cores"] == 4 and kwargs["processes"] == 4 and kwargs["memory"] == "8GB"
    assert kwargs["scheduler_options"]["host"] == "127.0.0.1"
    assert kwargs["scheduler_options"]["dashboard_address"].startswith("127.0.0.1:")
    assert kwargs["worker_extra_args"] == [
        "--lifetime",
        "55m",
        "--lifetime-stagger",
        "4m",
        "--lifetime-restart",
    ]
    assert kwargs["job_extra_directives"] == ["--exclusive"]
    assert "export NUMBA_NUM_THREADS=1" in kwargs["job_script_prologue"]
    from dask_jobqueue import SLURMCluster

    with SLURMCluster(**kwargs) as cluster:
        script = cluster.job_script()
    assert "#SBATCH -p short" in script and "#SBATCH -A proj" in script
    assert "--lifetime 55m" in script and "export NUMBA_NUM_THREADS=1" in script
