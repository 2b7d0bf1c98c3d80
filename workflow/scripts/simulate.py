"""Snakemake script of rule `simulate` (mfsim.jobs.simulate_job)."""

from mfsim.jobs import simulate_job

if __name__ == "__main__":  # Dask's spawned worker processes re-import this module
    simulate_job(
        snakemake.params.plan,  # noqa: F821
        snakemake.output.store,  # noqa: F821
        int(snakemake.threads),  # noqa: F821
        snakemake.log[0],  # noqa: F821
        mem_mb=snakemake.resources.mem_mb,  # noqa: F821
    )
