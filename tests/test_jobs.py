"""The analysis rules' outputs hold every coordinate of a sweep (d = 10^12 is int64)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import xarray as xr

from mfsim.analysis.audit import audit_theorem6
from mfsim.analysis.scaling import fit_all
from mfsim.jobs import audit_job, fit_job
from tests.helpers import in_process_sweep

#: like config/large_d_flat.yaml, small: d beyond int32 through the exact flat-bulk reduction
HUGE_D = {
    "sweep": "huge",
    "spectrum": {"family": "flat"},
    "grid": {
        "d": [100, 10**6, 10**12],
        "r": [2],
        "kappa": [5.0],
        "varpi": [0.5],
        "eta": [0.1],
        "seeds": {"count": 3},
    },
    "run": {"steps": 300, "stop_error": 0.0},
}


def test_fit_and_audit_outputs_hold_d_beyond_int32(tmp_path):
    ds = in_process_sweep(HUGE_D, tmp_path)
    store = tmp_path / "sweep.zarr"
    expected = {"scaling": fit_all(ds), "audit": audit_theorem6(xr.open_zarr(store))}
    for name, job in (("scaling", fit_job), ("audit", audit_job)):
        out = tmp_path / f"{name}.zarr"
        job(store, out, tmp_path / f"{name}.log")
        with xr.open_dataset(out) as back:
            assert back["d"].values.tolist() == [100, 10**6, 10**12]
            xr.testing.assert_identical(back.load(), expected[name].load())


DEFERRED_DASK_SCRIPT = r"""
import sys
import numpy as np
import xarray as xr
import mfsim.jobs

path = sys.argv[1]
ds = xr.Dataset({"a": ("x", np.arange(6.0))})
ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
back = xr.open_zarr(path, chunks=None).load()
assert back["a"].values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
assert "dask.array" not in sys.modules, "a job without dask arrays imported dask.array"

import dask.array as da

# once dask.array is imported, xarray recognizes its arrays as before
lazy = xr.DataArray(da.arange(6.0, chunks=3), dims="x")
assert lazy.chunks == ((3, 3),)
chunked = xr.open_zarr(path)["a"]
assert isinstance(chunked.data, da.Array) and chunked.chunks is not None
assert float((chunked + lazy).sum().compute()) == 30.0
print("ok")
"""


def test_jobs_defer_dask_array_import_with_the_same_answers(tmp_path):
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", DEFERRED_DASK_SCRIPT, str(tmp_path / "s.zarr")],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


EXIT_JOB_SCRIPT = r"""
import sys
from mfsim.jobs import exit_job, job_log

with job_log(sys.argv[1], "mfsim.test") as log:
    log.info("the job's last line")
sys.stdout.write("buffered stdout, no newline")
sys.stderr.write("buffered stderr")
exit_job()
raise SystemExit(3)  # never reached
"""


def test_exit_job_ends_the_process_with_its_log_and_streams_flushed(tmp_path):
    root = Path(__file__).resolve().parents[1]
    log = tmp_path / "job.log"
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_JOB_SCRIPT, str(log)],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "buffered stdout, no newline"
    assert proc.stderr.endswith("buffered stderr")
    text = log.read_text()
    assert "the job's last line" in text and "mfsim.test took" in text


def test_ctrl_c_anywhere_in_a_job_exits_130_without_a_traceback(tmp_path, monkeypatch):
    """Also before the job's log is set up (reading the plan): SystemExit(130), not a
    KeyboardInterrupt traceback."""
    import pytest

    from mfsim.jobs import simulate_job
    from mfsim.plan import chunk_plan

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(chunk_plan, "read_chunk_plan", interrupted)
    with pytest.raises(SystemExit) as info:
        simulate_job(tmp_path / "plan.json", tmp_path / "out.zarr", 1, tmp_path / "job.log")
    assert info.value.code == 130
    assert not (tmp_path / "job.log").exists()  # interrupted before the log was opened
