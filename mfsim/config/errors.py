"""The error of an invalid config (a leaf of the config package)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """An invalid config; the message names the key path and the allowed values."""
