"""Issue 8.4: the same config gives bit-identical ``sweep.zarr`` data whatever the chunk size,
the number of workers and the Dask cluster (embedded LocalCluster or a separately started
scheduler driven through the Snakemake workflow)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

import mfsim
from mfsim.config.validate import load_config
from mfsim.plan.grid import make_chunks
from tests.helpers import (
    STORE_TINY,
    assert_same_data,
    in_process_sweep,
    run_snakemake,
    write_config,
)

#: 16 batches: 2 d x 2 r x 2 varpi exponents x 2 seed blocks ([0, 1], [2]); the store-layout
#: sweep of tests/helpers.py, run a little longer.
CONFIG = {
    **copy.deepcopy(STORE_TINY),
    "sweep": "repro",
    "run": {"steps": 300, "heatmap_steps": [0, 50]},
}


def with_chunking(target_seconds: float, **sections) -> dict:
    return {
        **CONFIG,
        "chunking": {**CONFIG["chunking"], "target_seconds": target_seconds},
        **sections,
    }


SMALL_CHUNKS = with_chunking(1.0e-9)  # one chunk per batch
HUGE_CHUNKS = with_chunking(1.0e9)  # one chunk: every (d, r) group packed together


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """In-process (no Dask), one chunk per batch."""
    assert len(make_chunks(load_config(SMALL_CHUNKS, results_root=None))) == 16
    return in_process_sweep(SMALL_CHUNKS, tmp_path_factory.mktemp("reference"))


def test_same_data_whatever_the_chunk_size(reference, tmp_path):
    assert len(make_chunks(load_config(HUGE_CHUNKS, results_root=None))) == 1
    assert_same_data(reference, in_process_sweep(HUGE_CHUNKS, tmp_path))


@pytest.mark.slow
@pytest.mark.scenario  # tests/execute/test_runner.py checks 1 vs 2 workers by default
def test_same_data_on_a_local_cluster_of_two_workers(reference, tmp_path):
    # mfsim.sweep without a client: the embedded LocalCluster, one worker process per core
    with mfsim.cluster_client({"cluster": "local"}, 2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        two_workers = mfsim.sweep(with_chunking(20), client=client, out=tmp_path / "out").load()
    assert_same_data(reference, two_workers)


def start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with open(log, "w") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


@pytest.fixture
def external_scheduler(tmp_path):
    """A Dask scheduler and one single-threaded worker in their own processes (loopback)."""
    from distributed import Client

    scheduler_file = tmp_path / "scheduler.json"
    procs = [
        start(
            [
                "distributed.cli.dask_scheduler",
                "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                "--scheduler-file", str(scheduler_file),
            ],
            tmp_path / "scheduler.log",
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            assert procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "no scheduler file after 60 s"
            time.sleep(0.05)
        time.sleep(0.1)  # the file is written in one go; let it be closed
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(
            start(
                [
                    "distributed.cli.dask_worker",
                    "--scheduler-file", str(scheduler_file),
                    "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                    "--host", "127.0.0.1",
                ],
                tmp_path / "worker.log",
            )
        )  # fmt: skip
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()


@pytest.mark.slow
@pytest.mark.scenario
def test_same_data_with_a_separately_started_scheduler(reference, tmp_path, external_scheduler):
    address = external_scheduler
    assert address.startswith("tcp://127.0.0.1:")
    config = with_chunking(1.0e9, dask={"cluster": "address", "address": address})
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(workdir, config)
    # (--set-threads takes several values: the target goes before it)
    result = run_snakemake(
        workdir, configfile, "results/repro/sweep.zarr", "--set-threads", "simulate=2"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # every chunk job drove the external scheduler (not an in-process run)
    logs = sorted((workdir / "results" / "repro" / "logs" / "simulate").glob("*.log"))
    assert len(logs) == 1
    for log in logs:
        assert address in log.read_text(), log.read_text()
    store = xr.open_zarr(workdir / "results" / "repro" / "sweep.zarr").load()
    assert_same_data(reference, store)
