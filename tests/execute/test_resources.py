"""Issue 15 item 5: CPU counts come from the process's affinity, not from the host."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mfsim.execute.resources import available_cpus

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="needs os.sched_setaffinity (Linux)"
)

PROBE = """
import os, sys
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # like `taskset -c <one cpu>`
from mfsim.execute.resources import available_cpus
print(available_cpus(), os.cpu_count())
"""


def test_available_cpus_follows_a_restricted_affinity():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert int(out[0]) == 1
    assert int(out[1]) >= 1  # the host count is what the old sizing used


def test_available_cpus_at_most_the_affinity():
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))
