"""Issue 20 item 6 end to end: the workflow's closing line after a failure rerunning repeats.

The report rule fails on a bad environment (``MPLBACKEND`` naming no backend: matplotlib
refuses it at import), which no rerun fixes. Before, the run ended with "the same snakemake
command resumes"; now mfsim's one-line reason comes before the traceback and the closing line
names the failed job, its cause, and that rerunning repeats it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import TINY, snakemake_cmd, write_config

pytestmark = [pytest.mark.slow, pytest.mark.scenario]


def test_a_deterministic_rule_failure_is_named_in_the_closing_line(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(workdir, {**TINY, "sweep": "broken"})
    result = subprocess.run(
        snakemake_cmd(workdir, configfile, 2),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "no-such-backend"},
    )
    assert result.returncode != 0
    stderr = result.stderr
    reason = "mfsim: mfsim.report failed: ValueError: Key backend: 'no-such-backend'"
    assert reason in stderr, stderr[-3000:]
    assert stderr.index(reason) < stderr.index("Traceback", stderr.index(reason) - 1)
    # the last lines (Snakemake's own summary may follow)
    (last,) = [
        line for line in stderr.splitlines()[-5:] if line.startswith("mfsim: the sweep stopped")
    ]
    assert last.startswith("mfsim: the sweep stopped: job report failed: ValueError"), last
    assert "Rerunning the same command repeats this until it is fixed" in last
    assert "resumes" not in last
    # the chunks and the store before it are kept
    assert (workdir / "results" / "broken" / "sweep.zarr").is_dir()
