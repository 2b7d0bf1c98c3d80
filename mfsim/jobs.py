"""The work of each Snakemake rule, so that ``workflow/scripts/*.py`` only call the library.

Every job logs to its rule's ``log:`` file and re-raises after logging a failure.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
import time
from pathlib import Path

import xarray as xr

from mfsim.execute.failures import describe, marker_line, memory_failure

__all__ = [
    "job_log",
    "simulate_job",
    "assemble_job",
    "fit_job",
    "audit_job",
    "report_job",
]


@contextlib.contextmanager
def job_log(path, name: str, terminal: bool = False):
    """Log to ``path`` for the duration of a job; log the traceback of any failure.

    With `terminal`, the job's own lines (logger `name`, INFO and above) also go to stderr,
    which Snakemake shows while the job runs.
    """
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    echo = None
    if terminal:
        echo = logging.StreamHandler(sys.stderr)
        echo.setFormatter(logging.Formatter("[mfsim %(asctime)s] %(message)s", "%H:%M:%S"))
        logging.getLogger(name).addHandler(echo)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    log = logging.getLogger(name)
    started = time.perf_counter()
    try:
        yield log
    except KeyboardInterrupt:
        # Ctrl-C reaches every job of the process group: one line, no traceback
        log.warning("%s interrupted", name)
        raise SystemExit(130) from None
    except Exception as error:
        # mfsim's one line first (stderr and the log), then the traceback (log; Python's on
        # stderr once the job exits)
        _report_failure(error, name, path, handler)
        log.exception("%s failed", name)
        raise
    finally:
        log.info("%s took %.2f s", name, time.perf_counter() - started)
        root.removeHandler(handler)
        handler.close()
        if echo is not None:
            logging.getLogger(name).removeHandler(echo)


def _report_failure(error: BaseException, name: str, log_path, handler=None) -> None:
    """Write mfsim's one-line reason of a failure to stderr and the job's log, once.

    Inside :func:`job_log` the line goes through its open `handler` (the traceback follows in
    the log); before it (no handler) it is appended to the log file.
    """
    if getattr(error, "mfsim_reported", False):
        return
    kind, reason = describe(error, log_path if handler is not None else None)
    sys.stderr.write(f"mfsim: {name} failed: {reason}\n")
    sys.stderr.flush()
    line = marker_line(kind, reason) + "\n"
    try:
        if handler is not None:
            handler.stream.write(line)
            handler.flush()
        else:
            with open(log_path, "a", encoding="utf-8") as stream:
                stream.write(line)
    except (OSError, TypeError, ValueError):
        pass
    try:
        error.mfsim_reported = True
    except AttributeError:
        pass


def interruptible(job):
    """Let Ctrl-C end `job` with exit status 130 and one log line, never a traceback; give any
    other failure mfsim's one-line reason before its traceback.

    Ctrl-C reaches every job of the process group; it may land anywhere in the job, also
    before or after its :func:`job_log` (reading the plan, setting up the log).
    """
    signature = inspect.signature(job)

    @functools.wraps(job)
    def run(*args, **kwargs):
        try:
            return job(*args, **kwargs)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        except Exception as error:
            log_path = signature.bind(*args, **kwargs).arguments.get("log_path")
            name = f"mfsim.{job.__name__.removesuffix('_job')}"
            _report_failure(error, name, log_path)
            raise

    return run


def _worker_memory_limits(client) -> list[int]:
    try:
        workers = client.scheduler_info()["workers"].values()
    except Exception:  # the scheduler may be gone too: the limits are then unknown
        return []
    return [int(worker.get("memory_limit") or 0) for worker in workers]


@interruptible
def simulate_job(plan_path, out, threads: int, log_path, mem_mb: float | None = None) -> None:
    """Rule ``simulate``: run the chunk of the plan file `plan_path` and write its store.

    The job reads only its own chunk plan (``results/<sweep>/plan/<chunk_id>.json``, written
    once by the workflow from the parsed config). With the local cluster and one thread the
    batches run in this process (a LocalCluster of one worker would only add its start-up);
    otherwise on the configured Dask cluster (a LocalCluster of ``threads`` workers, an existing
    scheduler, or SLURM workers). Progress lines go to the log and to the terminal.
    `mem_mb` is the rule's memory estimate for the job (all its workers), named when Dask
    workers die (``KilledWorker``, :func:`mfsim.execute.failures.memory_failure`).
    """
    from mfsim.execute.clusters import cluster_client
    from mfsim.execute.runner import run_chunk_plan
    from mfsim.plan.chunk_plan import read_chunk_plan

    plan = read_chunk_plan(plan_path)
    with job_log(log_path, "mfsim.simulate", terminal=True) as log:
        cluster = plan.cluster()
        if cluster.get("cluster", "local") == "local" and threads <= 1:
            # a cold kernel cache is announced by the engine itself (mfsim.engine.compilation)
            log.info("chunk %s: in-process, 1 thread", plan.chunk_id)
            run_chunk_plan(plan, out, client=None, log=log, threads=1)
        else:
            with cluster_client(cluster, threads) as client:
                log.info("chunk %s: Dask client %s", plan.chunk_id, client)
                try:
                    run_chunk_plan(plan, out, client=client, log=log)
                except Exception as error:
                    if type(error).__name__ != "KilledWorker":
                        raise
                    estimate = mem_mb / max(1, threads) if mem_mb else None
                    raise memory_failure(_worker_memory_limits(client), estimate) from error


@interruptible
def assemble_job(chunk_stores, config: dict, out, log_path) -> None:
    """Rule ``assemble``: combine the chunk stores into ``sweep.zarr`` (refuses incomplete ones)."""
    from mfsim.config.model import as_sweep_config
    from mfsim.store.assemble import assemble

    with job_log(log_path, "mfsim.assemble") as log:
        # the Snakefile's config is validated (defaults injected) before any job runs
        assemble(list(chunk_stores), as_sweep_config(config), out)
        log.info("assembled %d chunk stores into %s", len(chunk_stores), out)


def _write_zarr(ds: xr.Dataset, out, kind: str) -> None:
    """Zarr like the sweep store (holds int64 and float64 coordinates such as d = 10^12, which
    scipy's netCDF-3 writer cannot), written atomically with its completion marker."""
    from mfsim._version import __version__
    from mfsim.store.atomic import atomic_store
    from mfsim.store.layout import dataset_disk_bytes, to_zarr

    info = {"kind": kind, "mfsim_version": __version__}
    with atomic_store(out, info, estimate_bytes=dataset_disk_bytes(ds)) as tmp:
        to_zarr(ds, tmp)


def _open(path, what: str) -> xr.Dataset:
    """A complete store of the sweep; one without its completion marker is refused with a
    message naming it."""
    from mfsim.store.atomic import open_store

    remedy = "delete it and run the same snakemake command again"
    return open_store(path, what, remedy, chunks=None)


@interruptible
def fit_job(store, out, log_path, table_dir=None) -> None:
    """Rule ``fit_scaling``: fits of every stage quantity against d -> Zarr, and the fit table
    (``fit_table.csv``, ``.parquet``, ``.columns.csv``) into `table_dir` when given."""
    from mfsim.analysis.fit_table import write_fit_table
    from mfsim.analysis.scaling import fit_all

    with job_log(log_path, "mfsim.fit_scaling") as log:
        # not loaded whole: the per-step variables are never fitted, and each stage quantity
        # is read when it is fitted (fit_scaling computes one variable at a time)
        ds = _open(store, "sweep store")
        per_step = {"step", "heatmap_step"}
        ds = ds.drop_vars([name for name in ds.data_vars if per_step & set(ds[name].dims)])
        fits = fit_all(ds)
        _write_zarr(fits, out, "scaling")
        log.info("wrote %s (%d variables)", out, len(fits.data_vars))
        if table_dir is not None:
            paths = write_fit_table(fits, table_dir, config=ds)
            log.info("wrote %s", ", ".join(str(p) for p in paths))


@interruptible
def audit_job(store, out, log_path) -> None:
    """Rule ``audit``: Theorem 6 bounds and the t_k^* bracket checked on every run -> Zarr."""
    from mfsim.analysis.audit import audit_table, audit_theorem6
    from mfsim.analysis.bracket import attach_bracket, audit_t_k_star_bracket, bracket_summary

    with job_log(log_path, "mfsim.audit") as log:
        ds = _open(store, "sweep store")
        bracket = audit_t_k_star_bracket(ds)
        audit = attach_bracket(audit_theorem6(ds), bracket)
        _write_zarr(audit, out, "audit")
        log.info("Theorem 6 audit:\n%s", audit_table(audit).to_string(index=False))
        log.info("%s", bracket_summary(bracket))


@interruptible
def report_job(
    store, fits, audit, figures_dir, out, log_path, threads: int = 1, figures=None
) -> None:
    """Rule ``report``: the PNG and PDF figures (drawn by `threads` processes, with the
    ``figures:`` config section `figures`), then the self-contained HTML report that embeds
    them (its answer first).

    The sweep store and the fits are read once, in memory before the figure workers fork (no
    store access in a child), and serve both.
    """
    from mfsim.output.plots import plot_sweep
    from mfsim.output.report import write_report

    with job_log(log_path, "mfsim.report") as log:
        ds = _open(store, "sweep store").load()
        fit_results = _open(fits, "scaling store").load()
        files = plot_sweep(ds, fit_results, figures_dir, workers=threads, options=figures)
        log.info("wrote %d figure files to %s", len(files), figures_dir)
        write_report(
            ds,
            fit_results,
            sorted(Path(figures_dir).glob("*.png")),
            out,
            audit=_open(audit, "audit store"),
        )
        log.info("wrote %s", out)
