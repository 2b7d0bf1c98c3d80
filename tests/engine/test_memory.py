"""Memory use of ``mfsim.simulate``: O(d r), never a d x d matrix.

``tracemalloc`` sees the allocations of the Python side (NumPy arrays: X_0, the batch stack, the
per-block diagnostics, the Dataset); allocations made by numba inside compiled code (NRT) are
invisible to it, but the kernels only allocate r x r scratch arrays (and, in the row-parallel
driver, (batch, r, r)), which no d x d matrix could hide in.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

import mfsim


def test_simulate_memory_is_a_small_multiple_of_the_iterate():
    """Peak Python-side allocation during ``simulate`` (d = 2e5, r = 2, 1 seed, 50 steps) is at
    most 6x the iterate's bytes d r 8 (X_0 drawn, scaled, stacked: 2x measured), and
    far below the d x d * 8 bytes that forming X X^T would need (checked: < 1% of it)."""
    d, r, steps = 200_000, 2, 50
    spec = mfsim.spectrum("linear", d, r=r, kappa=4)
    kw = dict(eta=0.1, steps=steps, seeds=[0], stop_error=0.0, record="all")
    mfsim.simulate(spec, **{**kw, "steps": 2})  # compile / load the kernels outside the trace
    iterate = d * r * 8
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        ds = mfsim.simulate(spec, **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ds.status.item() == 1 and np.isfinite(ds.error).all()
    assert peak <= 6 * iterate, f"peak {peak / iterate:.2f}x the iterate"
    assert peak < d * d * 8 / 100
