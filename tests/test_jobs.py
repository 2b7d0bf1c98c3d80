"""The analysis rules' outputs hold every coordinate of a sweep (d = 10^12 is int64)."""

from __future__ import annotations

import xarray as xr

from mfsim.analysis.audit import audit_theorem6
from mfsim.analysis.bracket import attach_bracket, audit_t_k_star_bracket
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
    swept = xr.open_zarr(store)
    # the audit job stores the Theorem 6 audit with the t_k^* bracket of every run beside it
    audit = attach_bracket(audit_theorem6(swept), audit_t_k_star_bracket(swept))
    expected = {"scaling": fit_all(ds), "audit": audit}
    for name, job in (("scaling", fit_job), ("audit", audit_job)):
        out = tmp_path / f"{name}.zarr"
        job(store, out, tmp_path / f"{name}.log")
        with xr.open_dataset(out) as back:
            assert back["d"].values.tolist() == [100, 10**6, 10**12]
            xr.testing.assert_identical(back.load(), expected[name].load())


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
