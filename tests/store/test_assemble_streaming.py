"""Streaming assembly (region writes of storage-chunk-aligned blocks) gives the same store,
file for file, as the in-memory route; blocks tile the grid along storage-chunk boundaries."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mfsim.datamodel import AXES
from mfsim.store import assemble
from mfsim.store.layout import sweep_storage_chunks

# the module (mfsim.store.assemble is also the name of the function mfsim.store exports)
assemble_module = importlib.import_module("mfsim.store.assemble")

# metadata that differs between two assemblies by design (creation time), or by route
# (.zmetadata/.zattrs hold the same JSON; the completion marker the same info)
VARYING = {".zattrs", ".zmetadata", ".mfsim-complete"}


def data_files(store: Path) -> dict:
    """Relative path -> bytes of every storage chunk and array metadata file of a store."""
    return {
        str(path.relative_to(store)): path.read_bytes()
        for path in sorted(store.rglob("*"))
        if path.is_file() and path.name not in VARYING
    }


@pytest.mark.parametrize("block_bytes", [1, 10**12])
def test_streaming_writes_the_same_files_as_the_in_memory_route(
    many_chunks, tmp_path, monkeypatch, assert_same_data, block_bytes
):
    config, _, paths, in_memory = many_chunks
    monkeypatch.setattr(assemble_module, "IN_MEMORY_WRITE_BYTES", 0)
    streamed = assemble(paths, config, tmp_path / "sweep.zarr", block_bytes=block_bytes)
    assert_same_data(xr.open_zarr(in_memory).load(), xr.open_zarr(streamed).load())
    expected, got = data_files(Path(in_memory)), data_files(streamed)
    assert sorted(got) == sorted(expected)
    assert all(got[name] == expected[name] for name in expected)


def test_streaming_keeps_fill_values_and_batch_scalars_of_missing_runs(
    many_chunks, tmp_path, monkeypatch, assert_same_data
):
    config, _, paths, _ = many_chunks
    whole = assemble(paths[1:], config, tmp_path / "whole.zarr", allow_missing=True)
    monkeypatch.setattr(assemble_module, "IN_MEMORY_WRITE_BYTES", 0)
    streamed = assemble(paths[1:], config, tmp_path / "s.zarr", allow_missing=True, block_bytes=1)
    a, b = xr.open_zarr(whole).load(), xr.open_zarr(streamed).load()
    assert (b["status"].values == -1).sum() > 0
    assert_same_data(a, b)


def spec(dims, sizes, dtype=np.float64):
    shape = tuple(sizes[dim] for dim in dims)
    return (dims, shape, np.dtype(dtype), np.nan, {})


@pytest.mark.parametrize("budget", [1, 3 * 2**20, 40 * 2**20, math.inf])
def test_blocks_tile_the_grid_along_storage_chunk_boundaries(budget):
    sizes = dict(zip(AXES, (3, 4, 5, 2, 7, 3, 64), strict=True))
    sizes.update({"k": 3, "step": 400})
    grid = tuple(sizes[axis] for axis in AXES)
    specs = {
        "error": spec(AXES + ("step",), sizes),
        "signal": spec(AXES + ("k", "step"), sizes),
        "status": spec(AXES, sizes, np.int8),
        "t_star": spec(("d", "kappa", "eta", "r"), sizes),
    }
    blocks = assemble_module._Blocks(specs, grid, budget)
    covered = np.zeros(grid, dtype=np.int64)
    for number in range(blocks.count):
        region = blocks.region(number)
        covered[tuple(region[axis] for axis in AXES)] += 1
        for name, (dims, shape, _, _, _) in specs.items():
            if name == "t_star":
                continue
            chunks = sweep_storage_chunks(dims, dict(zip(dims, shape, strict=True)), 8)
            for dim, size in zip(dims, chunks, strict=True):
                if dim in region:  # every block edge is a storage-chunk edge (or the end)
                    edge = region[dim]
                    assert edge.start % size == 0
                    assert edge.stop % size == 0 or edge.stop == sizes[dim]
    assert (covered == 1).all()
    if budget == math.inf:
        assert blocks.count == 1
    # a block's data stays within the budget unless one storage-chunk unit is larger
    cell = sum(
        dtype.itemsize * math.prod(shape[len(AXES) :])
        for name, (_, shape, dtype, _, _) in specs.items()
        if name != "t_star"
    )
    largest = max(
        math.prod(r.stop - r.start for r in blocks.region(n).values()) * cell
        for n in range(blocks.count)
    )
    unit = assemble_module._Blocks(specs, grid, 1)
    smallest_unit = math.prod(unit.block) * cell
    assert largest <= max(budget, smallest_unit)
