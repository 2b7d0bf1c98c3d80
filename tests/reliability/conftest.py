"""Fixtures of the reliability tests (docs/reliability.md)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def warm_numba_cache():
    """Compile the kernels once in this process (numba caches them on disk, cache=True), so
    that Snakemake jobs and Dask workers load them instead of each compiling them."""
    import mfsim

    mfsim.simulate(mfsim.spectrum("linear", 50, r=2, kappa=5.0), steps=5, seeds=range(2))
    mfsim.simulate(mfsim.spectrum("flat", 50, r=2, kappa=5.0), steps=5, seeds=range(2))
