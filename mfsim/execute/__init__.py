"""Execution: Dask clusters, the batch runner, progress, the sweep loop.

:func:`~mfsim.execute.runner.run_chunk` runs the batches of one chunk (one Snakemake job) and
writes its chunk store; :func:`~mfsim.execute.loop.sweep` runs a whole sweep without Snakemake.
"""

from mfsim.execute.clusters import cluster_client
from mfsim.execute.loop import sweep, sweep_to
from mfsim.execute.runner import run_chunk, run_chunk_plan

__all__ = ["cluster_client", "run_chunk", "run_chunk_plan", "sweep", "sweep_to"]
