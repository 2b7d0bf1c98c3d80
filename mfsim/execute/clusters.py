"""Dask clusters, one function per scheduler kind of the config's ``dask`` section.

``local``: :func:`local_cluster`; ``address``: an existing scheduler (:func:`address_client`);
``slurm``: :func:`slurm_cluster` (dask-jobqueue; settings the config leaves out come from
dask-jobqueue's own ``jobqueue.slurm`` section of :mod:`dask.config`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from mfsim.config.model import ClusterSpec

__all__ = [
    "THREAD_ENV_VARS",
    "address_client",
    "cluster_client",
    "local_cluster",
    "security",
    "slurm_cluster",
    "slurm_cluster_kwargs",
    "worker_env",
]

#: Thread-count environment variables pinned in Dask workers.
THREAD_ENV_VARS = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def worker_env(threads_per_worker: int = 1) -> dict:
    """Environment of a worker process: every thread-count variable set to the worker's."""
    return {name: str(threads_per_worker) for name in THREAD_ENV_VARS}


def _section(dask_config) -> dict:
    if isinstance(dask_config, ClusterSpec):
        return dask_config.as_dict()
    return dict(dask_config or {})


@contextlib.contextmanager
def local_cluster(n_workers: int, dashboard: bool = False):
    """``LocalCluster(n_workers, threads_per_worker=1, processes=True)`` on 127.0.0.1.

    The scheduler (and the dashboard when `dashboard`, on a random port) listen on the loopback
    only; workers get every :data:`THREAD_ENV_VARS` = 1 so processes do not oversubscribe.
    """
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=max(1, int(n_workers)),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0" if dashboard else None,
        # the scheduler's HTTP server (health, metrics; the dashboard when enabled)
        # listens on a free loopback port
        scheduler_kwargs={"dashboard": dashboard, "dashboard_address": "127.0.0.1:0"},
        env=worker_env(1),
        silence_logs=logging.WARNING,
    ) as cluster:
        yield cluster


def security(dask_config: Mapping):
    """``distributed.security.Security`` from the ``security`` section (TLS), or None."""
    section = dask_config.get("security")
    if not section:
        return None
    from distributed.security import Security

    return Security(
        tls_ca_file=section["tls_ca_file"],
        tls_client_cert=section["tls_client_cert"],
        tls_client_key=section["tls_client_key"],
        require_encryption=True,
    )


@contextlib.contextmanager
def address_client(dask_config: Mapping):
    """A client of the existing scheduler ``dask.address`` (TLS from ``dask.security``)."""
    from distributed import Client

    with Client(dask_config["address"], security=security(dask_config)) as client:
        yield client


def slurm_cluster_kwargs(dask_config: Mapping) -> dict:
    """Keyword arguments of ``dask_jobqueue.SLURMCluster`` for the ``dask.slurm`` section."""
    slurm = dict(dask_config["slurm"])
    cores = int(slurm["cores"])
    host = slurm.get("scheduler_host", "127.0.0.1")
    kwargs = {
        "cores": cores,
        "processes": cores,  # single-threaded workers: numba threads = 1 each
        "memory": slurm["memory"],
        "scheduler_options": {
            "host": host,
            "dashboard": bool(dask_config.get("dashboard")),
            "dashboard_address": f"{host}:0",
        },
        "job_script_prologue": [f"export {name}=1" for name in THREAD_ENV_VARS],
    }
    for key in ("walltime", "queue", "account"):
        if key in slurm:
            kwargs[key] = slurm[key]
    if slurm.get("job_extra_directives"):
        kwargs["job_extra_directives"] = list(slurm["job_extra_directives"])
    if "lifetime" in slurm:
        kwargs["worker_extra_args"] = [
            "--lifetime",
            slurm["lifetime"],
            "--lifetime-stagger",
            slurm.get("lifetime_stagger", "0s"),
            "--lifetime-restart",
        ]
    if dask_config.get("security"):
        kwargs["security"] = security(dask_config)
        kwargs["protocol"] = "tls://"
    return kwargs


@contextlib.contextmanager
def slurm_cluster(dask_config: Mapping):
    """``dask_jobqueue.SLURMCluster`` (one single-threaded worker process per core, thread
    variables pinned in the job script, ``--lifetime`` restarts when ``lifetime`` is set)
    scaled with ``adapt(minimum_jobs, maximum_jobs)``."""
    from dask_jobqueue import SLURMCluster

    slurm = dask_config["slurm"]
    with SLURMCluster(**slurm_cluster_kwargs(dask_config)) as cluster:
        cluster.adapt(
            minimum_jobs=int(slurm.get("minimum_jobs", 0)),
            maximum_jobs=int(slurm.get("maximum_jobs", 1)),
        )
        yield cluster


@contextlib.contextmanager
def cluster_client(dask_config: Mapping | ClusterSpec | None = None, threads: int = 1):
    """A ``distributed.Client`` for the config's ``dask`` section (context manager).

    Parameters
    ----------
    dask_config : mapping or ClusterSpec, optional
        The ``dask`` section: ``cluster`` is ``local`` (default), ``address`` or ``slurm``.
    threads : int
        ``local``: number of worker processes (1 thread each).

    Yields
    ------
    distributed.Client

    Raises
    ------
    ValueError
        An unknown ``cluster`` kind (a parsed config never has one).
    """
    from distributed import Client

    section = _section(dask_config)
    kind = section.get("cluster", "local")
    if kind == "local":
        with local_cluster(threads, bool(section.get("dashboard"))) as cluster:
            with Client(cluster) as client:
                yield client
    elif kind == "address":
        with address_client(section) as client:
            yield client
    elif kind == "slurm":
        with slurm_cluster(section) as cluster, Client(cluster) as client:
            yield client
    else:
        raise ValueError(f"dask.cluster: {kind!r} is not one of local, address, slurm")
