"""Helpers shared by the workflow and reliability tests (tiny sweeps, snakemake runs)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import xarray as xr
import yaml

from mfsim.config.validate import load_config
from mfsim.pipeline import assemble, chunk_store_path, run_chunk
from mfsim.plan.grid import make_chunks
from tests.test_pipeline import assert_same_data

__all__ = [
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
