"""Why a job failed, in one line, and whether the same command can resume the sweep.

Two kinds of failure end a sweep:

* **resumable**: an interruption (Ctrl-C), a job lost with its process (killed, node lost,
  preempted) or a connection lost to the Dask scheduler. Finished chunks are kept and the same
  command resumes with the chunks that are left.
* **deterministic**: rerunning cannot fix it: a bad environment (a package that cannot be
  imported, an unusable environment variable), memory (a Dask worker limit below what a chunk
  needs, ``MemoryError``), a full disk, or an error raised by a rule's own code. The line names
  the cause and the fix.

A job that fails in Python writes :data:`MARKER` and its line into its log (and the line to
stderr before any traceback); the Snakefile's ``onerror`` reads the logs written during the run
(:func:`closing_line`). A job killed from outside writes nothing: no marker means resumable.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

__all__ = [
    "DETERMINISTIC",
    "MARKER",
    "RESUMABLE",
    "JobFailure",
    "closing_line",
    "describe",
    "marker_line",
    "memory_failure",
    "read_failures",
    "run_started",
]

RESUMABLE = "resumable"
DETERMINISTIC = "deterministic"
#: Starts the line a failing job writes into its log (read by :func:`read_failures`).
MARKER = "mfsim-failure:"
#: Connection errors of a lost scheduler or worker (resumable), by class name: distributed's
#: exceptions are matched without importing it.
_LOST_CONNECTION = {"CommClosedError", "StreamClosedError", "ConnectionRefusedError"}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


class JobFailure(Exception):
    """A failure whose cause and fix mfsim knows; ``kind`` is RESUMABLE or DETERMINISTIC."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def memory_failure(
    worker_limit_bytes: list[int], estimate_mb: float | None, rule: str = "simulate"
) -> JobFailure:
    """The failure of a chunk whose Dask workers died (``KilledWorker``).

    Dask's nanny ends a worker above 95% of its memory limit, and the scheduler gives up on a
    task after its workers died three times. A local worker's limit is the machine's memory
    (or the job's cgroup or ``RLIMIT_RSS``, which SLURM sets from ``--mem``) shared by the
    job's workers; a SLURM worker's is ``dask.slurm.memory``.

    Parameters
    ----------
    worker_limit_bytes : list of int
        ``memory_limit`` of every worker the scheduler knows (0: no limit).
    estimate_mb : float, optional
        The rule's own estimate of one worker's memory (``mem_mb`` / threads), MB.
    rule : str
        The rule, in the fix (``--set-resources <rule>:mem_mb``).

    Returns
    -------
    JobFailure
        DETERMINISTIC, naming the limit against the estimate and how to raise the limit.
    """
    limits = [limit for limit in worker_limit_bytes if limit]
    limit_text = (
        f"{min(limits) / 1e6:.0f} MB" if limits else "a limit the scheduler no longer knows"
    )
    estimate_text = f"{estimate_mb:.0f} MB" if estimate_mb else "an unknown amount"
    workers = max(1, len(worker_limit_bytes))
    needed = 2 * max(estimate_mb or 0, min(limits) / 1e6 if limits else 0)
    return JobFailure(
        DETERMINISTIC,
        f"Dask workers died running the chunk (KilledWorker), most likely over their memory "
        f"limit: each worker may use {limit_text}, the rule estimates {estimate_text} per "
        f"worker; raise the limit (snakemake --set-resources {rule}:mem_mb="
        f"{needed * workers:.0f} on SLURM; locally fewer workers share the machine's memory: "
        f"--set-threads {rule}=1; with dask.cluster slurm raise dask.slurm.memory) or lower "
        "chunking.seeds_per_batch",
    )


