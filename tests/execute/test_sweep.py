"""mfsim.execute.loop: the sweep loop without Snakemake (mfsim.sweep)."""

from __future__ import annotations

import pytest
import xarray as xr

from mfsim.execute import sweep
from mfsim.plan.grid import make_chunks
from mfsim.store import MARKER, chunk_store_path
from tests.helpers import STORE_TINY, store_tiny


def test_sweep_equals_the_workflow_steps(many_chunks, tmp_path, local_client, assert_same_data):
    _, _, _, store_ref = many_chunks
    config = store_tiny(target_seconds=1e9)
    in_memory = sweep(
        STORE_TINY | {"chunking": {"seeds_per_batch": 2, "target_seconds": 1e9}},
        client=local_client,
    )
    assert_same_data(xr.open_zarr(store_ref).load(), in_memory)
    # with an output directory: the stores stay, and a second call reuses the chunk stores
    on_disk = sweep(config, client=local_client, out=tmp_path)
    assert_same_data(in_memory, on_disk.load())
    marker = chunk_store_path(tmp_path, make_chunks(config)[0]) / MARKER
    mtime = marker.stat().st_mtime_ns
    sweep(config, client=local_client, out=tmp_path)
    assert marker.stat().st_mtime_ns == mtime


def test_second_call_without_client_when_complete_starts_nothing(
    tmp_path, local_client, monkeypatch, assert_same_data
):
    """Issue 15 item 6: every chunk complete and no client: assemble only (no cluster, no
    ``scheduler_info()`` on None)."""
    from mfsim.execute import loop as sweep_module

    config = store_tiny(target_seconds=1e9)
    first = sweep(config, client=local_client, out=tmp_path).load()

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started although every chunk is complete")

    monkeypatch.setattr(sweep_module, "cluster_client", no_cluster)
    second = sweep(config, out=tmp_path).load()
    assert_same_data(first, second)


def test_default_cluster_has_one_worker_per_available_cpu(tmp_path, monkeypatch):
    """Issue 15 item 5: the default cluster is sized by the CPUs the process may use (affinity,
    cgroups), not by os.cpu_count()."""
    from mfsim.execute import loop as sweep_module

    sized = []

    class Stop(Exception):
        pass

    def recording_cluster(dask_config, threads):
        sized.append(threads)
        raise Stop

    monkeypatch.setattr(sweep_module, "available_cpus", lambda: 3)
    monkeypatch.setattr(sweep_module, "cluster_client", recording_cluster)
    with pytest.raises(Stop):
        sweep(store_tiny(), out=tmp_path)
    assert sized == [3]
