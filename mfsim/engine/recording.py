"""Which steps' diagnostics are kept: the policy is part of the run settings
(:mod:`mfsim.config.recording`); the engine records exactly those steps."""

from __future__ import annotations

from mfsim.config.recording import AUTO_ALL_MAX_STEPS, AUTO_LOG_POINTS, recorded_steps

__all__ = ["recorded_steps", "AUTO_ALL_MAX_STEPS", "AUTO_LOG_POINTS"]
