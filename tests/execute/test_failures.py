"""Issue 20 item 6: the closing line tells a resumable stop from a failure rerunning repeats.

Before, every stop ended with "the same snakemake command resumes", also after a bad
environment, a Dask worker memory limit below a worker's footprint, or an error in a rule.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mfsim.arguments import ArgumentError
from mfsim.execute.failures import (
    DETERMINISTIC,
    MARKER,
    RESUMABLE,
    JobFailure,
    closing_line,
    describe,
    marker_line,
    memory_failure,
)

ROOT = Path(__file__).resolve().parents[2]


class KilledWorker(Exception):
    """Stands for distributed's (matched by name, as the module does)."""


class CommClosedError(Exception):
    pass


@pytest.mark.parametrize(
    "error, kind, words",
    [
        (MemoryError(), DETERMINISTIC, "out of memory (MemoryError); give the job more memory"),
        (KilledWorker("('run', 0)"), DETERMINISTIC, "most likely over their memory limit"),
        (ModuleNotFoundError("No module named 'h5py'"), DETERMINISTIC, "bad environment"),
        (
            ArgumentError("environment variable NUMBA_NUM_THREADS = '0': ..."),
            DETERMINISTIC,
            "bad environment: environment variable NUMBA_NUM_THREADS = '0'",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/full/results"),
            DETERMINISTIC,
            "no space left on the device of /full/results",
        ),
        (CommClosedError("in <TCP ...>"), RESUMABLE, "the same command resumes"),
        (ConnectionRefusedError(111, "refused"), RESUMABLE, "lost the connection to Dask"),
        (ValueError("bad thing"), DETERMINISTIC, "ValueError: bad thing (an error in the rule"),
        (JobFailure(RESUMABLE, "told"), RESUMABLE, "told"),
    ],
)
def test_describe(error, kind, words):
    found_kind, reason = describe(error, "results/x/logs/job.log")
    assert found_kind == kind and words in reason
    assert "\n" not in reason


def test_memory_failure_sets_the_worker_limit_against_the_rules_estimate():
    failure = memory_failure([300_000_000, 200_000_000], 700.0)
    assert failure.kind == DETERMINISTIC
    assert "each worker may use 200 MB, the rule estimates 700 MB per worker" in failure.reason
    # twice the larger of the two, for each of the two workers
    assert "--set-resources simulate:mem_mb=2800 on SLURM" in failure.reason


def test_simulate_job_names_the_worker_limit_and_the_estimate_on_killed_workers(
    tmp_path, monkeypatch, capsys
):
    """Issue 20: a worker memory limit below a worker's footprint ended in "KilledWorker ...
    all those workers died" with the cause only in a rule log, and "the same command
    resumes". The job's Dask client and chunk runner are stand-ins: the scheduler reports two
    workers of 150 MB and the chunk's workers die."""
    import contextlib

    from mfsim.config.model import parse
    from mfsim.execute import clusters, runner
    from mfsim.jobs import simulate_job
    from mfsim.plan.chunk_plan import chunk_plan_path, make_plan, write_chunk_plans
    from tests.helpers import tiny

    class Client:
        def scheduler_info(self):
            return {"workers": {"a": {"memory_limit": 150e6}, "b": {"memory_limit": 150e6}}}

    def dying(*args, **kwargs):
        raise KilledWorker("Attempted to run task 'mfsim-batch' on 4 different workers")

    @contextlib.contextmanager
    def cluster_client(cluster, threads):
        yield Client()

    monkeypatch.setattr(clusters, "cluster_client", cluster_client)
    monkeypatch.setattr(runner, "run_chunk_plan", dying)
    plan = make_plan(parse(tiny(), results_root=None))
    write_chunk_plans(plan, tmp_path)
    log = tmp_path / "logs" / "simulate" / "abc.log"
    log.parent.mkdir(parents=True)
    with pytest.raises(JobFailure):
        simulate_job(
            chunk_plan_path(tmp_path, plan.chunks[0].chunk_id), tmp_path / "o", 2, log, mem_mb=1200
        )
    err = capsys.readouterr().err
    assert "mfsim: mfsim.simulate failed: Dask workers died running the chunk (KilledWorker)" in err
    assert "each worker may use 150 MB, the rule estimates 600 MB per worker" in err
    line = closing_line(tmp_path, since=time.time() - 60)
    assert "job simulate/abc failed: Dask workers died" in line and "resumes" not in line