def describe(error: BaseException, log_path=None) -> tuple[str, str]:
    """``(kind, reason)`` of an exception that ended a job.

    Parameters
    ----------
    error : BaseException
        What the job raised.
    log_path : path, optional
        The job's log, named in the reason of an error of the rule's own code.

    Returns
    -------
    tuple of str
        :data:`RESUMABLE` or :data:`DETERMINISTIC`, and a one-line reason with its fix.
    """
    name = type(error).__name__
    text = " ".join(str(error).split())[:300]
    where = f"; the traceback is in {log_path}" if log_path else ""
    if isinstance(error, JobFailure):
        return error.kind, error.reason
    if isinstance(error, KeyboardInterrupt):
        return RESUMABLE, "interrupted"
    if isinstance(error, MemoryError):
        return DETERMINISTIC, (
            "out of memory (MemoryError); give the job more memory (snakemake "
            "--set-resources <rule>:mem_mb=<MB>, or --mem on SLURM) or lower "
            "chunking.seeds_per_batch"
        )
    if name == "KilledWorker":
        return memory_failure([], None).kind, memory_failure([], None).reason
    if name == "ArgumentError" and text.startswith("environment variable"):
        return DETERMINISTIC, f"bad environment: {text}"
    if isinstance(error, ImportError):
        return DETERMINISTIC, (
            f"bad environment: {name}: {text}; install the project's dependencies "
            "(python3 -m pip install -e '.[test,slurm]', or the conda environment.yml)"
        )
    if isinstance(error, OSError) and error.errno in _NO_SPACE:
        where_full = error.filename or "the output directory"
        return DETERMINISTIC, (
            f"no space left on the device of {where_full}; free space there (or write the "
            "sweep elsewhere), then run the same command"
        )
    if name in _LOST_CONNECTION or isinstance(error, ConnectionError | TimeoutError):
        return RESUMABLE, (
            f"lost the connection to Dask ({name}: {text}); the same command resumes once "
            "the scheduler is reachable"
        )
    if name == "IncompleteStoreError":
        # the message names the store and its remedy: rerunning alone repeats the failure
        return DETERMINISTIC, f"{name}: {text}{where}"
    return DETERMINISTIC, f"{name}: {text} (an error in the rule: rerunning repeats it{where})"


def marker_line(kind: str, reason: str) -> str:
    """The line a failing job writes into its log."""
    return f"{MARKER} {kind}: {reason}"


def read_failures(sweep_dir, since: float) -> list[tuple[Path, str, str]]:
    """``(log, kind, reason)`` of every job log of `sweep_dir` written since `since` (epoch
    seconds) that holds a :data:`MARKER` line; oldest first."""
    logs = Path(sweep_dir) / "logs"
    found = []
    for path in sorted(logs.rglob("*.log"), key=lambda p: p.stat().st_mtime):
        try:
            if path.stat().st_mtime < since:
                continue
            with path.open(encoding="utf-8", errors="replace") as stream:
                for line in stream:
                    if MARKER in line:
                        kind, _, reason = line.split(MARKER, 1)[1].strip().partition(": ")
                        found.append((path, kind, reason))
                        break
        except OSError:
            continue
    return found


def closing_line(sweep_dir, since: float) -> str:
    """The last line of a sweep that stopped: resumable or not, and what to do.

    Parameters
    ----------
    sweep_dir : path
        ``results/<sweep>``.
    since : float
        When this run started (epoch seconds): older logs are not this run's.

    Returns
    -------
    str
        Without a deterministic failure: the same command resumes. Otherwise the failed log,
        the cause and the fix, and that rerunning alone repeats the failure.
    """
    kept = f"Finished chunks are kept in {sweep_dir}/chunks/ (mfsim status {sweep_dir} shows them)"
    failures = [entry for entry in read_failures(sweep_dir, since) if entry[1] == DETERMINISTIC]
    if not failures:
        return (
            f"mfsim: the sweep stopped before completion (interrupted, or a job was lost). "
            f"{kept}; the same snakemake command resumes with the chunks that are left."
        )
    path, _, reason = failures[0]
    others = f" ({len(failures) - 1} more job(s) failed likewise)" if len(failures) > 1 else ""
    job = os.path.relpath(path, Path(sweep_dir) / "logs").removesuffix(".log")
    return (
        f"mfsim: the sweep stopped: job {job} failed: {reason}{others}. Rerunning the same "
        f"command repeats this until it is fixed. {kept}."
    )


def run_started() -> float:
    """Now, in epoch seconds, a little early (file times may be coarser than the clock)."""
    return time.time() - 1.0
