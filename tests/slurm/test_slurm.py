"""The pipeline on the test SLURM cluster of tests/slurm (see tests/slurm/README.md).

Three runs of the tiny sweep ``tests/slurm/tiny.yaml`` (8 runs in 3 chunks), each compared bit
for bit with a local ``snakemake --cores 2`` run of the same config:

(a) every job submitted by snakemake-executor-plugin-slurm (``--workflow-profile
    workflow/profiles/slurm``): each ``simulate`` chunk is one COMPLETED SLURM job;
(b) the plain local executor with ``dask: {cluster: slurm}``: the batches run on dask-jobqueue
    workers in SLURM jobs (scheduler on 127.0.0.1);
(c) as (a), with a ``simulate`` job cancelled (``scancel``) while it runs: Snakemake retries it
    (``retries`` of the profile) and the store is still complete and identical.

Overrides of the shipped profile: ``--slurm-init-seconds-before-status-checks 5`` (the profile's
20 s would add minutes) and ``--slurm-keep-successful-logs`` (the per-job logs map SLURM job ids
to rules). Test (c) also sets the site lines (partition, account) through ``--default-resources``
and uses ``--slurm-status-command squeue``: sacct reports a cancelled job as ``CANCELLED by
<uid>``, which snakemake-executor-plugin-slurm 2.8.0 does not recognise as failed, so with sacct
Snakemake would wait for the cancelled job forever (see docs/slurm.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from mfsim.config.validate import load_config
from mfsim.datamodel import NONDETERMINISTIC_VARIABLES
from mfsim.plan.grid import estimate_resources, make_chunks
from mfsim.store import MARKER

# full Snakemake and Dask runs through SLURM, 20-80 s each: with the long scenarios, not in the
# default run (.ci/run runs them with the test cluster up: pytest -m scenario; issue 22 item 7)
pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.scenario]

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
TINY = Path(__file__).resolve().parent / "tiny.yaml"
#: Limit of a snakemake invocation (seconds); each run takes 20-80 s here with a warm numba
#: cache. The local reference run also compiles the kernels when the cache is cold (after an
#: edit of mfsim/engine/kernels.py: about 100-200 s on 2 cores), hence its longer limit.
RUN_TIMEOUT = 300
REFERENCE_TIMEOUT = 600
#: Overrides of the profile for every SLURM-executor run of these tests.
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "5", "--slurm-keep-successful-logs"]
#: The target of every run: the sweep store only (not the analysis rules that follow it).
TARGET = "results/tiny/sweep.zarr"
FINAL_STATES = (
    "COMPLETED",
    "CANCELLED",
    "FAILED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
)


# --------------------------------------------------------------------------------------------
# helpers


def tiny_config() -> dict:
    with TINY.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def tiny_chunks() -> dict:
    """chunk id -> estimate_resources of the chunks of tiny.yaml."""
    config = load_config(tiny_config(), results_root=None)
    return {chunk.chunk_id: estimate_resources(chunk, config) for chunk in make_chunks(config)}


def _snakemake_command() -> list[str]:
    exe = shutil.which("snakemake")
    return [exe] if exe else [sys.executable, "-m", "snakemake"]


def _env() -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "SNAKEMAKE_PROFILE" and not key.startswith("SLURM_")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _squeue_jobs(workdir: Path, states: str = "all") -> list[dict]:
    """Jobs that slurmctld still knows with working directory `workdir`."""
    result = subprocess.run(
        ["squeue", "-h", "-t", states, "-o", "%i|%T|%k|%Z"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    jobs = []
    for line in result.stdout.splitlines():
        job_id, state, comment, job_workdir = line.split("|", 3)
        if job_workdir == str(workdir):
            jobs.append({"id": job_id, "state": state, "comment": comment})
    return jobs


def _cancel_leftovers(workdir: Path) -> None:
    active = [job["id"] for job in _squeue_jobs(workdir, "PENDING,RUNNING,CONFIGURING")]
    if active:
        subprocess.run(["scancel", *active], capture_output=True, timeout=30)


class Snakemake:
    """A snakemake run in its own process group (SIGINT cancels its SLURM jobs)."""

    def __init__(self, workdir: Path, configfile: Path, *args: str):
        self.workdir = workdir
        self.out_path = workdir / "snakemake.out"
        # the target first: options such as --default-resources take any number of values
        self.command = [
            *_snakemake_command(),
            TARGET,
            "-s",
            str(SNAKEFILE),
            "--directory",
            str(workdir),
            "--configfile",
            str(configfile),
            *args,
        ]
        self.started = time.monotonic()
        with open(self.out_path, "w", encoding="utf-8") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(),
                start_new_session=True,
            )

    @property
    def output(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float = RUN_TIMEOUT) -> float:
        """Wait for a successful end; return the wall time in seconds."""
        remaining = timeout - (time.monotonic() - self.started)
        try:
            self.process.wait(max(1.0, remaining))
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"snakemake did not finish within {timeout} s:\n{self.tail()}")
        elapsed = time.monotonic() - self.started
        assert self.process.returncode == 0, (
            f"snakemake exited with {self.process.returncode} after {elapsed:.0f} s:\n"
            f"{' '.join(self.command)}\n{self.tail()}"
        )
        return elapsed

    def stop(self) -> None:
        """SIGINT (SIGTERM does not stop the SLURM executor), then SIGKILL; cancel leftovers."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        _cancel_leftovers(self.workdir)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


