# Helpers of the workflow: config validation, chunk list, paths, resources.
# Everything is computed by the mfsim library (mfsim.config, mfsim.grid): pure functions of the
# config, so every Snakemake invocation sees the same chunks and chunk ids.
import re

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from mfsim.config.validate import ConfigError, load_config
from mfsim.plan.grid import estimate_resources, make_chunks

try:
    # schema with defaults, semantic checks (d > r, kappa, ...), run-count/size/disk limits
    config.update(load_config(config, results_root="results"))
except ConfigError as error:
    raise WorkflowError(f"invalid config: {error}") from None
validate(config, "../schemas/config.schema.yaml")

SWEEP = config["sweep"]
CHUNKS = {chunk.chunk_id: chunk for chunk in make_chunks(config)}


wildcard_constraints:
    sweep=re.escape(SWEEP),
    chunk="[0-9a-f]{16}",


def sweep_dir():
    """results/<sweep>, relative to the working directory."""
    return f"results/{SWEEP}"


def sweep_store():
    """The assembled store of the sweep."""
    return f"{sweep_dir()}/sweep.zarr"


def chunk_stores(wildcards):
    """Every chunk store of the sweep, in canonical chunk order."""
    return [f"results/{wildcards.sweep}/chunks/{chunk_id}.zarr" for chunk_id in CHUNKS]


def simulate_threads(wildcards):
    """Cores of one simulate job (Snakemake scales this down to --cores).

    One core per job on a local machine: chunks run in parallel as separate jobs and each job
    runs its batches in-process. With dask.cluster address/slurm the job only drives a remote
    cluster. Override with --set-threads simulate=N (N > 1 starts a LocalCluster of N workers).
    """
    return 1


def simulate_mem_mb(wildcards, threads):
    """Memory of a chunk job: the chunk's estimate (mfsim.plan.grid.estimate_resources) per worker.

    With threads > 1 the job runs a LocalCluster of `threads` worker processes, and Dask gives
    each worker mem_mb / threads (SLURM sets RLIMIT_RSS to --mem, which Dask reads).
    """
    return estimate_resources(CHUNKS[wildcards.chunk], config)["mem_mb"] * max(1, int(threads))


def simulate_runtime(wildcards):
    """Runtime estimate of a chunk job in minutes (mfsim.plan.grid.estimate_resources)."""
    return estimate_resources(CHUNKS[wildcards.chunk], config)["runtime"]


def all_targets():
    """Final outputs of the workflow: the sweep store and the analysis outputs."""
    return [
        sweep_store(),
        f"{sweep_dir()}/scaling.zarr",
        f"{sweep_dir()}/audit.zarr",
        f"{sweep_dir()}/report.html",
    ]
