"""Issue 20 item 8: the Dask scheduler lost mid-sweep (its process killed). The sweep stops;
every chunk store is complete or absent, nothing partial passes for whole, and the same call
on a new scheduler completes with the data of an undisturbed sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mfsim
from mfsim.plan.chunk_plan import make_plan
from mfsim.store import chunk_store_path
from mfsim.store.atomic import open_store, store_problems
from tests.helpers import ROOT, in_process_sweep, store_tiny

SWEEP = """
import json, sys
from distributed import Client
import mfsim
with Client(sys.argv[3], timeout=30) as client:
    mfsim.sweep(json.loads(sys.argv[1]), client=client, out=sys.argv[2])
"""


def start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with open(log, "w") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", *args], stdout=stream, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip


def start_cluster(directory: Path) -> tuple[list[subprocess.Popen], str]:
    """A scheduler and one single-threaded worker, each in its own process group."""
    directory.mkdir(parents=True, exist_ok=True)
    scheduler_file = directory / "scheduler.json"
    scheduler = start(
        ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        directory / "scheduler.log",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() or not scheduler_file.read_text().strip():
        assert scheduler.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.1)
    worker = start(
        ["distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file), "--nworkers",
         "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
        directory / "worker.log",
    )  # fmt: skip
    return [scheduler, worker], json.loads(scheduler_file.read_text())["address"]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
@pytest.mark.scenario
def test_scheduler_killed_mid_sweep_then_the_same_call_completes(tmp_path, assert_same_data):
    config = store_tiny(target_seconds=1e-9)  # 16 chunks of one batch
    plan = make_plan(config)
    out = tmp_path / "sweep"
    stores = [chunk_store_path(out, chunk) for chunk in plan.chunks]
    procs, address = start_cluster(tmp_path / "first")
    try:
        sweep = subprocess.Popen(
            [sys.executable, "-c", SWEEP, json.dumps(config), str(out), address],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 240
        while sum(store.exists() for store in stores) < 2:
            assert sweep.poll() is None, sweep.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no chunk store after 240 s"
            time.sleep(0.05)
        os.killpg(procs[0].pid, signal.SIGKILL)  # the scheduler, mid-sweep
        try:
            sweep.wait(timeout=120)
        except subprocess.TimeoutExpired:  # still waiting for its scheduler: stopped by hand
            sweep.kill()
            sweep.wait()
        assert sweep.returncode != 0
    finally:
        stop(procs)
    done = [store for store in stores if store.exists()]
    assert 2 <= len(done) < len(stores)  # stopped part way
    for store in done:
        assert store_problems(store) == [], store  # what is there is whole
    assert not (out / "sweep.zarr").exists()
    # the same call on a new scheduler completes, reusing the complete chunk stores
    mtimes = {store: store.stat().st_mtime_ns for store in done}
    procs, address = start_cluster(tmp_path / "second")
    try:
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            resumed = mfsim.sweep(config, client=client, out=out).load()
    finally:
        stop(procs)
    assert {store: store.stat().st_mtime_ns for store in done} == mtimes
    assert_same_data(in_process_sweep(config, tmp_path / "reference"), resumed)
    assert open_store(out / "sweep.zarr").attrs["n_runs"] == sum(c.n_runs for c in plan.chunks)
