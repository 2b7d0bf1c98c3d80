"""Every extra of pyproject.toml works as the README documents it, once installed.

The ``netcdf`` extra (also part of the ``test`` extra, so this runs in CI): ``mfsim run --out
x.nc`` writes a netCDF-4 file that reads back with the same values, d = 3e9 included (an int64
coordinate, which netCDF-3 cannot hold). h5netcdf alone installs without an HDF5 backend; the
extra lists h5py too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim.cli import main
from tests.helpers import assert_same_data

ROOT = Path(__file__).resolve().parents[1]
RUN = ["run", "--family", "flat", "--kappa", "5", "--d", "3000000000", "--r", "2"]
RUN += ["--steps", "50", "--seeds", "0-1", "--quiet"]


def test_netcdf_extra_lists_a_backend_for_h5netcdf():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {req.split(">=")[0] for req in project["optional-dependencies"]["netcdf"]}
    assert {"h5netcdf", "h5py"} <= names


def test_run_writes_and_reads_back_netcdf(tmp_path):
    assert main([*RUN, "--out", str(tmp_path / "big.nc")]) == 0
    # the same command into Zarr is the second route to the values
    assert main([*RUN, "--out", str(tmp_path / "big.zarr")]) == 0
    with xr.open_dataset(tmp_path / "big.nc", engine="h5netcdf") as nc:
        nc = nc.load()
    zarr = xr.open_zarr(tmp_path / "big.zarr").load()
    assert int(nc.d) == 3_000_000_000 and nc.d.dtype == np.int64
    assert list(nc.seed.values) == [0, 1]
    assert_same_data(zarr, nc[list(zarr.data_vars)])  # Zarr lists variables sorted