@contextlib.contextmanager
def snakemake(workdir: Path, configfile: Path, *args: str):
    run = Snakemake(workdir, configfile, *args)
    try:
        yield run
    finally:
        run.stop()


def sacct_jobs(
    workdir: Path, since: dt.datetime, settle: float = 30, expect: int = 0
) -> dict[str, dict]:
    """Accounting records (``sacct -X``) of the jobs that ran in `workdir`, once all are final.

    sacct lags slurmctld by about a second (a job cancelled just now may not be listed yet), so
    poll until at least `expect` jobs of `workdir` are listed and none is pending or running (at
    most `settle` seconds; then return what is listed, for the caller's assertion to show).
    """
    start = since.strftime("%Y-%m-%dT%H:%M:%S")
    fields = "JobIDRaw,JobName,State,WorkDir,ReqMem,Timelimit,Partition,Account"
    end = time.monotonic() + settle
    while True:
        result = subprocess.run(
            ["sacct", "-X", "-P", "-n", "-S", start, "-E", "now", "-o", fields],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        jobs = {}
        for line in result.stdout.splitlines():
            values = dict(zip(fields.split(","), line.split("|"), strict=True))
            if values["WorkDir"] == str(workdir):
                jobs[values["JobIDRaw"]] = values
        final = all(job["State"].startswith(FINAL_STATES) for job in jobs.values())
        if final and (len(jobs) >= expect or time.monotonic() > end):
            return jobs
        if time.monotonic() > end:
            pytest.fail(f"sacct: jobs of {workdir} not finished after {settle} s: {jobs}")
        time.sleep(0.5)


def slurm_log_jobs(workdir: Path) -> dict[str, tuple[str, str]]:
    """SLURM job id -> (rule, wildcards) from the plugin's per-job logs (kept by
    ``--slurm-keep-successful-logs``): ``.snakemake/slurm_logs/rule_<rule>/<wildcards>/<id>.log``.
    """
    jobs = {}
    for log in (workdir / ".snakemake" / "slurm_logs").glob("rule_*/*/*.log"):
        jobs[log.stem] = (log.parent.parent.name.removeprefix("rule_"), log.parent.name)
    return jobs


def run_id(output: str) -> str:
    match = re.search(r"SLURM run ID: (\S+)", output)
    assert match, "no 'SLURM run ID' in the snakemake output"
    return match.group(1)


def slurm_time(minutes: int) -> str:
    """A runtime in minutes as sacct prints a time limit."""
    days, rest = divmod(int(minutes), 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


def store_path(workdir: Path) -> Path:
    return workdir / TARGET


def assert_same_store(path: Path, reference: Path) -> None:
    """Every data variable equal bit for bit (NaN == NaN), except the timings (wall_time)."""
    with (
        xr.open_zarr(path, consolidated=True) as ds,
        xr.open_zarr(reference, consolidated=True) as ref,
    ):
        assert sorted(ds.data_vars) == sorted(ref.data_vars)
        assert dict(ds.sizes) == dict(ref.sizes)
        for name in ref.coords:
            assert np.array_equal(
                ds[name].values, ref[name].values, equal_nan=ref[name].dtype.kind == "f"
            ), name
        different = []
        for name, var in ref.data_vars.items():
            if name in NONDETERMINISTIC_VARIABLES:
                continue
            other = ds[name]
            assert other.dims == var.dims and other.dtype == var.dtype, name
            if not np.array_equal(other.values, var.values, equal_nan=var.dtype.kind in "fc"):
                different.append(name)
        assert not different, f"data variables differ from the local run: {different}"


def assert_complete(workdir: Path, chunk_ids) -> None:
    """Each (grid point, seed) exactly once: complete chunk stores of exactly the expected
    chunks (no temporaries left), their runs unique, and a full store without NaN cells."""
    chunks_dir = workdir / "results" / "tiny" / "chunks"
    assert sorted(p.name for p in chunks_dir.iterdir()) == sorted(f"{c}.zarr" for c in chunk_ids)
    runs = []
    for chunk_id in chunk_ids:
        path = chunks_dir / f"{chunk_id}.zarr"
        assert (path / MARKER).is_file(), path
        with xr.open_zarr(path, consolidated=True) as chunk:
            runs += list(
                zip(chunk["d"].values.tolist(), chunk["seed"].values.tolist(), strict=True)
            )
    config = tiny_config()
    expected = {(d, seed) for d in config["grid"]["d"] for seed in range(4)}
    assert len(runs) == len(set(runs)) and set(runs) == expected, runs
    with xr.open_zarr(store_path(workdir), consolidated=True) as ds:
        assert ds.attrs["n_runs"] == len(expected) and ds.attrs["n_missing_runs"] == 0
        assert ds.attrs["n_chunks"] == len(chunk_ids)
        assert (ds["status"].values >= 0).all()
        assert np.isfinite(ds["stop_step"].values).all()
        assert np.isfinite(ds["error"].isel(step=0).values).all()


def default_partition() -> str:
    out = subprocess.run(
        ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    default = [name.rstrip("*") for name in out if name.endswith("*")]
    return (default or [name.rstrip("*") for name in out])[0]


def default_account() -> str | None:
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    out = subprocess.run(
        ["sacctmgr", "-n", "-P", "show", "user", user, "format=defaultaccount"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    return out[0] if out else None


def site_resources() -> list[str]:
    """``--default-resources`` of the profile plus the site lines a user would edit."""
    with (PROFILE / "config.yaml").open(encoding="utf-8") as stream:
        resources = dict(yaml.safe_load(stream)["default-resources"])
    resources["slurm_partition"] = default_partition()
    account = default_account()
    if account:
        resources["slurm_account"] = account
    return ["--default-resources", *(f"{key}={value}" for key, value in resources.items())]


def _now() -> dt.datetime:
    # sacct -S is in local time, with 1 s resolution
    return dt.datetime.now() - dt.timedelta(seconds=5)


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def chunk_resources():
    resources = tiny_chunks()
    assert 2 <= len(resources) <= 3, "tiny.yaml should make 2-3 chunks"
    return resources


@pytest.fixture(scope="module")
def reference(tmp_path_factory, slurm_cluster) -> Path:
    """The sweep store of a local ``snakemake --cores 2`` run of tiny.yaml.

    Run first, also so that the numba cache is warm before SLURM jobs compile in parallel.
    """
    workdir = tmp_path_factory.mktemp("local")
    with snakemake(workdir, TINY, "--cores", "2") as run:
        elapsed = run.wait(REFERENCE_TIMEOUT)
    print(f"local reference run: {elapsed:.1f} s")
    return store_path(workdir)


# --------------------------------------------------------------------------------------------
# tests


def test_each_chunk_is_a_slurm_job(tmp_path, reference, chunk_resources):
    """(a) executor plugin: one COMPLETED SLURM job per chunk, with the chunk's resources."""
    since = _now()
    with snakemake(tmp_path, TINY, "--workflow-profile", str(PROFILE), *FAST_STATUS) as run:
        elapsed = run.wait()
    print(f"SLURM executor run: {elapsed:.1f} s")
    uuid = run_id(run.output)
    jobs = sacct_jobs(tmp_path, since)
    logs = slurm_log_jobs(tmp_path)
    assert set(logs) == set(jobs), (logs, jobs)
    for job in jobs.values():
        assert job["JobName"] == uuid and job["State"] == "COMPLETED", job
    simulate = {logs[i][1]: jobs[i] for i in logs if logs[i][0] == "simulate"}
    assert len(simulate) == sum(rule == "simulate" for rule, _ in logs.values())
    assert sorted(simulate) == sorted(f"tiny_{chunk}" for chunk in chunk_resources)
    for chunk, resources in chunk_resources.items():
        job = simulate[f"tiny_{chunk}"]
        assert job["ReqMem"] == f"{resources['mem_mb']}M", job
        assert job["Timelimit"] == slurm_time(resources["runtime"]), job
    assert {rule for rule, _ in logs.values()} == {"simulate", "assemble"}
    assert_complete(tmp_path, chunk_resources)
    assert_same_store(store_path(tmp_path), reference)


def test_dask_workers_in_slurm_jobs(tmp_path, reference, chunk_resources):
    """(b) local executor, Dask workers from dask-jobqueue's SLURMCluster."""
    config = tiny_config()
    config["dask"] = {
        "cluster": "slurm",
        "slurm": {
            "cores": 1,
            "memory": "1GB",
            "walltime": "00:10:00",
            "queue": default_partition(),
            "maximum_jobs": 1,
        },
    }
    configfile = tmp_path / "tiny-dask.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    since = _now()
    with snakemake(tmp_path, configfile, "--cores", "2") as run:
        elapsed = run.wait()
    print(f"dask-jobqueue run: {elapsed:.1f} s")
    jobs = sacct_jobs(tmp_path, since, expect=len(chunk_resources))
    workers = [job for job in jobs.values() if job["JobName"] == "dask-worker"]
    # one SLURMCluster per simulate job, each needs a worker; closing the cluster scancels it
    assert len(workers) >= len(chunk_resources), jobs
    assert all(job["State"].startswith(("COMPLETED", "CANCELLED")) for job in workers), workers
    assert len(workers) == len(jobs), jobs  # nothing else was submitted
    assert not _squeue_jobs(tmp_path, "PENDING,RUNNING,CONFIGURING"), "workers left running"
    logs = "\n".join(p.read_text() for p in (tmp_path / "results/tiny/logs/simulate").iterdir())
    assert logs.count("tcp://127.0.0.1:") >= len(chunk_resources), logs
    assert_complete(tmp_path, chunk_resources)
    assert_same_store(store_path(tmp_path), reference)


def test_cancelled_job_is_retried(tmp_path, reference, chunk_resources):
    """(c) a simulate job cancelled while RUNNING is resubmitted; nothing lost or doubled."""
    since = _now()
    args = [
        "--workflow-profile",
        str(PROFILE),
        *FAST_STATUS,
        "--slurm-status-command",
        "squeue",
        *site_resources(),
    ]
    with snakemake(tmp_path, TINY, *args) as run:
        cancelled = None
        deadline = time.monotonic() + 90
        while cancelled is None and run.running() and time.monotonic() < deadline:
            for job in _squeue_jobs(tmp_path, "RUNNING"):
                if job["comment"].startswith("rule_simulate_"):
                    subprocess.run(["scancel", job["id"]], check=True, timeout=30)
                    cancelled = job
                    break
            else:
                time.sleep(0.2)
        assert cancelled is not None, f"no running simulate job to cancel:\n{run.tail()}"
        elapsed = run.wait()
    print(f"run with job {cancelled['id']} cancelled: {elapsed:.1f} s")
    output = run.output
    assert f"SLURM-job '{cancelled['id']}' failed, SLURM status is: 'CANCELLED'" in output

    jobs = sacct_jobs(tmp_path, since)
    logs = slurm_log_jobs(tmp_path)
    assert set(logs) == set(jobs), (logs, jobs)
    # sacct names the canceller ("CANCELLED by 0"): the string plugin 2.8.0 does not recognise
    assert jobs[cancelled["id"]]["State"].startswith("CANCELLED"), jobs[cancelled["id"]]
    chunk_of_cancelled = logs[cancelled["id"]][1]
    assert cancelled["comment"] == f"rule_simulate_wildcards_{chunk_of_cancelled}"
    for chunk in chunk_resources:
        attempts = sorted(
            (
                int(i)
                for i, (rule, wc) in logs.items()
                if rule == "simulate" and wc == f"tiny_{chunk}"
            )
        )
        states = [jobs[str(i)]["State"] for i in attempts]
        if f"tiny_{chunk}" == chunk_of_cancelled:
            assert len(attempts) == 2 and states[1] == "COMPLETED", states
        else:
            assert states == ["COMPLETED"], states
    for job in jobs.values():
        assert job["Partition"] == default_partition(), job
    assert_complete(tmp_path, chunk_resources)
    assert_same_store(store_path(tmp_path), reference)
