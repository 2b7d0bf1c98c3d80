"""Running the SLURM tests (``pytest -m slurm``; the default run leaves them out with the
other scenarios) leaves the machine alone: without a running SLURM cluster and without
``MFSIM_TEST_SLURM=up``, they are reported as not run, and nothing is installed or started
(no apt-get, no tests/slurm/up.sh, no daemon).

Not marked ``slurm``: this test needs no cluster. It runs the SLURM tests in a child pytest whose
PATH starts with fake ``apt-get``, ``bash``, daemons and SLURM commands that record every call.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Commands that install packages, run up.sh (``bash up.sh``) or start or query SLURM.
FAKED = (
    "apt-get", "apt", "dpkg", "bash", "systemctl", "service", "munged", "mariadbd", "mysqld",
    "slurmctld", "slurmd", "slurmdbd", "sacctmgr", "sinfo", "sacct", "squeue", "sbatch",
)  # fmt: skip
#: The only call allowed: asking whether a cluster answers.
QUERIES = {"sinfo"}


def test_slurm_tests_without_a_cluster_install_and_start_nothing(tmp_path):
    fakes = tmp_path / "bin"
    fakes.mkdir()
    calls = tmp_path / "calls.log"
    for name in FAKED:
        script = fakes / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 1\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = {key: value for key, value in os.environ.items() if key != "MFSIM_TEST_SLURM"}
    env["PATH"] = f"{fakes}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "slurm",
         "tests/slurm/test_slurm.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert " skipped" in output and "passed" not in output and "error" not in output.lower()
    assert "MFSIM_TEST_SLURM=up is not set" in output  # the reason, in the -rs summary
    assert "SLURM tests not run:" in output  # and in the terminal summary
    recorded = calls.read_text().splitlines() if calls.exists() else []
    assert {line.split()[0] for line in recorded} <= QUERIES, recorded
