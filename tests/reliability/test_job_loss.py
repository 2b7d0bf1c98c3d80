"""Issue 8.2: a simulate job SIGKILLed while it writes its chunk store.

A killed job leaves at most a ``<chunk>.zarr.tmp-<uuid>`` directory without the completion
marker: never a store at the chunk's path. ``assemble`` refuses such a store and names it, and
the next ``snakemake`` run recomputes exactly the chunks whose store is not complete.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import xarray as xr

from mfsim.config.validate import load_config
from mfsim.plan.grid import make_chunks
from mfsim.store import MARKER, IncompleteStoreError, assemble, chunk_store_path, is_complete
from tests.helpers import assert_same_data, in_process_sweep, run_snakemake, tiny, write_config

pytestmark = pytest.mark.slow

#: 3 chunks, one per value of d, one batch each.
CONFIG = tiny(
    sweep="job_loss",
    grid={"d": [50, 100, 200], "seeds": {"start": 0, "count": 2}},
    chunking={"target_seconds": 1.0e-9},
)

#: run_chunk in a child process whose store writer stops half-way (half of the data variables
#: written, consolidated metadata included), reports the temporary path and waits to be killed.
KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from mfsim.execute import runner
    from mfsim.store import chunk_store
    from mfsim.config.validate import load_config

    chunk_id, config_path, out, ready = sys.argv[1:5]
    original = chunk_store.to_zarr

    def half_written(ds, path, **kwargs):
        names = list(ds.data_vars)[: len(ds.data_vars) // 2]
        part = ds[names]
        encoding = {k: v for k, v in kwargs["encoding"].items() if k in part.variables}
        original(part, path, encoding=encoding)
        Path(ready).write_text(str(path))
        time.sleep(600)

    chunk_store.to_zarr = half_written
    runner.run_chunk(chunk_id, load_config(config_path, results_root=None), out, threads=1)
    """
)


def kill_mid_write(chunk_id: str, configfile, out, tmp_path) -> str:
    """Run the chunk in a child process, SIGKILL it mid-write; return the temporary path."""
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, chunk_id, str(configfile), str(out), str(ready)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() or not ready.read_text():
            if proc.poll() is not None:
                pytest.fail(f"writer ended before the kill: {proc.stderr.read()[-3000:]}")
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return ready.read_text()


@pytest.mark.scenario
def test_killed_job_leaves_no_store_and_rerun_recomputes_exactly_the_missing(tmp_path):
    config = load_config(CONFIG, results_root=None)
    chunks = make_chunks(config)
    assert len(chunks) == 3
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(workdir, CONFIG)
    sweep_dir = workdir / "results" / "job_loss"
    stores = [chunk_store_path(sweep_dir, chunk) for chunk in chunks]
    logs = [sweep_dir / "logs" / "simulate" / f"{chunk.chunk_id}.log" for chunk in chunks]

    # job 0 finished (run by Snakemake, so that it has the job's metadata)
    first = run_snakemake(workdir, configfile, str(stores[0].relative_to(workdir)))
    assert first.returncode == 0, first.stderr[-3000:]
    assert is_complete(stores[0])
    before = {path: path.stat().st_mtime_ns for path in (logs[0], stores[0] / MARKER)}

    # job 1 is killed while it writes; job 2 never started
    tmp_store = kill_mid_write(chunks[1].chunk_id, configfile, stores[1], tmp_path)
    partial = stores[1].parent / tmp_store.rsplit("/", 1)[-1]
    assert partial.name.startswith(stores[1].name + ".tmp-")
    assert partial.is_dir() and (partial / ".zmetadata").is_file()  # data was on disk ...
    assert not is_complete(partial)  # ... but never the marker
    assert not stores[1].exists() and not stores[2].exists()

    # assemble refuses, naming the store: the missing one, and the partial one if given
    with pytest.raises(IncompleteStoreError, match=re.escape(f"{stores[1]}: chunk store does not")):
        assemble(stores, config, tmp_path / "a.zarr")
    with pytest.raises(IncompleteStoreError, match=re.escape(str(partial)) + ".*" + MARKER):
        assemble([stores[0], partial, stores[2]], config, tmp_path / "b.zarr")
    assert not (tmp_path / "a.zarr").exists() and not (tmp_path / "b.zarr").exists()

    # the rerun runs exactly the chunks without a complete store, then assembles
    target = str((sweep_dir / "sweep.zarr").relative_to(workdir))
    rerun = run_snakemake(workdir, configfile, target)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    ran = set(re.findall(r"wildcards: sweep=job_loss, chunk=([0-9a-f]{16})", rerun.stderr))
    assert ran == {chunks[1].chunk_id, chunks[2].chunk_id}
    assert {path: path.stat().st_mtime_ns for path in before} == before  # job 0 not rerun
    assert all(is_complete(store) for store in stores) and logs[1].is_file() and logs[2].is_file()
    assert not partial.exists()  # the stale temporary was removed by the rerun of chunk 1
    assert not [p for p in stores[0].parent.iterdir() if ".tmp-" in p.name]

    resumed = xr.open_zarr(sweep_dir / "sweep.zarr").load()
    assert_same_data(in_process_sweep(CONFIG, tmp_path / "reference"), resumed)
