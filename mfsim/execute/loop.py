"""The sweep loop (``mfsim.sweep``) without Snakemake: every chunk, reusing complete chunk
stores, then assembly."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import xarray as xr

from mfsim.config.model import SweepConfig, parse
from mfsim.execute.clusters import cluster_client
from mfsim.execute.main_guard import spawn_unsafe_call
from mfsim.execute.resources import available_cpus, check_disk_space
from mfsim.execute.runner import run_chunk_plan, submit, write_when_done
from mfsim.plan.chunk_plan import make_plan
from mfsim.store.assemble import assemble
from mfsim.store.atomic import open_store
from mfsim.store.chunk_store import chunk_store_problems
from mfsim.store.layout import chunk_store_path
from mfsim.store.lock import writer_lock

__all__ = ["SUBMIT_AHEAD_PER_WORKER", "sweep", "sweep_to"]

#: :func:`sweep` keeps at most this many batches per worker submitted ahead of the chunk it
#: writes (bounds the results held in memory).
SUBMIT_AHEAD_PER_WORKER = 8


def sweep(
    config: SweepConfig | Mapping | str | os.PathLike,
    client=None,
    out: str | os.PathLike | None = None,
    *,
    log=None,
) -> xr.Dataset:
    """Run a whole sweep without Snakemake; return the sweep Dataset.

    Parameters
    ----------
    config : SweepConfig, dict or path
        Sweep config (parsed here; a mapping without ``sweep`` gets the name ``interactive``).
    client : distributed.Client, optional
        Where the batches run; by default a cluster from the config's ``dask`` section
        (:func:`~mfsim.execute.clusters.cluster_client` with one worker per CPU this process
        may use), started only when some chunk is left to run.
    out : path, optional
        Sweep directory (like ``results/<sweep>``): chunk stores go to ``<out>/chunks/`` and
        complete ones are reused; the store is ``<out>/sweep.zarr`` and the returned Dataset is
        opened from it (lazily). Without `out` everything happens in a temporary directory and
        the Dataset is returned loaded in memory.
    log : logging.Logger, file-like or path, optional
        Progress lines of every chunk.

    Returns
    -------
    xarray.Dataset
        The same data model (and, for data variables, the same values) as the Snakemake
        workflow's ``sweep.zarr``: it runs the same chunk runner and :func:`mfsim.assemble`.

    Raises
    ------
    mfsim.config.errors.ConfigError
        An invalid config, a sweep above ``limits``, or an estimated store larger than the
        free space of the output directory (checked before anything is written).
    mfsim.store.lock.WriterLockedError
        Another process (or thread) runs a sweep into `out` (the message names its pid).
    mfsim.store.atomic.DiskFullError
        The disk filled up while a store was written (the message names the directory, its
        free space and the estimate); every store already complete is kept.

    Notes
    -----
    One writer per sweep directory: the call holds the writer lock of `out`
    (:func:`mfsim.store.lock.writer_lock`) until the store is assembled. A chunk store that is
    incomplete or does not match its plan (files missing or of another size than its marker
    lists, another run count) is recomputed, with a :class:`RuntimeWarning`.
    """
    config = parse(config)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="mfsim-sweep-") as tmp:
            with sweep_to(config, tmp, client, log) as store:
                return open_store(store, "sweep store").load()
    with sweep_to(config, out, client, log) as store:
        return open_store(store, "sweep store")


def _in_flight(submitted) -> int:
    return sum(len(pending) for _, pending in submitted)


@contextlib.contextmanager
def sweep_to(config, out: str | os.PathLike, client=None, log=None):
    """Run the sweep into directory `out`; yield the path of its ``sweep.zarr``."""
    config = parse(config)
    out = Path(out)
    plan = make_plan(config)
    # before writing anything: the chunk stores still to write and sweep.zarr
    check_disk_space(plan, out, analysis=False)
    with writer_lock(out, "the sweep directory"):
        todo = [chunk for chunk in plan.chunks if not _reusable(out, plan, chunk)]
        with contextlib.ExitStack() as stack:
            in_process = todo and client is None and _in_process_reason(config)
            if in_process:
                warnings.warn(in_process, stacklevel=4)
                for chunk in todo:
                    run_chunk_plan(
                        plan.chunk_plan(chunk), chunk_store_path(out, chunk), None, log,
                        threads=available_cpus(),
                    )  # fmt: skip
            elif todo:
                if client is None:
                    client = stack.enter_context(cluster_client(config.cluster, available_cpus()))
                _run_chunks(plan, todo, out, client, log)
        store = out / "sweep.zarr"
        assemble([chunk_store_path(out, chunk) for chunk in plan.chunks], config, store)
    yield store


def _reusable(out: Path, plan, chunk) -> bool:
    """Whether the chunk's store is complete and matches its plan; warn about a store that is
    there but does not (it is recomputed)."""
    path = chunk_store_path(out, chunk)
    if not path.exists():
        return False
    problems = chunk_store_problems(path, plan.chunk_plan(chunk))
    if problems:
        warnings.warn(
            f"{path}: recomputing this chunk store: {'; '.join(problems[:3])}",
            RuntimeWarning,
            stacklevel=4,
        )
    return not problems


def _in_process_reason(config: SweepConfig) -> str | None:
    """Why the sweep runs in this process instead of a local Dask cluster, or None.

    A local cluster's worker processes re-import the calling script; one that calls
    :func:`sweep` outside ``if __name__ == "__main__":`` would start a sweep in every worker.
    """
    if config.cluster.kind != "local":
        return None
    where = spawn_unsafe_call()
    if where is None:
        return None
    return (
        f"mfsim.sweep is called at the top level of a script without "
        f'`if __name__ == "__main__":` ({where}): Dask worker processes would re-run the '
        f"script, so the sweep runs in this process on {available_cpus()} numba threads "
        "instead (same results). Put the call under the guard to run it on a Dask "
        "LocalCluster."
    )


def _run_chunks(plan, todo, out: Path, client, log) -> None:
    # keep later chunks submitted while one is written so that the workers stay busy
    # across chunk boundaries, with a bounded number of results held in memory
    window = SUBMIT_AHEAD_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    queue = deque(plan.chunk_plan(chunk) for chunk in todo)
    submitted: deque = deque()
    while queue or submitted:
        while queue and (not submitted or _in_flight(submitted) < window):
            chunk_plan = queue.popleft()
            submitted.append((chunk_plan, submit(chunk_plan, client)))
        chunk_plan, pending = submitted.popleft()
        path = chunk_store_path(out, chunk_plan.chunk)
        write_when_done(chunk_plan, path, pending, client, None, log)
