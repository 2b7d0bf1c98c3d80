"""Issue 20 item 8: faults while ``assemble`` writes the sweep store (``kill -9``, a full disk):
the previous store is kept as it was, nothing partial is left at the path, and the same
command completes afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from mfsim.store import assemble
from mfsim.store.atomic import DiskFullError, open_store, require_complete
from tests.helpers import ROOT
from tests.tmpfs import mounted_tmpfs, tree_snapshot

#: Assembles, but stops for good (until killed) after writing 10 files of the new store.
STOPPED_ASSEMBLE = """
import json, sys, time
from pathlib import Path
from mfsim.store import assemble
original = Path.write_bytes
written = []
def write_bytes(self, data):
    written.append(self)
    if len(written) == 10:
        print("writing", flush=True)
        time.sleep(600)
    return original(self, data)
Path.write_bytes = write_bytes
assemble(json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3])
"""


def others(directory, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != name)


@pytest.fixture
def previous_store(many_chunks, tmp_path):
    """A sweep directory holding a complete sweep.zarr (the one a rerun overwrites)."""
    config, _, paths, store = many_chunks
    out = tmp_path / "sweep.zarr"
    shutil.copytree(store, out)
    return config, paths, out


@pytest.mark.scenario
def test_assemble_killed_while_it_writes_keeps_the_old_store_and_the_rerun_completes(
    previous_store, assert_same_data
):
    config, paths, out = previous_store
    before = tree_snapshot(out)
    process = subprocess.Popen(
        [sys.executable, "-c", STOPPED_ASSEMBLE, json.dumps([str(p) for p in paths]),
         json.dumps(config), str(out)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert process.stdout.readline().strip() == "writing"
        temporaries = [p for p in out.parent.iterdir() if ".tmp-" in p.name]
        assert len(temporaries) == 1 and any(temporaries[0].iterdir())
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        process.kill()
    # the old store is untouched; the killed writer's temporary has no marker
    assert tree_snapshot(out) == before
    with pytest.raises(Exception, match="no completion marker"):
        require_complete(temporaries[0])
    # the same command again: completes, whole, and removes the dead writer's temporary
    assemble(paths, config, out)
    require_complete(out)
    assert others(out.parent, out.name) == []
    assert_same_data(open_store(out).load(), open_store(previous_store[2]).load())


def test_full_disk_during_assemble_loses_nothing_and_the_rerun_completes(
    previous_store, tmp_path, assert_same_data
):
    config, paths, old = previous_store
    with mounted_tmpfs(tmp_path / "disk", "4m") as disk:
        out = disk / "sweep.zarr"
        shutil.copytree(old, out)
        before = tree_snapshot(out)
        # leave about 256 kB free: less than a second sweep.zarr needs
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        filler.write_bytes(b"\0" * (free - 256 * 1024))
        with pytest.raises(DiskFullError) as caught:
            assemble(paths, config, out)
        message = str(caught.value)
        assert f"free in {disk}" in message and "needs an estimated" in message
        assert "the previous sweep.zarr is unchanged" in message
        assert tree_snapshot(out) == before
        assert others(disk, out.name) == ["filler"]
        # space freed, the same command completes
        filler.unlink()
        assemble(paths, config, out)
        assert_same_data(open_store(out).load(), open_store(old).load())
        assert others(disk, out.name) == []
