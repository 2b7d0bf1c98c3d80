"""mfsim: gradient descent for matrix factorization from large initialization, at scale.

The public API is flat: ``mfsim.spectrum``, ``mfsim.simulate``, ``mfsim.sweep``, ...
"""

from mfsim._version import __version__  # noqa: F401
from mfsim.analysis import accessor  # noqa: E402, F401  (registers ds.mfsim)
from mfsim.analysis.scaling import fit_all, fit_scaling, fits_for, stage_table  # noqa: E402
from mfsim.config import SweepConfig, parse  # noqa: E402
from mfsim.config.validate import SCHEMA_PATH, ConfigError, load_config  # noqa: E402
from mfsim.engine.initialization import initial_state, run_seed_sequence  # noqa: E402
from mfsim.engine.recording import recorded_steps  # noqa: E402
from mfsim.engine.simulation import simulate, simulate_dense  # noqa: E402
from mfsim.engine.stages import StageTracker, analyze_stages  # noqa: E402
from mfsim.execute import cluster_client, run_chunk, sweep  # noqa: E402
from mfsim.plan.grid import (  # noqa: E402
    Batch,
    Chunk,
    GridPoint,
    estimate_resources,
    estimate_store_bytes,
    expand_grid,
    make_chunks,
)
from mfsim.spectra import Spectrum, SpectrumError, spectrum  # noqa: E402
from mfsim.store import assemble  # noqa: E402

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
