"""Config: the raw YAML/dict validated (schema, semantics, limits) and parsed once into a typed
:class:`~mfsim.config.model.SweepConfig`."""

from mfsim.config.errors import ConfigError
from mfsim.config.model import SweepConfig, as_sweep_config, parse

__all__ = ["ConfigError", "SweepConfig", "as_sweep_config", "parse"]
