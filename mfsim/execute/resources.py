"""Resources of this process and of a sweep: CPUs to use, disk space to hold the results."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mfsim.config.errors import ConfigError
from mfsim.plan.chunk_plan import SweepPlan
from mfsim.store.atomic import format_bytes, is_complete
from mfsim.store.footprint import chunk_store_disk_bytes, sweep_footprint
from mfsim.store.layout import chunk_store_path

__all__ = ["available_cpus", "check_disk_space", "disk_space_needed"]


def available_cpus() -> int:
    """Number of CPUs the process may run on: the minimum of the host's CPUs, the process's
    CPU affinity (``taskset``, SLURM ``--cpus-per-task``) and a cgroup quota
    (:func:`dask.system.cpu_count`); at least 1."""
    from dask.system import cpu_count

    return max(1, int(cpu_count()))


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def disk_space_needed(plan: SweepPlan, sweep_dir: str | os.PathLike, analysis: bool) -> int:
    """Bytes the sweep still has to write into `sweep_dir`: its footprint
    (:func:`mfsim.store.footprint.sweep_footprint`) less the chunk stores already complete
    there (reused). A previous ``sweep.zarr`` is not deducted: it stays until the new one is
    complete."""
    footprint = sweep_footprint(plan, analysis=analysis)
    reused = sum(
        chunk_store_disk_bytes(chunk, plan.config)
        for chunk in plan.chunks
        if is_complete(chunk_store_path(sweep_dir, chunk))
    )
    return footprint.total - reused


def check_disk_space(plan: SweepPlan, sweep_dir: str | os.PathLike, *, analysis: bool) -> int:
    """Refuse a sweep whose results would not fit on the disk of `sweep_dir`, before any work.

    Parameters
    ----------
    plan : SweepPlan
        The sweep's plan (:func:`mfsim.plan.chunk_plan.make_plan`).
    sweep_dir : path
        The sweep directory; the free space of its file system (or of its nearest existing
        parent) is compared with :func:`disk_space_needed`.
    analysis : bool
        Count the analysis outputs of the Snakemake workflow (scaling and audit stores,
        figures, report, logs); ``mfsim.sweep`` writes only the chunk stores and
        ``sweep.zarr``.

    Returns
    -------
    int
        The estimate, in bytes.

    Raises
    ------
    mfsim.config.errors.ConfigError
        Naming the directory, the free space and the estimate (by part).
    """
    sweep_dir = Path(sweep_dir)
    need = disk_space_needed(plan, sweep_dir, analysis)
    where = _existing_ancestor(sweep_dir)
    free = shutil.disk_usage(where).free
    if need > free:
        parts = sweep_footprint(plan, analysis=analysis)
        raise ConfigError(
            f"disk space: the sweep needs an estimated {format_bytes(need)} in {sweep_dir} "
            f"(chunk stores {format_bytes(parts.chunk_stores)}, sweep.zarr "
            f"{format_bytes(parts.sweep_store)}"
            + (f", analysis and figures {format_bytes(parts.analysis)}" if analysis else "")
            + f"; measured sizes on disk, 4 KiB blocks) but only {format_bytes(free)} are free "
            f"on the file system of {where}; free some space or write the results elsewhere"
        )
    return need
