"""Fixtures shared by the whole suite (plain helpers are in ``tests/helpers.py``)."""

from __future__ import annotations

import pytest

# before any test module imports numba: numba reads NUMBA_CACHE_DIR on import, and mfsim.engine
# points it at mfsim's per-version kernel cache (mfsim.engine.compilation), as for a user
import mfsim.engine  # noqa: F401
from tests import helpers


@pytest.fixture
def tiny_config() -> dict:
    """The tiny workflow sweep (:data:`tests.helpers.TINY`), raw, a fresh copy per test."""
    return helpers.tiny()


@pytest.fixture(scope="session")
def assert_same_data():
    """Bit-identity of two Datasets, timings excepted (:func:`tests.helpers.assert_same_data`)."""
    return helpers.assert_same_data


@pytest.fixture(scope="session")
def many_chunks(tmp_path_factory):
    """:data:`tests.helpers.STORE_TINY` with one chunk per batch, run in-process, and its
    assembled store: ``(config, out, chunk store paths, sweep store)``."""
    from mfsim.store import assemble

    config = helpers.store_tiny(target_seconds=1e-9)
    out = tmp_path_factory.mktemp("many")
    paths = helpers.run_all(config, out)
    store = assemble(paths, config, out / "sweep.zarr")
    return config, out, paths, store


@pytest.fixture(scope="session")
def local_client():
    """A LocalCluster client of two single-threaded workers."""
    from mfsim.execute import cluster_client

    with cluster_client({"cluster": "local"}, threads=2) as client:
        yield client
