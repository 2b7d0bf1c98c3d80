"""CPUs this process may use (affinity and cgroup quota), for sizing workers and threads."""

from __future__ import annotations

__all__ = ["available_cpus"]


def available_cpus() -> int:
    """Number of CPUs the process may run on: the minimum of the host's CPUs, the process's
    CPU affinity (``taskset``, SLURM ``--cpus-per-task``) and a cgroup quota
    (:func:`dask.system.cpu_count`); at least 1."""
    from dask.system import cpu_count

    return max(1, int(cpu_count()))
