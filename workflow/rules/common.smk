# Helpers of the workflow: the config parsed once, the chunk list, paths, resources.
# Everything is computed by the mfsim library from one parsed config (mfsim.config.parse) and
# its plan (mfsim.plan.chunk_plan.make_plan): every Snakemake invocation sees the same chunks.
# Each chunk's plan is written to results/<sweep>/plan/<chunk_id>.json when the workflow starts
# (onstart in the Snakefile: never in a dry run; rewritten only when its content changes): the
# simulate job reads only its own file.
import functools
import os
import re
import sys

from mfsim.arguments import check_environment
from mfsim.config.errors import ConfigError
from mfsim.config.model import parse as parse_config
from mfsim.execute.resources import check_disk_space
from mfsim.execute.failures import closing_line, run_started
from mfsim.plan.budget import apply_job_budget, format_budget
from mfsim.plan.chunk_plan import chunk_plan_path, make_plan, write_chunk_plans
from mfsim.plan.grid import CHUNK_ID_LENGTH, estimate_resources, estimate_sweep, format_estimate
from mfsim.plan.guidance import format_warnings, plan_warnings

try:
    # numba's environment variables, before any job imports numba
    check_environment(error=ConfigError)
except ConfigError as error:
    sys.stderr.write(f"mfsim: {error}\n")
    sys.exit(1)
try:
    # schema with defaults, semantic checks (d > r, kappa, ...), run-count/size/disk limits;
    # the profile's job budget (the Snakefile's JOB_BUDGET) fills unset chunking keys
    SWEEP_CONFIG = parse_config(apply_job_budget(config, JOB_BUDGET), results_root="results")
    # chunks within the job budget (chunking.max_jobs): identical in every invocation, remote
    # jobs included (they get the same --config)
    PLAN = make_plan(SWEEP_CONFIG)
except (ConfigError, ValueError) as error:
    # the message names the key and what is allowed: print it once, without a traceback
    sys.stderr.write(f"mfsim: invalid config: {error}\n")
    sys.exit(1)
config.update(SWEEP_CONFIG.as_dict())

SWEEP = SWEEP_CONFIG.sweep
# job logs written from now on are this run's (read by onerror: stopped_line)
RUN_STARTED = run_started()
CHUNKS = PLAN.by_id

try:
    # every file the sweep still has to write (stores, analysis, figures), in file-system blocks
    check_disk_space(PLAN, f"results/{SWEEP}", analysis=True)
except ConfigError as error:
    sys.stderr.write(f"mfsim: {error}\n")
    sys.exit(1)


def _estimate_cores():
    """--cores of this invocation (2 when not given, e.g. a dry run without --cores)."""
    try:
        return max(1, int(workflow.cores))
    except Exception:
        return 2


# The cost model's estimate, once per invocation (dry runs too; not in the jobs of a cluster
# executor, which re-read this file): `mfsim plan <config>` prints the same line.
if workflow.is_main_process:
    _cores = _estimate_cores()
    _estimate = estimate_sweep(SWEEP_CONFIG, _cores, list(PLAN.chunks))
    sys.stderr.write(f"mfsim: sweep {SWEEP}: {format_estimate(_estimate, _cores)}\n")
    _budget = format_budget(list(PLAN.chunks), SWEEP_CONFIG.chunking, PLAN.target_seconds, None)
    sys.stderr.write(f"mfsim: {_budget}\n")
    # what the small-signal theory predicts per group: too few steps, t_k^* bound-dominated at
    # every d, divergence (mfsim.plan.guidance; `mfsim plan` prints the same lines)
    for _line in format_warnings(plan_warnings(SWEEP_CONFIG), prefix="mfsim: warning: "):
        sys.stderr.write(f"{_line}\n")


wildcard_constraints:
    sweep=re.escape(SWEEP),
    chunk=f"[0-9a-f]{{{CHUNK_ID_LENGTH}}}",


def sweep_dir():
    """results/<sweep>, relative to the working directory."""
    return f"results/{SWEEP}"


def sweep_store():
    """The assembled store of the sweep."""
    return f"{sweep_dir()}/sweep.zarr"


def chunk_stores(wildcards):
    """Every chunk store of the sweep, in canonical chunk order."""
    return [f"results/{wildcards.sweep}/chunks/{chunk_id}.zarr" for chunk_id in CHUNKS]


def chunk_plan(wildcards):
    """The plan file of one chunk (written above, once per invocation if changed)."""
    return str(chunk_plan_path(f"results/{wildcards.sweep}", wildcards.chunk))


def write_plans():
    """Write the plan file of every chunk (the Snakefile's onstart: not in a dry run)."""
    write_chunk_plans(PLAN, sweep_dir())


def stopped_line():
    """The closing line after a failure (the Snakefile's onerror).

    The same command resumes after an interruption or a lost job; a deterministic failure is
    named with its cause and fix (mfsim.execute.failures.closing_line).
    """
    return closing_line(sweep_dir(), RUN_STARTED)


def report_outputs():
    """One line naming the outputs of this sweep that exist (the Snakefile's onsuccess)."""
    outputs = [
        path
        for path in (f"{sweep_dir()}/report.html", sweep_store())
        if os.path.exists(path)
    ]
    if outputs:
        sys.stderr.write(f"mfsim: sweep {SWEEP} done: {', '.join(outputs)}\n")


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
    return _chunk_resources(wildcards.chunk)["mem_mb"] * max(1, int(threads))


def simulate_runtime(wildcards):
    """Runtime estimate of a chunk job in minutes (mfsim.plan.grid.estimate_resources)."""
    return _chunk_resources(wildcards.chunk)["runtime"]


@functools.lru_cache(maxsize=None)
def _chunk_resources(chunk_id):
    """estimate_resources of a chunk, once per invocation (Snakemake asks for each resource)."""
    return estimate_resources(CHUNKS[chunk_id], SWEEP_CONFIG)


def all_targets():
    """Final outputs of the workflow: the sweep store and the analysis outputs."""
    return [
        sweep_store(),
        f"{sweep_dir()}/scaling.zarr",
        f"{sweep_dir()}/audit.zarr",
        f"{sweep_dir()}/report.html",
    ]
