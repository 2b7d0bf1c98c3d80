"""Assembly by several writers (threads, a Dask client) gives the serial store file for file,
and its memory does not grow with the number of chunk stores."""

from __future__ import annotations

import importlib
import tracemalloc

import pytest

from mfsim.config import parse
from mfsim.store import assemble
from mfsim.store.synthetic import template_batch, write_synthetic_chunk_stores
from tests.store.synthetic_configs import one_run_per_chunk
from tests.store.test_assemble_streaming import data_files

assemble_module = importlib.import_module("mfsim.store.assemble")


@pytest.fixture(scope="module")
def synthetic_stores(tmp_path_factory):
    config = parse(one_run_per_chunk(8, 3))
    out = tmp_path_factory.mktemp("synthetic")
    return config, write_synthetic_chunk_stores(config, out, clone=True)


@pytest.fixture
def streaming(monkeypatch):
    monkeypatch.setattr(assemble_module, "IN_MEMORY_WRITE_BYTES", 0)


def test_threads_write_the_serial_store(synthetic_stores, tmp_path, streaming):
    config, paths = synthetic_stores
    serial = assemble(paths, config, tmp_path / "serial.zarr", block_bytes=1)
    threaded = assemble(paths, config, tmp_path / "threads.zarr", block_bytes=1, workers=3)
    expected = data_files(serial)
    assert len(expected) > 8 * 20  # every d a block of its own: 8 blocks of every variable
    assert data_files(threaded) == expected


def test_a_dask_client_writes_the_serial_store(synthetic_stores, local_client, tmp_path, streaming):
    config, paths = synthetic_stores
    serial = assemble(paths, config, tmp_path / "serial.zarr", block_bytes=1)
    dask = assemble(paths, config, tmp_path / "dask.zarr", block_bytes=1, client=local_client)
    assert data_files(dask) == data_files(serial)


@pytest.mark.parametrize("workers", [0, 1.5, True])
def test_workers_must_be_a_positive_integer(synthetic_stores, tmp_path, workers):
    config, paths = synthetic_stores
    with pytest.raises(ValueError, match=f"workers = {workers!r}"):
        assemble(paths, config, tmp_path / "s.zarr", workers=workers)
    assert not (tmp_path / "s.zarr").exists()


def peak_bytes(paths, config, out) -> int:
    """Peak of the Python and NumPy allocations (tracemalloc) of a streaming assembly."""
    tracemalloc.start()
    try:
        assemble(paths, config, out, block_bytes=1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_chunk_stores(tmp_path, streaming):
    # large runs (every one of 5,000 steps recorded, about 0.5 MB each) so that holding the
    # runs (memory O(runs)) would dwarf what grows legitimately with the chunk count (paths)
    few_config, many_config = (
        parse(one_run_per_chunk(n_d, 1, steps=5000, policy="all")) for n_d in (8, 64)
    )
    template = template_batch(few_config)
    few = write_synthetic_chunk_stores(few_config, tmp_path / "few", template=template, clone=True)
    many = write_synthetic_chunk_stores(
        many_config, tmp_path / "many", template=template, clone=True
    )
    assert (len(few), len(many)) == (8, 64)
    run_bytes = sum(var.nbytes for var in template.data_vars.values() if "seed" in var.dims)
    assert run_bytes > 400_000
    peak_few = peak_bytes(few, few_config, tmp_path / "few.zarr")
    peak_many = peak_bytes(many, many_config, tmp_path / "many.zarr")
    # O(runs) would add 56 runs' worth (> 22 MB); allow a seventh of it (a block is one run)
    assert peak_many - peak_few < 0.15 * (len(many) - len(few)) * run_bytes
    assert peak_many < 0.25 * len(many) * run_bytes
