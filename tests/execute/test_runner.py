"""mfsim.execute.runner: progress lines, worker counts."""

from __future__ import annotations

import io

import xarray as xr

from mfsim.execute import cluster_client, run_chunk
from mfsim.plan.grid import make_chunks
from mfsim.store import assemble
from tests.helpers import run_all, store_tiny


def test_progress_lines(tmp_path):
    config = store_tiny(target_seconds=1e9)
    chunk = make_chunks(config)[0]
    assert len(chunk.batches) > 1
    log = io.StringIO()
    run_chunk(chunk, config, tmp_path / "c.zarr", log=log, threads=1)
    lines = [line for line in log.getvalue().splitlines() if "batch" in line and "runs/s" in line]
    assert len(lines) == len(chunk.batches)
    assert f"runs {chunk.n_runs}/{chunk.n_runs} (100%)" in lines[-1]
    assert "ETA" in lines[0]


def test_same_result_with_one_or_two_workers(many_chunks, tmp_path, local_client, assert_same_data):
    _, _, _, store_ref = many_chunks
    config = store_tiny(target_seconds=1e9)  # one chunk per (d, r)
    reference = xr.open_zarr(store_ref).load()
    with cluster_client({"cluster": "local"}, threads=1) as one:
        paths = run_all(config, tmp_path / "one", client=one)
        one_worker = xr.open_zarr(assemble(paths, config, tmp_path / "one.zarr")).load()
    paths = run_all(config, tmp_path / "two", client=local_client)
    two_workers = xr.open_zarr(assemble(paths, config, tmp_path / "two.zarr")).load()
    assert_same_data(reference, one_worker)
    assert_same_data(reference, two_workers)
