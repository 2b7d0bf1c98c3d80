"""The work of each Snakemake rule, so that ``workflow/scripts/*.py`` only call the library.

Every job logs to its rule's ``log:`` file and re-raises after logging a failure.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import xarray as xr

__all__ = [
    "job_log",
    "simulate_job",
    "assemble_job",
    "fit_job",
    "audit_job",
    "figures_job",
    "report_job",
]


@contextlib.contextmanager
def job_log(path, name: str):
    """Log to ``path`` for the duration of a job; log the traceback of any failure."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    log = logging.getLogger(name)
    started = time.perf_counter()
    try:
        yield log
    except Exception:
        log.exception("%s failed", name)
        raise
    finally:
        log.info("%s took %.2f s", name, time.perf_counter() - started)
        root.removeHandler(handler)
        handler.close()


def simulate_job(chunk_id: str, config: dict, out, threads: int, log_path) -> None:
    """Rule ``simulate``: run one chunk and write its store atomically.

    With the local cluster and one thread the batches run in this process (a LocalCluster of one
    worker would only add its start-up); otherwise on the configured Dask cluster (a LocalCluster
    of ``threads`` workers, an existing scheduler, or SLURM workers).
    """
    from mfsim.pipeline import cluster_client, run_chunk

    with job_log(log_path, "mfsim.simulate") as log:
        if config["dask"]["cluster"] == "local" and threads <= 1:
            log.info("chunk %s: in-process, 1 thread", chunk_id)
            run_chunk(chunk_id, config, out, client=None, log=log, threads=1)
        else:
            with cluster_client(config["dask"], threads) as client:
                log.info("chunk %s: Dask client %s", chunk_id, client)
                run_chunk(chunk_id, config, out, client=client, log=log)


def assemble_job(chunk_stores, config: dict, out, log_path) -> None:
    """Rule ``assemble``: combine the chunk stores into ``sweep.zarr`` (refuses incomplete ones)."""
    from mfsim.pipeline import assemble

    with job_log(log_path, "mfsim.assemble") as log:
        assemble(list(chunk_stores), config, out)
        log.info("assembled %d chunk stores into %s", len(chunk_stores), out)


def _write_zarr(ds: xr.Dataset, out) -> None:
    """Zarr like the sweep store: holds int64 and float64 coordinates (d = 10^12), which
    scipy's netCDF-3 writer cannot."""
    from mfsim.pipeline import ZARR_FORMAT

    ds.to_zarr(out, mode="w", zarr_format=ZARR_FORMAT, consolidated=True)


def fit_job(store, out, log_path) -> None:
    """Rule ``fit_scaling``: fits of every stage quantity against d -> Zarr."""
    from mfsim.analysis.scaling import fit_all

    with job_log(log_path, "mfsim.fit_scaling") as log:
        ds = xr.open_zarr(store).load()
        fits = fit_all(ds)
        _write_zarr(fits, out)
        log.info("wrote %s (%d variables)", out, len(fits.data_vars))


def audit_job(store, out, log_path) -> None:
    """Rule ``audit``: Theorem 6 bounds checked on every run -> Zarr."""
    from mfsim.analysis.audit import audit_table, audit_theorem6

    with job_log(log_path, "mfsim.audit") as log:
        audit = audit_theorem6(xr.open_zarr(store))
        _write_zarr(audit, out)
        log.info("Theorem 6 audit:\n%s", audit_table(audit).to_string(index=False))


def figures_job(store, fits, out_dir, log_path) -> None:
    """Rule ``figures``: PNG and PDF figures of the sweep."""
    from mfsim.output.plots import plot_sweep

    with job_log(log_path, "mfsim.figures") as log:
        files = plot_sweep(xr.open_zarr(store).load(), xr.open_dataset(fits), out_dir)
        log.info("wrote %d figure files to %s", len(files), out_dir)


def report_job(store, fits, audit, figures_dir, out, log_path) -> None:
    """Rule ``report``: the self-contained HTML report (verdict table first)."""
    from mfsim.output.report import write_report

    with job_log(log_path, "mfsim.report") as log:
        figures = sorted(Path(figures_dir).glob("*.png"))
        write_report(
            xr.open_zarr(store), xr.open_dataset(fits), figures, out, audit=xr.open_dataset(audit)
        )
        log.info("wrote %s with %d figures", out, len(figures))
