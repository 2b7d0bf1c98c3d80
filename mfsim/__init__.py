"""mfsim: gradient descent for matrix factorization from large initialization, at scale.

The public API is flat: ``mfsim.spectrum``, ``mfsim.simulate``, ``mfsim.sweep``, ...
"""

__version__ = "0.1.0"

from .engine import simulate, simulate_dense  # noqa: E402
from .init import initial_state, run_seed_sequence  # noqa: E402
from .recording import recorded_steps  # noqa: E402
from .spectra import Spectrum, SpectrumError, spectrum  # noqa: E402
from .stages import StageTracker, analyze_stages  # noqa: E402

__all__ = [
    "__version__",
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
