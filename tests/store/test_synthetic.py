"""Synthetic chunk stores: written by the real chunk-store writer; clones are the same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from mfsim.config import parse
from mfsim.plan.chunk_plan import make_plan
from mfsim.store.chunk_store import open_chunk_store
from mfsim.store.synthetic import template_batch, write_synthetic_chunk_stores
from tests.store.synthetic_configs import one_run_per_chunk


def files(store: Path) -> dict:
    return {
        p.relative_to(store).as_posix(): p.read_bytes() for p in store.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def config_and_template():
    config = parse(one_run_per_chunk(6, 3))
    return config, template_batch(config)


def test_clones_are_byte_identical_to_the_real_writer(config_and_template, tmp_path):
    config, template = config_and_template
    plan = make_plan(config)
    ids = [chunk.chunk_id for chunk in plan.chunks]
    # the first store is the model of the clones; seed 0 (an all-fill chunk zarr omits) is in it
    picked = ids[:1] + ids[4:7] + ids[-1:]
    real = write_synthetic_chunk_stores(
        config, tmp_path / "real", template=template, chunk_ids=picked
    )
    cloned = write_synthetic_chunk_stores(
        config, tmp_path / "clone", template=template, chunk_ids=picked, clone=True, workers=2
    )
    for a, b in zip(real, cloned, strict=True):
        assert files(a) == files(b), a.name
    # and they are complete chunk stores of their own grid points
    store = open_chunk_store(cloned[2], plan.identity_hash)
    batch = plan.by_id[picked[2]].batches[0]
    assert int(store["d"].values[0]) == batch.point.d
    assert store["seed"].values.tolist() == list(batch.seeds)


def test_synthetic_values_differ_between_runs(config_and_template, tmp_path):
    config, template = config_and_template
    ids = [chunk.chunk_id for chunk in make_plan(config).chunks][:2]
    paths = write_synthetic_chunk_stores(config, tmp_path, template=template, chunk_ids=ids)
    a, b = (xr.open_zarr(p)["error"].values for p in paths)
    assert a.shape == b.shape and (a != b).all()


def test_workers_must_be_positive(config_and_template, tmp_path):
    config, template = config_and_template
    with pytest.raises(ValueError, match="workers = 0"):
        write_synthetic_chunk_stores(config, tmp_path, template=template, workers=0)
