"""mfsim.store.layout.to_zarr: the in-memory path writes Zarr's own files, byte for byte."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

from mfsim.store import layout
from mfsim.store.layout import ZARR_FORMAT, plain_encoding, to_zarr


def _files(path) -> dict[str, bytes]:
    out = {}
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            out[os.path.relpath(full, path)] = open(full, "rb").read()
    return out


def _dataset() -> xr.Dataset:
    rng = np.random.default_rng(3)
    data = {
        f"v{i}": (("d", "seed"), rng.standard_normal((4, 5)), {"units": "steps"}) for i in range(30)
    }
    data["flag"] = (("d",), np.array([True, False, True, True]))
    data["count"] = (("d", "seed"), rng.integers(-1, 9, size=(4, 5)))
    data["missing"] = (("d",), np.array([1.0, np.nan, 3.0, np.nan]))
    data["label"] = (("d",), np.array(["log", "power", "none", "const"]))
    coords = {"d": np.array([100, 10**6, 10**9, 10**12], dtype=np.int64), "seed": np.arange(5)}
    return xr.Dataset(data, coords=coords, attrs={"title": "t", "n": 3})


def test_in_memory_path_writes_the_files_zarr_writes(tmp_path):
    ds = _dataset()
    encoding = plain_encoding(ds)
    to_zarr(ds, tmp_path / "memory.zarr", encoding=encoding)
    ds.to_zarr(
        tmp_path / "direct.zarr",
        mode="w-",
        zarr_format=ZARR_FORMAT,
        consolidated=True,
        encoding=encoding,
    )
    memory, direct = _files(tmp_path / "memory.zarr"), _files(tmp_path / "direct.zarr")
    assert len(memory) > 60
    assert memory == direct
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "memory.zarr", chunks=None).load(), ds)


def test_modes(tmp_path, monkeypatch):
    ds = _dataset()
    path = tmp_path / "s.zarr"
    to_zarr(ds, path)
    with pytest.raises(FileExistsError, match="s.zarr"):
        to_zarr(ds, path)
    # mode "w" replaces the store whole: no variable of the old one is left
    to_zarr(ds[["v0"]], path, mode="w")
    assert set(xr.open_zarr(path).data_vars) == {"v0"}
    # above the size limit Zarr writes directly: the same store
    monkeypatch.setattr(layout, "IN_MEMORY_WRITE_BYTES", 0)
    to_zarr(ds, tmp_path / "big.zarr")
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "big.zarr", chunks=None).load(), ds)


def test_assemble_small_store_in_one_go_writes_the_d_slice_files(tmp_path, monkeypatch):
    """The small-store path of assemble writes the files of the d-slice path (the creation
    time aside)."""
    import importlib
    import json

    from tests.helpers import run_all, store_tiny

    assemble_module = importlib.import_module("mfsim.store.assemble")
    config = store_tiny()
    paths = run_all(config, tmp_path)
    assemble_module.assemble(paths, config, tmp_path / "whole.zarr")
    monkeypatch.setattr(assemble_module, "IN_MEMORY_WRITE_BYTES", 0)
    assemble_module.assemble(paths, config, tmp_path / "sliced.zarr")
    whole, sliced = _files(tmp_path / "whole.zarr"), _files(tmp_path / "sliced.zarr")
    assert whole.keys() == sliced.keys()

    def without_created(data: bytes):
        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k != "created"}
            return value

        return strip(json.loads(data))

    for key in whole:
        if key in (".zattrs", ".zmetadata"):
            assert without_created(whole[key]) == without_created(sliced[key])
        else:
            assert whole[key] == sliced[key], key