def _log(sweep: Path, name: str, text: str, age: float = 0.0) -> Path:
    path = sweep / "logs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if age:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
    return path


def test_closing_line_without_a_failure_says_the_same_command_resumes(tmp_path):
    _log(tmp_path, "simulate/abc.log", "progress\n")
    _log(tmp_path, "assemble.log", "x " + marker_line(RESUMABLE, "lost the connection") + "\n")
    line = closing_line(tmp_path, since=time.time() - 60)
    assert "the same snakemake command resumes" in line and "interrupted" in line


def test_closing_line_names_a_deterministic_failure_and_its_fix(tmp_path):
    reason = "bad environment: environment variable NUMBA_NUM_THREADS = '0': fix it"
    _log(tmp_path, "simulate/abc.log", "2026 INFO start\n" + marker_line(DETERMINISTIC, reason))
    line = closing_line(tmp_path, since=time.time() - 60)
    assert f"job simulate/abc failed: {reason}." in line
    assert "Rerunning the same command repeats this until it is fixed" in line
    assert "resumes" not in line


def test_closing_line_ignores_logs_of_earlier_runs(tmp_path):
    _log(tmp_path, "report.log", marker_line(DETERMINISTIC, "old failure"), age=3600)
    line = closing_line(tmp_path, since=time.time() - 60)
    assert "old failure" not in line and "resumes" in line


def _run_job(code: str, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
    )


def test_a_failing_rule_shows_mfsims_line_before_the_traceback(tmp_path):
    done = _run_job(
        "from mfsim.jobs import fit_job; fit_job('missing.zarr', 'fits.zarr', 'fit.log')", tmp_path
    )
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first.startswith("mfsim: mfsim.fit_scaling failed: IncompleteStoreError")
    # the store's own remedy, not a second, contradicting one
    assert "delete it and run the same snakemake command again" in first
    assert "rerunning repeats it" not in first and "the traceback is in fit.log" in first
    assert done.stderr.index(first) < done.stderr.index("Traceback")
    log = (tmp_path / "fit.log").read_text()
    assert f"{MARKER} {DETERMINISTIC}: IncompleteStoreError" in log and "Traceback" in log


def test_a_bad_environment_in_a_job_is_named_before_numba_fails(tmp_path):
    """A job started with NUMBA_NUM_THREADS=0 (the Snakefile refuses it at start-up; a job
    started by hand or by another executor meets it when the engine is imported)."""
    from mfsim.config.model import parse
    from mfsim.plan.chunk_plan import chunk_plan_path, make_plan, write_chunk_plans
    from tests.helpers import tiny

    plan = make_plan(parse(tiny(), results_root=None))
    write_chunk_plans(plan, tmp_path)
    plan_file = chunk_plan_path(tmp_path, plan.chunks[0].chunk_id)
    done = _run_job(
        f"from mfsim.jobs import simulate_job; simulate_job({str(plan_file)!r}, 'o.zarr', 1, "
        "'sim.log')",
        tmp_path,
        NUMBA_NUM_THREADS="0",
    )
    assert done.returncode == 1
    (first,) = [line for line in done.stderr.splitlines() if " failed: " in line]
    assert first == (
        "mfsim: mfsim.simulate failed: bad environment: environment variable "
        "NUMBA_NUM_THREADS = '0': numba's thread count must be an integer >= 1; unset it or "
        "set e.g. NUMBA_NUM_THREADS=2"
    )
    assert done.stderr.index(first) < done.stderr.index("Traceback")
    assert f"{MARKER} {DETERMINISTIC}: bad environment" in (tmp_path / "sim.log").read_text()
    assert not (tmp_path / "o.zarr").exists()
