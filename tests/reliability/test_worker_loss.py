"""Issue 8.1: a Dask worker process killed mid-chunk; the chunk completes with the same data."""

from __future__ import annotations

import os
import signal
import threading
import time

import dask
import distributed  # noqa: F401 - registers the distributed.* dask config
import psutil
import pytest
import xarray as xr

from mfsim.config.validate import load_config
from mfsim.execute import cluster_client, run_chunk
from mfsim.plan.grid import make_chunks
from mfsim.store import is_complete
from tests.helpers import assert_same_data, tiny

pytestmark = pytest.mark.slow

#: One chunk of 4 batches (one per seed block of 4 seeds) of about 1-2 s each at d = 3000.
HEAVY = tiny(
    sweep="worker_loss",
    grid={"d": [3000], "seeds": {"start": 0, "count": 16}},
    run={"steps": 3000},
    chunking={"seeds_per_batch": 4, "target_seconds": 1.0e9},
)


@pytest.mark.scenario  # a LocalCluster and a killed worker: half a minute (issue 22 item 7)
def test_worker_killed_mid_chunk_is_recomputed(tmp_path):
    # a task that was running on a worker that dies is rescheduled on another worker; it is
    # given up only after allowed-failures such deaths
    assert dask.config.get("distributed.scheduler.allowed-failures") >= 1
    config = load_config(HEAVY, results_root=None)
    (chunk,) = make_chunks(config)
    assert len(chunk.batches) == 4

    # the undisturbed reference: in-process, no Dask
    reference_path = run_chunk(chunk, config, tmp_path / "reference.zarr", threads=1)

    with cluster_client({"cluster": "local"}, threads=2) as client:
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2
        result: dict = {}

        def target():
            try:
                result["path"] = run_chunk(chunk, config, tmp_path / "disturbed.zarr", client)
            except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
                result["error"] = error

        runner = threading.Thread(target=target)
        runner.start()
        # wait until both workers compute a batch, let them work a little, kill one of them
        deadline = time.monotonic() + 60
        while True:
            processing = client.processing()
            busy = [address for address, keys in processing.items() if keys]
            if len(busy) == 2:
                break
            assert time.monotonic() < deadline, f"workers never both busy: {processing}"
            time.sleep(0.02)
        time.sleep(0.2)
        processing = client.processing()
        victim_address = next(address for address, keys in processing.items() if keys)
        lost_keys = list(processing[victim_address])
        victim = client.run(os.getpid, workers=[victim_address])[victim_address]
        assert all(key.startswith("mfsim-batch-") for key in lost_keys)
        os.kill(victim, signal.SIGKILL)
        runner.join(timeout=180)
        assert not runner.is_alive(), "run_chunk did not finish after the worker loss"
        if "error" in result:
            raise result["error"]
        assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == "zombie"
        # the scheduler put the lost tasks back to work: each of them entered "processing"
        # again after the worker died (key, start, finish, ... in the transition log)
        log = client.run_on_scheduler(
            lambda dask_scheduler: [tuple(entry[:3]) for entry in dask_scheduler.transition_log]
        )
        for key in lost_keys:
            starts = [entry for entry in log if entry[0] == key and entry[2] == "processing"]
            assert len(starts) >= 2, (key, [entry for entry in log if entry[0] == key])
        # the nanny restarted the lost worker: a new process in its place
        new_pids = set(client.run(os.getpid).values())
        assert victim not in new_pids and len(new_pids) == 2

    assert is_complete(result["path"])
    disturbed = xr.open_zarr(result["path"]).load()
    reference = xr.open_zarr(reference_path).load()
    assert disturbed.sizes["run"] == chunk.n_runs == 16
    assert_same_data(reference, disturbed)
