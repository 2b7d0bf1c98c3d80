"""Fixtures of the SLURM tests: a running cluster, the test cluster on request, or not run.

Tests marked ``slurm`` get the session fixture :func:`slurm_cluster` automatically. It uses a
running cluster when ``sinfo`` shows a usable node. Otherwise the tests are not run (a skip with
the reason, listed by ``-rs`` and in the terminal summary), unless the environment asks for
the throwaway test cluster with ``MFSIM_TEST_SLURM=up`` (``.ci/run`` does): then, as root, it
starts it with ``bash tests/slurm/up.sh`` (which apt-installs SLURM and MariaDB and starts their
daemons) and stops it with ``down.sh`` at the end of the session (only if it started it). Asked
for and impossible (not root, no apt, up.sh fails) is an error, not a skip: where the cluster was
requested (CI), the SLURM tests must run. A plain ``pytest`` never installs or starts anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
UP = HERE / "up.sh"
DOWN = HERE / "down.sh"
#: Node states (``sinfo -o %t``) in which the node takes jobs; a suffix (``*`` not responding,
#: ``~`` powered off, ``#``, ``%``, ...) means it does not.
USABLE_STATES = {"idle", "mix", "mixed", "alloc", "allocated", "comp", "completing"}
#: Environment variable that asks for the test cluster; its one allowed value.
OPT_IN, OPT_IN_VALUE = "MFSIM_TEST_SLURM", "up"
NOT_REQUESTED = (
    f"no SLURM cluster answers (sinfo) and {OPT_IN}={OPT_IN_VALUE} is not set; with it (as root, "
    "Debian 12) the tests start the test cluster with tests/slurm/up.sh, which installs the "
    "SLURM and MariaDB packages and starts their daemons"
)

_status: list[str] = []


def _run(args: list[str], timeout: float = 20) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def node_states() -> list[str]:
    """Node states reported by ``sinfo`` (empty when SLURM does not answer)."""
    if shutil.which("sinfo") is None:
        return []
    result = _run(["sinfo", "-h", "-o", "%t"])
    if result is None or result.returncode != 0:
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def cluster_usable() -> bool:
    """Whether ``sinfo`` answers with a node that takes jobs."""
    return any(state in USABLE_STATES for state in node_states())


def _wait_for_sacct(seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while True:
        result = _run(["sacct", "-n", "-X", "-S", "now-1minutes"])
        if result is not None and result.returncode == 0:
            return
        if time.monotonic() > end:
            detail = "" if result is None else (result.stderr or result.stdout).strip()
            pytest.fail(f"SLURM answers but sacct (accounting, slurmdbd) does not: {detail}")
        time.sleep(0.5)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _skip(reason: str) -> None:
    _status.append(f"SLURM tests not run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A usable SLURM cluster with accounting for the session (see the module docstring).

    Yields
    ------
    dict
        ``started`` (bool): whether this session started it with up.sh.
    """
    requested = os.environ.get(OPT_IN, "")
    if requested not in ("", OPT_IN_VALUE):
        pytest.fail(f"{OPT_IN}={requested!r}: allowed values are {OPT_IN_VALUE!r} or unset")
    if cluster_usable():
        _status.append(f"SLURM tests: using the running cluster (nodes: {node_states()})")
        _wait_for_sacct()
        yield {"started": False}
        return
    if not requested:
        _skip(NOT_REQUESTED)
    if os.geteuid() != 0:
        pytest.fail(f"{OPT_IN}={OPT_IN_VALUE}: tests/slurm/up.sh needs root")
    if shutil.which("apt-get") is None:
        pytest.fail(f"{OPT_IN}={OPT_IN_VALUE}: tests/slurm/up.sh needs apt-get (Debian 12)")
    started = time.monotonic()
    try:
        result = subprocess.run(["bash", str(UP)], capture_output=True, text=True, timeout=1200)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"tests/slurm/up.sh timed out after {error.timeout} s")
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"tests/slurm/up.sh failed (exit {result.returncode}):\n{_tail(output)}")
    _status.append(
        f"SLURM tests: started the test cluster with tests/slurm/up.sh "
        f"({time.monotonic() - started:.1f} s); down.sh stops it at the end"
    )
    try:
        _wait_for_sacct()
        yield {"started": True}
    finally:
        down = subprocess.run(["bash", str(DOWN)], capture_output=True, text=True, timeout=300)
        if down.returncode != 0:
            _status.append(
                f"tests/slurm/down.sh failed (exit {down.returncode}):\n"
                f"{_tail(down.stdout + down.stderr)}"
            )


@pytest.fixture(autouse=True)
def _slurm_marker(request):
    """Tests marked ``slurm`` need the cluster: request it for them (lazily, once)."""
    if request.node.get_closest_marker("slurm") is not None:
        request.getfixturevalue("slurm_cluster")


def pytest_terminal_summary(terminalreporter):
    for line in _status:
        terminalreporter.write_line(line)
