"""Issue 15 items 3, 11, 12 at the terminal: what ``snakemake`` prints for a config given with
``--config`` only, for an invalid config, and while chunks run."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from mfsim.cli import main
from tests.helpers import SNAKEFILE, TINY, run_snakemake, write_config

pytestmark = pytest.mark.slow


def snakemake_default(workdir, *extra):
    """snakemake in `workdir` without --configfile: the workflow reads config/config.yaml."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
         "--cores", "1", *extra],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path):
    """A working directory whose config/config.yaml is the tiny sweep named ``default``."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump({**TINY, "sweep": "default"}))
    return tmp_path


def test_config_without_configfile_applies_on_the_default(workdir):
    result = snakemake_default(workdir, "-n", "--config", "sweep=trial")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "results/trial/sweep.zarr" in result.stdout + result.stderr
    assert "required key is missing" not in result.stderr


def test_config_changing_the_grid_without_a_name_stops_and_says_how(workdir):
    result = snakemake_default(workdir, "-n", "--config", "grid={d: [60]}")
    assert result.returncode != 0
    assert "--config sweep=<name>" in result.stderr
    assert "required key is missing" not in result.stderr
    assert not (workdir / "results").exists()


def test_config_error_printed_once_without_wrapper(tmp_path):
    config = {**TINY, "grid": {**TINY["grid"]}}
    config["grid"]["kapa"] = config["grid"].pop("kappa")
    result = run_snakemake(tmp_path, write_config(tmp_path, config), "-n")
    assert result.returncode != 0
    assert result.stderr.count("grid.kapa: unknown key (did you mean 'kappa'?)") == 1
    for noise in ("WorkflowError", "common.smk", "Traceback", "required key is missing"):
        assert noise not in result.stderr, noise


def test_no_shell_command_none(tmp_path):
    result = run_snakemake(tmp_path, write_config(tmp_path, TINY), "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Shell command: None" not in output
    assert "rule simulate:" in output and "wildcards: sweep=tiny, chunk=" in output
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


@pytest.mark.scenario  # a full Snakemake run (issue 22 item 7)
def test_progress_reaches_the_terminal_and_status_reads_it(tmp_path, capsys):
    result = run_snakemake(tmp_path, write_config(tmp_path, TINY), "results/tiny/sweep.zarr")
    assert result.returncode == 0, result.stderr[-3000:]
    progress = [line for line in result.stderr.splitlines() if line.startswith("[mfsim ")]
    # TINY's two cheap d values share one chunk
    assert any("runs 6/6 (100%)" in line and "ETA" in line for line in progress)
    assert main(["status", str(tmp_path / "results" / "tiny")]) == 0
    assert "runs 6/6 (100%)" in capsys.readouterr().out


def test_dry_run_prints_the_cost_model_estimate_once(tmp_path):
    """``snakemake -n`` prints the lines of ``mfsim plan`` (issue 14 item 4), once."""
    from mfsim.config.model import parse
    from mfsim.plan.grid import estimate_sweep, format_estimate

    result = run_snakemake(tmp_path, write_config(tmp_path, TINY), "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("mfsim: sweep tiny:")]
    assert len(lines) == 1, result.stderr[-3000:]
    cores = int(lines[0].split(" on ")[1].split()[0])
    expected = format_estimate(estimate_sweep(parse(TINY), cores), cores)
    assert lines[0] == f"mfsim: sweep tiny: {expected}"
    # then the plan's warnings (issue 22 item 2), once each: TINY has too few steps and its
    # literal t_k^* is bound-dominated at every d
    from mfsim.plan.guidance import format_warnings, plan_warnings

    warned = [line for line in result.stderr.splitlines() if line.startswith("mfsim: warning: ")]
    assert warned == format_warnings(plan_warnings(parse(TINY)), prefix="mfsim: warning: ")
    assert len(warned) == 2 and "run.steps = 200 is below" in warned[0]
