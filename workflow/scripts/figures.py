"""Snakemake script of rule `figures` (mfsim.jobs.figures_job)."""

from mfsim.jobs import figures_job

figures_job(
    snakemake.input.store,  # noqa: F821
    snakemake.input.fits,  # noqa: F821
    snakemake.output.figures,  # noqa: F821
    snakemake.log[0],  # noqa: F821
    int(snakemake.threads),  # noqa: F821
)
