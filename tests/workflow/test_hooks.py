"""The workflow's hooks (workflow/rules/common.smk): the scheduler timers released at the end."""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from pathlib import Path

COMMON = Path(__file__).resolve().parents[2] / "workflow" / "rules" / "common.smk"


def common_function(name: str):
    """A plain-Python function of common.smk, compiled from its source alone."""
    source = COMMON.read_text()
    match = re.search(rf"^def {name}\(.*?(?=^\S)", source, flags=re.M | re.S)
    assert match, f"{name} not found in {COMMON}"
    namespace = {"os": os}
    exec(compile(match.group(0), str(COMMON), "exec"), namespace)
    return namespace[name]


def timer_from(filename: str) -> threading.Timer:
    """A started one-hour Timer whose function was compiled in `filename`."""
    function = eval(compile("lambda: None", filename, "eval"))
    timer = threading.Timer(3600, function)
    timer.start()
    return timer


def test_only_the_schedulers_timers_are_cancelled():
    release = common_function("release_scheduler_timers")
    scheduler_file = os.path.join("site-packages", "snakemake", "scheduling", "job_scheduler.py")
    ours = timer_from(scheduler_file)
    other = timer_from(os.path.join("somewhere", "else.py"))
    try:
        release()
        ours.join(timeout=5)
        assert not ours.is_alive() and ours.finished.is_set()
        assert other.is_alive() and not other.finished.is_set()
    finally:
        other.cancel()
        ours.cancel()


def test_snakemake_still_arms_its_rate_limiter_timer_with_a_lambda():
    """What the release relies on: the scheduler's re-evaluation is a threading.Timer whose
    function is a lambda of job_scheduler.py (if Snakemake changes this, the release does
    nothing and every run waits ~1 s before exiting again)."""
    # read, not imported: importing the scheduler imports every executor plugin, and the SLURM
    # plugin's queries wait for a controller
    package = Path(importlib.util.find_spec("snakemake").origin).parent
    source = (package / "scheduling" / "job_scheduler.py").read_text()
    match = re.search(r"def _schedule_reevalutation\(.*?(?=\n    def )", source, flags=re.S)
    assert match, "Snakemake's scheduler no longer has _schedule_reevalutation"
    assert "threading.Timer(" in match.group(0) and "lambda" in match.group(0)
