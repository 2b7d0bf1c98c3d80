"""mfsim: gradient descent for matrix factorization from large initialization, at scale.

The public API is flat: ``mfsim.spectrum``, ``mfsim.simulate``, ``mfsim.sweep``, ...

Each public name is imported on first use (PEP 562 module ``__getattr__``), so importing a
subpackage such as ``mfsim.analysis`` or ``mfsim.output`` does not pay for the engine's numba
import, the config schema or Dask. Only the ``Dataset.mfsim`` accessor is registered at import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mfsim._version import __version__
from mfsim.analysis import accessor  # noqa: F401  (registers ds.mfsim)

if TYPE_CHECKING:  # the same names, for type checkers and readers of the import graph
    from mfsim.analysis.fit_table import fits_table
    from mfsim.analysis.scaling import fit_all, fit_scaling, fits_for, stage_table
    from mfsim.config import SweepConfig, parse
    from mfsim.config.validate import SCHEMA_PATH, ConfigError, load_config
    from mfsim.engine.initialization import initial_state, run_seed_sequence
    from mfsim.engine.recording import recorded_steps
    from mfsim.engine.simulation import simulate, simulate_dense
    from mfsim.engine.stages import StageTracker, analyze_stages
    from mfsim.execute import cluster_client, run_chunk, sweep
    from mfsim.plan.grid import (
        Batch,
        Chunk,
        GridPoint,
        estimate_resources,
        estimate_store_bytes,
        expand_grid,
        make_chunks,
    )
    from mfsim.spectra import Spectrum, SpectrumError, spectrum
    from mfsim.store import assemble

#: Public name -> module that defines it (imported on first access).
_EXPORTS = {
    "fits_table": "mfsim.analysis.fit_table",
    "fit_all": "mfsim.analysis.scaling",
    "fit_scaling": "mfsim.analysis.scaling",
    "fits_for": "mfsim.analysis.scaling",
    "stage_table": "mfsim.analysis.scaling",
    "SweepConfig": "mfsim.config",
    "parse": "mfsim.config",
    "SCHEMA_PATH": "mfsim.config.validate",
    "ConfigError": "mfsim.config.validate",
    "load_config": "mfsim.config.validate",
    "initial_state": "mfsim.engine.initialization",
    "run_seed_sequence": "mfsim.engine.initialization",
    "recorded_steps": "mfsim.engine.recording",
    "simulate": "mfsim.engine.simulation",
    "simulate_dense": "mfsim.engine.simulation",
    "StageTracker": "mfsim.engine.stages",
    "analyze_stages": "mfsim.engine.stages",
    "cluster_client": "mfsim.execute",
    "run_chunk": "mfsim.execute",
    "sweep": "mfsim.execute",
    "Batch": "mfsim.plan.grid",
    "Chunk": "mfsim.plan.grid",
    "GridPoint": "mfsim.plan.grid",
    "estimate_resources": "mfsim.plan.grid",
    "estimate_store_bytes": "mfsim.plan.grid",
    "expand_grid": "mfsim.plan.grid",
    "make_chunks": "mfsim.plan.grid",
    "Spectrum": "mfsim.spectra",
    "SpectrumError": "mfsim.spectra",
    "spectrum": "mfsim.spectra",
    "assemble": "mfsim.store",
}

__all__ = [
    "__version__",
    "assemble",
    "cluster_client",
    "run_chunk",
    "sweep",
    "SCHEMA_PATH",
    "SweepConfig",
    "parse",
    "Batch",
    "Chunk",
    "ConfigError",
    "GridPoint",
    "estimate_resources",
    "estimate_store_bytes",
    "expand_grid",
    "fit_all",
    "fit_scaling",
    "fits_for",
    "fits_table",
    "load_config",
    "make_chunks",
    "stage_table",
    "Spectrum",
    "SpectrumError",
    "StageTracker",
    "analyze_stages",
    "initial_state",
    "recorded_steps",
    "run_seed_sequence",
    "simulate",
    "simulate_dense",
    "spectrum",
]


def __getattr__(name: str):
    """Import the module of public name `name` on first access and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mfsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
