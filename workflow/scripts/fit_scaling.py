"""Snakemake script of rule `fit_scaling` (mfsim.jobs.fit_job)."""

from mfsim.jobs import fit_job

fit_job(snakemake.input.store, snakemake.output.fits, snakemake.log[0])  # noqa: F821
