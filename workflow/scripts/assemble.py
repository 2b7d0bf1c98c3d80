"""Snakemake script of rule `assemble` (mfsim.jobs.assemble_job)."""

from mfsim.jobs import assemble_job

assemble_job(
    snakemake.input.chunks,  # noqa: F821
    snakemake.config,  # noqa: F821
    snakemake.output.store,  # noqa: F821
    snakemake.log[0],  # noqa: F821
)
