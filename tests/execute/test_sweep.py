"""mfsim.execute.sweep: the sweep loop without Snakemake."""

from __future__ import annotations

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
