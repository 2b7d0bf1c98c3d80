"""mfsim.store.lock: one writer per output; the second is refused with the first's pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from mfsim.store.lock import WriterLockedError, holder, lock_path, writer_lock
from tests.helpers import ROOT


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    target = tmp_path / "a.zarr"
    refused = []

    def second_writer():
        try:
            with writer_lock(target, "this store"):
                refused.append(None)
        except WriterLockedError as error:
            refused.append(str(error))

    with writer_lock(target):
        assert holder(target)["pid"] == os.getpid()
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join()
        with writer_lock(target):  # re-entrant in the thread that holds it
            pass
    assert len(refused) == 1 and refused[0] is not None
    assert f"pid {os.getpid()} on " in refused[0] and str(target) in refused[0]
    assert "this store is being written by another process" in refused[0]
    assert not lock_path(target).exists()  # removed on release
    with writer_lock(target):  # free again
        pass


def test_the_lock_of_a_killed_holder_is_released(tmp_path):
    target = tmp_path / "sweep"
    code = (
        "import sys, time; from mfsim.store.lock import writer_lock\n"
        f"with writer_lock({str(target)!r}):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder_process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder_process.stdout.readline().strip() == "locked"
        with pytest.raises(WriterLockedError, match=f"pid {holder_process.pid} on "):
            with writer_lock(target):
                pass
    finally:
        holder_process.send_signal(signal.SIGKILL)
        holder_process.wait()
    assert lock_path(target).exists()  # left behind by kill -9, and harmless:
    with writer_lock(target):
        assert holder(target)["pid"] == os.getpid()
