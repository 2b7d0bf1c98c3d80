"""The Snakemake workflow end to end: run, invalid configs, interruption and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pandas as pd
import pytest
import xarray as xr
import yaml

from mfsim.analysis.fit_table import fits_table
from mfsim.config.validate import load_config
from mfsim.plan.grid import AXES, make_chunks
from mfsim.store import MARKER, chunk_store_path, is_complete
from tests.helpers import TINY, assert_same_data, run_snakemake, snakemake_cmd, write_config
from tests.helpers import in_process_sweep as reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def warm_numba_cache():
    """Compile the kernels once in this process (numba caches them on disk), so that the
    Snakemake jobs load them instead of each compiling them on a cold cache."""
    import mfsim

    mfsim.simulate(mfsim.spectrum("linear", 50, r=2, kappa=5.0), steps=5, seeds=range(2))


@pytest.mark.scenario
def test_end_to_end(tmp_path):
    configfile = write_config(tmp_path, TINY)
    result = run_snakemake(tmp_path, configfile)
    assert result.returncode == 0, result.stderr[-3000:]
    store = tmp_path / "results" / "tiny" / "sweep.zarr"
    assert is_complete(store)
    ds = xr.open_zarr(store)
    assert tuple(ds["error"].dims) == (*AXES, "step")
    assert ds.sizes["d"] == 2 and ds.sizes["seed"] == 3 and ds.sizes["step"] == 201
    assert ds["d"].attrs["units"] == "1" and ds["t_k"].attrs["units"] == "steps"
    assert yaml.safe_load(ds.attrs["config"])["grid"]["d"] == [50, 200]
    assert (ds["status"].values >= 0).all()
    logs = tmp_path / "results" / "tiny" / "logs"
    simulate_logs = sorted((logs / "simulate").glob("*.log"))
    assert len(simulate_logs) == len(make_chunks(load_config(TINY, results_root=None)))
    assert "runs/s" in simulate_logs[0].read_text()
    # every job's log is complete
    for name in ("assemble", "fit_scaling", "audit", "report"):
        assert f"mfsim.{name} took" in (logs / f"{name}.log").read_text(), name
    assert "mfsim.simulate took" in simulate_logs[0].read_text()
    # the fit table beside scaling.zarr, the same as computed from it
    sweep_dir = tmp_path / "results" / "tiny"
    table = pd.read_csv(sweep_dir / "fit_table.csv")
    expected = fits_table(xr.open_zarr(sweep_dir / "scaling.zarr"), ds)
    assert list(table.columns) == list(expected.columns) and len(table) == len(expected)
    assert (sweep_dir / "fit_table.parquet").is_file()
    assert (sweep_dir / "fit_table.columns.csv").is_file()
    # the last line names the outputs
    lines = result.stderr.splitlines()
    done = [line for line in lines if line.startswith("mfsim: sweep tiny done")]
    assert done == ["mfsim: sweep tiny done: results/tiny/report.html, results/tiny/sweep.zarr"]
    # a second invocation has nothing to do
    again = run_snakemake(tmp_path, configfile)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"grid": {**TINY["grid"], "bogus": 1}}, "grid.bogus"),
        # the same route as unknown-key (validation at Snakemake's start); one Snakemake start
        # in the default run is enough, the second runs with the scenarios (issue 22 item 7)
        pytest.param(
            {"grid": {**TINY["grid"], "d": [2, 50]}}, "grid.d", marks=pytest.mark.scenario
        ),
    ],
    ids=["unknown-key", "d-not-above-r"],
)
def test_invalid_config_stops_before_any_job(tmp_path, change, key):
    configfile = write_config(tmp_path, {**TINY, **change})
    result = run_snakemake(tmp_path, configfile)
    assert result.returncode != 0
    assert key in result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.scenario
def test_interrupted_run_resumes(tmp_path):
    config = {
        **TINY,
        "sweep": "interrupt",
        "grid": {**TINY["grid"], "d": [300], "eta": [0.05, 0.1, 0.15, 0.2]},
        "run": {"steps": 1000},
        "chunking": {"target_seconds": 1.0e-9},  # one chunk per batch: 4 chunks
    }
    chunks = make_chunks(load_config(config, results_root=None))
    assert len(chunks) == 4
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(workdir, config)
    stores = [chunk_store_path(workdir / "results" / "interrupt", chunk) for chunk in chunks]

    # one job at a time, killed as soon as the second job has started: the first one is then
    # complete for Snakemake too (a store written by a job Snakemake has not seen finish is
    # removed by Snakemake when it is stopped, as an incomplete output)
    logs = workdir / "results" / "interrupt" / "logs" / "simulate"

    def second_job_started() -> bool:
        return any(is_complete(store) for store in stores) and len(list(logs.glob("*.log"))) >= 2

    proc = subprocess.Popen(
        snakemake_cmd(workdir, configfile, cores=1),
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not second_job_started():
            assert proc.poll() is None, "snakemake ended before the second job started"
            assert time.monotonic() < deadline, "no second job after 240 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    done = [store for store in stores if is_complete(store)]
    assert 1 <= len(done) < len(stores)
    assert not (workdir / "results" / "interrupt" / "sweep.zarr").exists()
    mtimes = {store: (store / MARKER).stat().st_mtime_ns for store in done}

    result = run_snakemake(workdir, configfile)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(is_complete(store) for store in stores)
    # completed chunks were not recomputed
    assert {store: (store / MARKER).stat().st_mtime_ns for store in done} == mtimes
    leftovers = [p for p in (workdir / "results" / "interrupt" / "chunks").iterdir()
                 if ".tmp-" in p.name]  # fmt: skip
    assert leftovers == []
    resumed = xr.open_zarr(workdir / "results" / "interrupt" / "sweep.zarr").load()
    assert_same_data(reference(config, tmp_path / "reference"), resumed)
