"""Snakemake script of rule `fit_scaling` (mfsim.jobs.fit_job)."""

from pathlib import Path

from mfsim.jobs import fit_job

fit_job(
    snakemake.input.store,  # noqa: F821
    snakemake.output.fits,  # noqa: F821
    snakemake.log[0],  # noqa: F821
    table_dir=Path(snakemake.output.table_csv).parent,  # noqa: F821
)
