"""The Snakemake start line carries the plan's warnings (issue 22 item 2), once per invocation."""

from __future__ import annotations

from mfsim.config.model import parse
from mfsim.plan.guidance import format_warnings, plan_warnings
from tests.helpers import run_snakemake, tiny, write_config


def test_dry_run_prints_each_plan_warning_once(tmp_path):
    config = tiny(spectrum={"family": "flat"}, grid={"d": [100, 1000], "varpi": [0.5, 6.0]})
    expected = format_warnings(plan_warnings(parse(config)), prefix="mfsim: warning: ")
    # varpi = 6 diverges; varpi = 0.5: 200 steps are too few and t_k^* is bound-dominated
    assert len(expected) == 3
    result = run_snakemake(tmp_path, write_config(tmp_path, config), "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("mfsim: warning: ")]
    assert lines == expected
