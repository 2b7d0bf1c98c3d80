"""Helpers shared by the tests (tiny sweeps, snakemake runs, bit-identity); fixtures that wrap
them live in ``tests/conftest.py``."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from mfsim.config.validate import load_config
from mfsim.datamodel import NONDETERMINISTIC_VARIABLES
from mfsim.execute import run_chunk
from mfsim.plan.grid import make_chunks
from mfsim.store import assemble, chunk_store_path

__all__ = [
    "STORE_TINY",
    "store_tiny",
    "run_all",
    "ROOT",
    "SNAKEFILE",
    "TINY",
    "assert_same_data",
    "in_process_sweep",
    "run_snakemake",
    "snakemake_cmd",
    "tiny",
    "write_config",
]

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"

#: A small sweep: 2 values of d, one (r, kappa, varpi, eta), 3 seeds; a fraction of a second.
TINY = {
    "sweep": "tiny",
    "spectrum": {"family": "linear"},
    "grid": {
        "d": [50, 200],
        "r": [2],
        "kappa": [5.0],
        "varpi": [0.5],
        "eta": [0.1],
        "seeds": {"start": 0, "count": 3},
    },
    "run": {"steps": 200},
}


#: A small sweep exercising the store layout: two ranks (k padding), two varpi exponents, two
#: seed blocks per grid point ([0, 1] and [2]).
STORE_TINY = {
    "sweep": "tiny",
    "spectrum": {"family": "linear", "lambda_1": 1.0},
    "grid": {
        "d": [50, 200],
        "r": [1, 2],
        "kappa": [5.0],
        "varpi": {"scale": [0.5], "exponent": [0.0, 0.5]},
        "eta": [0.1],
        "seeds": {"start": 0, "count": 3},
    },
    "run": {"steps": 200, "heatmap_steps": [0, 50]},
    "chunking": {"seeds_per_batch": 2},
}


def store_tiny(**chunking) -> dict:
    """:data:`STORE_TINY` validated, with ``chunking`` settings updated."""
    config = copy.deepcopy(STORE_TINY)
    config["chunking"].update(chunking)
    return load_config(config, results_root=None)


def run_all(config, out, client=None, threads=1) -> list:
    """Run every chunk of `config` into ``<out>/chunks/``; return the chunk store paths."""
    paths = []
    for chunk in make_chunks(config):
        path = chunk_store_path(out, chunk)
        run_chunk(chunk, config, path, client=client, threads=threads)
        paths.append(path)
    return paths


def assert_same_data(a: xr.Dataset, b: xr.Dataset) -> None:
    """Bit-identical data variables and coordinates (NaN == NaN), timings excepted."""
    assert list(a.data_vars) == list(b.data_vars)
    for name in a.variables:
        if name in NONDETERMINISTIC_VARIABLES:
            continue
        va, vb = a[name], b[name]
        assert va.dims == vb.dims, name
        assert va.dtype == vb.dtype, name
        x, y = va.values, vb.values
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
            # bit for bit, including the sign of zeros
            assert x.tobytes() == y.tobytes(), name
        else:
            assert np.array_equal(x, y), name


def tiny(**sections) -> dict:
    """A deep copy of :data:`TINY` with whole sections replaced or updated (dicts merge)."""
    config = copy.deepcopy(TINY)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **copy.deepcopy(value)}
        else:
            config[key] = copy.deepcopy(value)
    return config


def write_config(directory: Path, config: dict, name: str = "sweep.yaml") -> Path:
    path = Path(directory) / name
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake_cmd(workdir: Path, configfile: Path, cores: int = 2, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake",
        "-s", str(SNAKEFILE),
        "--directory", str(workdir),
        "--configfile", str(configfile),
        "--cores", str(cores),
        *extra,
    ]  # fmt: skip


def run_snakemake(workdir: Path, configfile: Path, *extra: str, cores: int = 2, timeout=300):
    return subprocess.run(
        snakemake_cmd(workdir, configfile, cores, *extra),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def in_process_sweep(config: dict, directory: Path) -> xr.Dataset:
    """The sweep computed in this process: every chunk by run_chunk (no Dask), then assemble."""
    config = load_config(config, results_root=None)
    paths = []
    for chunk in make_chunks(config):
        paths.append(chunk_store_path(directory, chunk))
        run_chunk(chunk, config, paths[-1], threads=1)
    return xr.open_zarr(assemble(paths, config, Path(directory) / "sweep.zarr")).load()
