"""``mfsim.sweep`` from a plain script: without a main guard it runs in-process (a local Dask
cluster's worker processes would re-run the script), with one on a LocalCluster; same data."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import xarray as xr

from mfsim.execute.main_guard import guarded_lines
from tests.helpers import ROOT, assert_same_data, in_process_sweep, tiny


def test_guarded_lines_finds_the_body_of_a_main_guard_only():
    source = textwrap.dedent(
        """\
        import mfsim
        x = 1
        if __name__ == "__main__":
            mfsim.sweep("a.yaml")
            print(x)
        if "__main__" == __name__:
            pass
        if __name__ != "__main__":
            pass
        """
    )
    assert guarded_lines(source) == ((4, 5), (7, 7))
    assert guarded_lines("def f(:\n") == ()


def _run_script(directory, body: str) -> subprocess.CompletedProcess:
    script = directory / "user_script.py"
    script.write_text(body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


CONFIG = tiny(sweep="plain", grid={"seeds": {"start": 0, "count": 2}})
HEADER = f"import mfsim\nconfig = {CONFIG!r}\n"


def test_sweep_from_a_script_without_main_guard_runs_in_process(tmp_path):
    plain = _run_script(tmp_path, HEADER + "mfsim.sweep(config, out='plain')\nprint('ran')\n")
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "ran" in plain.stdout
    # one warning, naming the script's line and the fix
    assert plain.stderr.count("without `if __name__") == 1, plain.stderr[-3000:]
    assert "user_script.py:3" in plain.stderr
    assert_same_data(
        xr.open_zarr(tmp_path / "plain" / "sweep.zarr").load(),
        in_process_sweep(CONFIG, tmp_path / "reference"),
    )


@pytest.mark.scenario
def test_a_guarded_script_runs_on_a_local_cluster_without_warning(tmp_path):
    guarded = _run_script(
        tmp_path,
        HEADER + "if __name__ == '__main__':\n    mfsim.sweep(config, out='guarded')\n",
    )
    assert guarded.returncode == 0, guarded.stderr[-3000:]
    assert "without `if __name__" not in guarded.stderr
    assert_same_data(
        xr.open_zarr(tmp_path / "guarded" / "sweep.zarr").load(),
        in_process_sweep(CONFIG, tmp_path / "reference"),
    )
