"""Snakemake script of rule `report` (mfsim.jobs.report_job)."""

from mfsim.jobs import report_job

report_job(
    snakemake.input.store,  # noqa: F821
    snakemake.input.fits,  # noqa: F821
    snakemake.input.audit,  # noqa: F821
    snakemake.output.figures,  # noqa: F821
    snakemake.output.report,  # noqa: F821
    snakemake.log[0],  # noqa: F821
    int(snakemake.threads),  # noqa: F821
    figures=dict(snakemake.params.figures),  # noqa: F821
)
