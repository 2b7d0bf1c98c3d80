"""Snakemake script of rule `audit` (mfsim.jobs.audit_job)."""

from mfsim.jobs import audit_job

audit_job(snakemake.input.store, snakemake.output.audit, snakemake.log[0])  # noqa: F821
