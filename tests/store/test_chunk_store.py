"""mfsim.store.chunk_store and mfsim.store.atomic: chunk stores, markers, atomic writes."""

from __future__ import annotations

import copy
import json

import pytest
import xarray as xr

from mfsim.config.validate import load_config
from mfsim.execute import run_chunk
from mfsim.plan.grid import make_chunks
from mfsim.store import MARKER, assemble, chunk_store_path, is_complete
from tests.helpers import STORE_TINY, run_all, store_tiny


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
    from mfsim.store import chunk_store

    config = store_tiny(target_seconds=1e-9)
    chunk = make_chunks(config)[0]
    out = chunk_store_path(tmp_path, chunk)

    def broken(ds, path, **kwargs):
        path.mkdir(parents=True)
        (path / "zarr.json").write_text("{}")  # a partial store
        raise KeyboardInterrupt

    monkeypatch.setattr(chunk_store, "to_zarr", broken)
    with pytest.raises(KeyboardInterrupt):
        run_chunk(chunk, config, out, threads=1)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def test_rerun_replaces_stale_temporaries(tmp_path):
    config = store_tiny(target_seconds=1e-9)
    chunk = make_chunks(config)[0]
    out = chunk_store_path(tmp_path, chunk)
    stale = out.with_name(out.name + ".tmp-deadbeef")
    stale.mkdir(parents=True)
    run_chunk(chunk, config, out, threads=1)
    assert is_complete(out) and not stale.exists()


def test_diverged_runs_are_data(tmp_path):
    config = copy.deepcopy(STORE_TINY)
    config["grid"].update({"d": [50], "r": [2], "varpi": [3.0], "eta": [0.5]})
    config = load_config(config, results_root=None)
    paths = run_all(config, tmp_path, threads=1)
    ds = xr.open_zarr(assemble(paths, config, tmp_path / "sweep.zarr"))
    assert (ds["status"].values == 2).all()  # diverged, and the sweep completed
