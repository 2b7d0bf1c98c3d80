"""Issue 20 item 3: one writer per sweep directory, and chunk stores that heal themselves.

The reported race: two ``mfsim.sweep(conf, out=same_dir)`` calls, the first stopped (SIGSTOP)
while it writes; the second used to remove the first's temporary as stale and the first then
replaced a good chunk store with a partial one carrying the marker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mfsim import sweep
from mfsim.plan.chunk_plan import make_plan
from mfsim.store import MARKER, chunk_store_path
from mfsim.store.atomic import open_store
from mfsim.store.chunk_store import chunk_store_problems
from mfsim.store.lock import WriterLockedError, holder
from tests.helpers import ROOT, store_tiny

FIRST_WRITER = """
import json, sys
from distributed import Client
import mfsim
config = json.loads(sys.argv[1])
with Client(processes=False, n_workers=1, threads_per_worker=1) as client:
    mfsim.sweep(config, client=client, out=sys.argv[2])
print("done", flush=True)
"""


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.scenario
def test_second_sweep_into_a_directory_being_written_stops_and_the_first_completes(
    tmp_path, local_client, assert_same_data
):
    config = store_tiny(target_seconds=1e-9)
    out = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(
        [sys.executable, "-c", FIRST_WRITER, json.dumps(config), str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # the first writer holds the directory; stop it (as the scheduler did in the report)
        wait_for(lambda: holder(out).get("pid") == first.pid)
        first.send_signal(signal.SIGSTOP)
        named = rf"the sweep directory .*\(pid {first.pid} on "
        with pytest.raises(WriterLockedError, match=named):
            sweep(config, client=local_client, out=out)
        first.send_signal(signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, stderr[-3000:]
    # the directory is valid: every chunk store matches its plan, the sweep store opens, and a
    # second sweep now reuses everything and gives the same data
    plan = make_plan(config)
    for chunk in plan.chunks:
        assert chunk_store_problems(chunk_store_path(out, chunk), plan.chunk_plan(chunk)) == []
    written = open_store(out / "sweep.zarr").load()
    assert written.attrs["n_runs"] == sum(chunk.n_runs for chunk in plan.chunks)
    assert not [p.name for p in (out / "chunks").iterdir() if ".tmp-" in p.name]
    again = sweep(config, client=local_client, out=out).load()
    assert_same_data(again, written)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, local_client):
    """A complete sweep directory of 2 chunks and its data."""
    config = store_tiny(target_seconds=0.01)
    out = tmp_path_factory.mktemp("finished")
    return config, out, sweep(config, client=local_client, out=out).load()


def damage_missing_array(path):
    shutil.rmtree(path / "signal")


def damage_wrong_run_count(path):
    marker = json.loads((path / MARKER).read_text())
    marker["n_runs"] += 1
    (path / MARKER).write_text(json.dumps(marker))


def damage_as_reported(path):
    # an older version's marker (no file list) on a store without its consolidated metadata
    # and some arrays: "GroupNotFoundError: No group found in store" on every later run
    (path / MARKER).write_text(json.dumps({"complete": 1, "chunk_id": path.stem}))
    (path / ".zmetadata").unlink()
    (path / ".zgroup").unlink()
    shutil.rmtree(path / "error")


@pytest.mark.parametrize(
    "damage", [damage_missing_array, damage_wrong_run_count, damage_as_reported]
)
def test_a_chunk_store_that_does_not_match_its_marker_is_recomputed(
    finished, tmp_path, local_client, damage, assert_same_data
):
    config, original, data = finished
    out = tmp_path / "sweep"
    shutil.copytree(original, out)
    plan = make_plan(config)
    assert len(plan.chunks) == 2
    chunk = plan.chunks[1]
    path = chunk_store_path(out, chunk)
    damage(path)
    assert chunk_store_problems(path, plan.chunk_plan(chunk)) != []
    untouched = chunk_store_path(out, plan.chunks[0])
    mtime = (untouched / MARKER).stat().st_mtime_ns
    with pytest.warns(RuntimeWarning, match=rf"{path}: recomputing this chunk store: "):
        healed = sweep(config, client=local_client, out=out).load()
    assert chunk_store_problems(path, plan.chunk_plan(chunk)) == []
    assert (untouched / MARKER).stat().st_mtime_ns == mtime  # the others are reused
    assert_same_data(healed, data)
