"""Issue 8.3: Ctrl-C (SIGINT) on the whole workflow, then a rerun.

The SIGTERM case is ``tests/workflow/test_workflow.py::test_interrupted_run_resumes``
(``--cores 1``, stopped once the second job has started); this is the SIGINT case, with two
jobs running at once.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import time

import pytest
import xarray as xr

from mfsim.config.validate import load_config
from mfsim.plan.grid import make_chunks
from mfsim.store import MARKER, chunk_store_path, is_complete
from tests.helpers import (
    assert_same_data,
    in_process_sweep,
    run_snakemake,
    snakemake_cmd,
    tiny,
    write_config,
)

pytestmark = pytest.mark.slow

#: 4 chunks (one per eta), each about a second of compute.
CONFIG = tiny(
    sweep="sigint",
    grid={"d": [300], "eta": [0.05, 0.1, 0.15, 0.2]},
    run={"steps": 1000},
    chunking={"target_seconds": 1.0e-9},
)


def finished_for_snakemake(workdir, store) -> bool:
    """Whether Snakemake has registered the job of `store` as finished: the store is complete
    and Snakemake's incomplete-output flag (``.snakemake/incomplete/<base64 path>``) is gone."""
    relative = str(store.relative_to(workdir)).encode()
    flag = workdir / ".snakemake" / "incomplete" / base64.b64encode(relative).decode()
    return is_complete(store) and not flag.exists()


def running(workdir, store) -> bool:
    """Whether the job of `store` runs mfsim's code: its log (opened by mfsim.jobs.job_log once
    the job's imports are done) exists and the store is not complete yet. Snakemake's
    incomplete-output flag is not enough: it is set before the job's process starts."""
    log = workdir / "results" / "sigint" / "logs" / "simulate" / f"{store.stem}.log"
    return log.exists() and not is_complete(store)


#: a frame of a job's running code: any function of mfsim.jobs (the rule's entry point, its
#: interrupt handling, its log, its exit), as opposed to module-level code being imported
_JOB_FRAME = re.compile(r'/mfsim/jobs\.py", line \d+, in (?!<module>)')


def _job_tracebacks(stderr: str) -> list[str]:
    """KeyboardInterrupt tracebacks from a job's running code.

    A Ctrl-C that lands while a job's interpreter is still starting (``site``, Snakemake's
    script preamble, the imports of the rule's script) is reported by Python itself before any
    handler of ours exists; its frames are module-level import code only. Once a job function
    of mfsim.jobs runs, Ctrl-C must end it quietly (exit status 130, no traceback): a traceback
    through one of its frames is a fault. (Jobs write to one terminal at once, so lines of
    other jobs may be interleaved in a traceback: only frame lines are matched.)
    """
    blocks = [
        block.split("KeyboardInterrupt")[0]
        for block in stderr.split("Traceback (most recent call last):")[1:]
        if "KeyboardInterrupt" in block
    ]
    return [block for block in blocks if _JOB_FRAME.search(block)]


@pytest.mark.scenario
def test_sigint_then_rerun_gives_the_uninterrupted_store(tmp_path):
    chunks = make_chunks(load_config(CONFIG, results_root=None))
    assert len(chunks) == 4
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(workdir, CONFIG)
    sweep_dir = workdir / "results" / "sigint"
    stores = [chunk_store_path(sweep_dir, chunk) for chunk in chunks]

    proc = subprocess.Popen(
        snakemake_cmd(workdir, configfile, 2),
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # as from a terminal: a shell that runs pytest in the background (`cmd &` without job
        # control) leaves SIGINT ignored, and an ignored signal stays ignored across exec
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 240
        while not any(finished_for_snakemake(workdir, store) for store in stores):
            assert proc.poll() is None, "snakemake ended before the first chunk store"
            assert time.monotonic() < deadline, "no chunk store after 240 s"
            time.sleep(0.02)
        # Snakemake's log handler swallows a KeyboardInterrupt raised while it writes a line
        # (snakemake/logging.py: `except (KeyboardInterrupt, SystemExit): pass`), and it writes
        # as the flag above goes and as it starts the next job: a Ctrl-C then, with no job
        # process to fail, is lost and the run completes (README: press Ctrl-C again). This
        # one lands while another chunk job runs mfsim's code, which it interrupts.
        settle = time.monotonic() + 0.25
        while time.monotonic() < settle or not any(running(workdir, s) for s in stores):
            assert proc.poll() is None, "snakemake ended before the interrupt"
            assert time.monotonic() < deadline, "no chunk job running after 240 s"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, "snakemake reported success after SIGINT:\n" + stderr[-3000:]
    # issue 15 item 12: one line says what is kept and how to resume; no job traceback
    assert stderr.count("Finished chunks are kept") == 1, stderr[-3000:]
    assert "the same snakemake command resumes" in stderr
    assert not _job_tracebacks(stderr), "\n=====\n".join(_job_tracebacks(stderr))
    assert not (sweep_dir / "sweep.zarr").exists()
    # nothing half-written is left where a store is expected: a chunk path holds a complete
    # store or nothing (Snakemake removes the outputs of jobs it did not see finish)
    for store in stores:
        assert not store.exists() or is_complete(store), store
    finished = [store for store in stores if finished_for_snakemake(workdir, store)]
    assert 1 <= len(finished) < len(stores), "the interrupt came too late to test anything"
    kept = {store: (store / MARKER).stat().st_mtime_ns for store in finished}

    # A job running when Ctrl-C came may have completed its store (the marker and the rename
    # are its last steps) without Snakemake seeing it finish: Snakemake flags such an output
    # incomplete and refuses to use it without --rerun-incomplete (set in the local profile
    # workflow/profiles/default), which recomputes it.
    target = str((sweep_dir / "sweep.zarr").relative_to(workdir))  # the analysis is not at stake
    rerun = run_snakemake(workdir, configfile, "--rerun-incomplete", target)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # stores of jobs Snakemake saw finish are reused, not recomputed
    assert {store: (store / MARKER).stat().st_mtime_ns for store in kept} == kept
    assert all(is_complete(store) for store in stores)
    assert not [p for p in (sweep_dir / "chunks").iterdir() if ".tmp-" in p.name]
    resumed = xr.open_zarr(sweep_dir / "sweep.zarr").load()
    assert_same_data(in_process_sweep(CONFIG, tmp_path / "reference"), resumed)
