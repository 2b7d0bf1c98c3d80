"""Facts about the machine that the engine's speed depends on, printed beside every ratio.

The fused pass streams X through the cores' L1 and L2 in slabs (``kernels._SLAB_BYTES``) and
blocks (``kernels.BLOCK_ROWS``); where X fits in the last-level cache (d r 8 bytes per seed
below the L3 size) the memory floor is the cache's bandwidth, not DRAM's. numba's threads are
not pinned: two of them on SMT siblings of one core share its L1, L2 and FMA units.
"""

from __future__ import annotations

import os
import subprocess

import numba

_LSCPU_KEYS = (
    "Model name",
    "CPU(s)",
    "Thread(s) per core",
    "Core(s) per socket",
    "Socket(s)",
    "L1d cache",
    "L2 cache",
    "L3 cache",
    "Hypervisor vendor",
)


def lscpu() -> dict:
    """The lines of ``lscpu`` named in ``_LSCPU_KEYS`` (empty where lscpu is missing)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    facts = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in _LSCPU_KEYS:
            facts[key.strip()] = value.strip()
    return facts


def smt_siblings() -> str:
    """The SMT sibling groups among the CPUs this process may run on (Linux sysfs)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return "unknown"
    groups = set()
    for cpu in cpus:
        path = f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        try:
            with open(path) as handle:
                groups.add(handle.read().strip())
        except OSError:
            return "unknown"
    shared = [g for g in sorted(groups) if ("," in g or "-" in g)]
    if not shared:
        return f"none ({len(cpus)} CPUs, each its own core)"
    return "siblings " + "; ".join(shared)


def describe() -> list[str]:
    """Lines of machine facts: model, caches, threads per core, numba's threads and layer."""
    facts = lscpu()
    lines = [
        f"cpu: {facts.get('Model name', 'unknown')}; {facts.get('CPU(s)', '?')} CPUs, "
        f"{facts.get('Thread(s) per core', '?')} thread(s) per core, "
        f"{facts.get('Core(s) per socket', '?')} core(s) per socket"
        + (f", hypervisor {facts['Hypervisor vendor']}" if "Hypervisor vendor" in facts else ""),
        f"caches: L1d {facts.get('L1d cache', '?')}, L2 {facts.get('L2 cache', '?')}, "
        f"L3 {facts.get('L3 cache', '?')}",
        f"numba: {numba.get_num_threads()} threads (layer {numba.config.THREADING_LAYER}); "
        f"SMT among the usable CPUs: {smt_siblings()}; OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', '(unset)')}, NUMBA_NUM_THREADS="
        f"{os.environ.get('NUMBA_NUM_THREADS', '(unset)')}",
    ]
    return lines


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg())
