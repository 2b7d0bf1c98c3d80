"""The work of each Snakemake rule, so that ``workflow/scripts/*.py`` only call the library.

Every job logs to its rule's ``log:`` file and re-raises after logging a failure.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import time
from pathlib import Path

import xarray as xr

__all__ = [
    "defer_dask_array_import",
    "job_log",
    "simulate_job",
    "assemble_job",
    "fit_job",
    "audit_job",
    "report_job",
    "exit_job",
]


def defer_dask_array_import() -> bool:
    """Let xarray recognize dask arrays without importing ``dask.array`` up front.

    xarray checks every new Variable against ``dask.array.Array`` and, with dask installed,
    imports ``dask.array`` for it on the first Variable built (0.3 s, and ``scipy.fft`` with it,
    in every job; about 1 s on a loaded machine), although no job of a local run uses a dask
    array. No object is a dask array before ``dask.array`` is imported, so the check is made
    lazy: the type tuple xarray caches for ``"dask"`` holds a class whose ``isinstance`` looks
    the module up in ``sys.modules`` and then defers to ``dask.array.Array``. Same answers, no
    import. Does nothing (returns False) if ``dask.array`` is already imported, dask is not
    installed, or xarray's cache has another layout.
    """
    if "dask.array" in sys.modules:
        return False
    try:
        import dask
        from packaging.version import Version
        from xarray.namedarray import pycompat
    except ImportError:
        return False
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    module_class = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cache, dict) or module_class is None or "dask" in cache:
        return False

    class _DeferredDaskArrayType(type):
        def __instancecheck__(cls, obj) -> bool:
            array = sys.modules.get("dask.array")
            return array is not None and isinstance(obj, array.Array)

    class DeferredDaskArray(metaclass=_DeferredDaskArrayType):
        """Stands for ``dask.array.Array`` in xarray's isinstance checks."""

    entry = object.__new__(module_class)
    entry.module = dask
    entry.version = Version(dask.__version__)
    entry.type = (DeferredDaskArray,)
    entry.available = True
    cache["dask"] = entry
    return True


defer_dask_array_import()


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
    except Exception:
        log.exception("%s failed", name)
        raise
    finally:
        log.info("%s took %.2f s", name, time.perf_counter() - started)
        root.removeHandler(handler)
        handler.close()
        if echo is not None:
            logging.getLogger(name).removeHandler(echo)


def interruptible(job):
    """Let Ctrl-C end `job` with exit status 130 and one log line, never a traceback.

    Ctrl-C reaches every job of the process group; it may land anywhere in the job, also
    before or after its :func:`job_log` (reading the plan, setting up the log).
    """

    @functools.wraps(job)
    def run(*args, **kwargs):
        try:
            return job(*args, **kwargs)
        except KeyboardInterrupt:
            raise SystemExit(130) from None

    return run


@interruptible
def simulate_job(plan_path, out, threads: int, log_path) -> None:
    """Rule ``simulate``: run the chunk of the plan file `plan_path` and write its store.

    The job reads only its own chunk plan (``results/<sweep>/plan/<chunk_id>.json``, written
    once by the workflow from the parsed config). With the local cluster and one thread the
    batches run in this process (a LocalCluster of one worker would only add its start-up);
    otherwise on the configured Dask cluster (a LocalCluster of ``threads`` workers, an existing
    scheduler, or SLURM workers). Progress lines go to the log and to the terminal.
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
                run_chunk_plan(plan, out, client=client, log=log)


@interruptible
def assemble_job(chunk_stores, config: dict, out, log_path) -> None:
    """Rule ``assemble``: combine the chunk stores into ``sweep.zarr`` (refuses incomplete ones)."""
    from mfsim.config.model import as_sweep_config
    from mfsim.store.assemble import assemble

    with job_log(log_path, "mfsim.assemble") as log:
        # the Snakefile's config is validated (defaults injected) before any job runs
        assemble(list(chunk_stores), as_sweep_config(config), out)
        log.info("assembled %d chunk stores into %s", len(chunk_stores), out)


def _write_zarr(ds: xr.Dataset, out) -> None:
    """Zarr like the sweep store: holds int64 and float64 coordinates (d = 10^12), which
    scipy's netCDF-3 writer cannot."""
    from mfsim.store.layout import to_zarr

    to_zarr(ds, out, mode="w")


@interruptible
def fit_job(store, out, log_path) -> None:
    """Rule ``fit_scaling``: fits of every stage quantity against d -> Zarr."""
    from mfsim.analysis.scaling import fit_all

    with job_log(log_path, "mfsim.fit_scaling") as log:
        # not loaded whole: the per-step variables are never fitted, and each stage quantity
        # is read when it is fitted (fit_scaling computes one variable at a time)
        ds = xr.open_zarr(store, chunks=None)
        per_step = {"step", "heatmap_step"}
        ds = ds.drop_vars([name for name in ds.data_vars if per_step & set(ds[name].dims)])
        fits = fit_all(ds)
        _write_zarr(fits, out)
        log.info("wrote %s (%d variables)", out, len(fits.data_vars))


@interruptible
def audit_job(store, out, log_path) -> None:
    """Rule ``audit``: Theorem 6 bounds checked on every run -> Zarr."""
    from mfsim.analysis.audit import audit_table, audit_theorem6

    with job_log(log_path, "mfsim.audit") as log:
        audit = audit_theorem6(xr.open_zarr(store, chunks=None))
        _write_zarr(audit, out)
        log.info("Theorem 6 audit:\n%s", audit_table(audit).to_string(index=False))


@interruptible
def report_job(store, fits, audit, figures_dir, out, log_path, threads: int = 1) -> None:
    """Rule ``report``: the PNG and PDF figures (drawn by `threads` processes), then the
    self-contained HTML report that embeds them (verdict table first).

    The sweep store and the fits are read once, in memory before the figure workers fork (no
    store access in a child), and serve both.
    """
    from mfsim.output.plots import plot_sweep
    from mfsim.output.report import write_report

    with job_log(log_path, "mfsim.report") as log:
        ds = xr.open_zarr(store, chunks=None).load()
        fit_results = xr.open_zarr(fits, chunks=None).load()
        files = plot_sweep(ds, fit_results, figures_dir, workers=threads)
        log.info("wrote %d figure files to %s", len(files), figures_dir)
        write_report(
            ds,
            fit_results,
            sorted(Path(figures_dir).glob("*.png")),
            out,
            audit=xr.open_zarr(audit, chunks=None),
        )
        log.info("wrote %s", out)


def exit_job() -> None:
    """End a rule's script process at once, after its job returned (its outputs complete).

    Skips the interpreter's finalization: freeing every module's objects one by one (numba's
    compiled code, xarray's and zarr's objects) takes 0.15-0.4 s per job, once per job of a
    sweep. Logging handlers and the standard streams are flushed first; every file a job writes
    is closed when the job returns (Zarr writes each file whole; stores are renamed into place
    last). Only for ``workflow/scripts/*.py``, never in a library call. A job that raised never
    gets here: its traceback and exit status are Python's.
    """
    try:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except KeyboardInterrupt:  # Ctrl-C while exiting: the run is being stopped
        os._exit(130)
    os._exit(0)
