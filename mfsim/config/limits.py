"""Size limits of a sweep, checked before any work: run count, store size, free disk space.

Pure functions of a validated config (a dict with defaults or a
:class:`mfsim.config.model.SweepConfig`).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from mfsim.config.axes import grid_axes
from mfsim.config.errors import ConfigError
from mfsim.config.problems import problem_variants
from mfsim.config.recording import recorded_steps as _policy_steps

__all__ = [
    "BYTES_PER_VALUE",
    "bytes_per_run",
    "check_free_space",
    "check_limits",
    "count_runs",
    "estimate_store_bytes",
    "run_recorded_steps",
]

#: Per-step diagnostics that do not depend on k (error, sigma1_sq_X, sigmar_sq_U, sigma1_sq_J,
#: in_S, in_R) and those recorded per signal index k (signal, noise, noise_floor, sigma1_sq_K).
PER_STEP_VARIABLES = 6
PER_STEP_VARIABLES_PER_K = 4

#: Stage/outcome variables per run: per k (t_init, T_u, t_k, t_k_star,
#: t_k_star_bound_dominated, rise, learned, escape, plateau), per seed (first_in_S, first_in_R,
#: t_R, status, stop_step, wall_time), plus t_eps (one per eps) and top_gram (9 per heatmap step).
STAGE_VARIABLES_PER_K = 9
STAGE_VARIABLES_PER_RUN = 6
TOP_GRAM_SIZE = 9
BYTES_PER_VALUE = 8


def run_recorded_steps(run_config: dict):
    """The recorded step grid of a validated ``run`` section (:mod:`mfsim.config.recording`)."""
    record = run_config.get("record", {})
    return _policy_steps(
        int(run_config["steps"]),
        policy=record.get("policy", "auto"),
        stride=record.get("stride"),
        num=record.get("num"),
    )


def _axes(config):
    return config.grid.axes if hasattr(config, "grid") else grid_axes(config)


def _raw(config) -> dict:
    return config.as_dict() if hasattr(config, "as_dict") else config


def count_runs(config: dict) -> int:
    """Return the number of runs of the sweep (product of the axis lengths).

    Parameters
    ----------
    config : dict
        Validated config.

    Returns
    -------
    int
        Number of runs, which is also the number of (grid point, seed) cells of the store.
    """
    variants = len(config.grid.problems if hasattr(config, "grid") else problem_variants(config))
    return math.prod(len(values) for values in _axes(config).values()) * variants


def bytes_per_run(config: dict, n_recorded: int, r: int) -> int:
    """Bytes of one run's diagnostics: per-step variables plus stage variables."""
    run = config["run"]
    per_step = PER_STEP_VARIABLES + PER_STEP_VARIABLES_PER_K * r
    stages = (
        STAGE_VARIABLES_PER_K * r
        + STAGE_VARIABLES_PER_RUN
        + len(run["epsilons"])
        + TOP_GRAM_SIZE * len(run["heatmap_steps"])
    )
    return (n_recorded * per_step + stages) * BYTES_PER_VALUE


def estimate_store_bytes(config: dict) -> int:
    """Estimated bytes of the (uncompressed) sweep store.

    Parameters
    ----------
    config : dict
        Validated config.

    Returns
    -------
    int
        ``runs * (recorded steps * (6 + 4 max r) + stage variables) * 8``: the store is dense
        over the grid dims and its ``k`` dimension has length ``max r``.
    """
    config = _raw(config)
    n_recorded = run_recorded_steps(config["run"]).size
    max_r = max(_axes(config)["r"])
    return count_runs(config) * bytes_per_run(config, n_recorded, max_r)


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _format_bytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.3g} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.3g} MB"


def check_limits(config: dict, results_root: str | Path | None = "results") -> None:
    """Refuse a sweep that is too large, before any work.

    Parameters
    ----------
    config : dict
        Validated config.
    results_root : str or Path or None, default "results"
        Directory holding ``<sweep>/``; the free space of its file system (or of its nearest
        existing parent) must exceed the estimated store size. None skips the disk check.

    Raises
    ------
    mfsim.config.validate.ConfigError
        More runs than ``limits.max_runs``, an estimated store larger than ``limits.max_bytes``
        or than the free disk space; the message states the estimate.
    """
    config = _raw(config)
    limits = config["limits"]
    n_runs = count_runs(config)
    if n_runs > int(limits["max_runs"]):
        raise ConfigError(
            f"limits.max_runs: the grid has an estimated {n_runs:,} runs, more than "
            f"limits.max_runs = {int(limits['max_runs']):,}; shrink the grid or raise the limit"
        )
    store_bytes = estimate_store_bytes(config)
    if store_bytes > int(limits["max_bytes"]):
        raise ConfigError(
            f"limits.max_bytes: the sweep store needs an estimated {store_bytes:,} bytes "
            f"({_format_bytes(store_bytes)}), more than limits.max_bytes = "
            f"{int(limits['max_bytes']):,}; record fewer steps (run.record), shrink the grid or "
            "raise the limit"
        )
    if results_root is None:
        return
    check_free_space(config, Path(results_root) / config["sweep"], store_bytes)


def check_free_space(config: dict, target: str | Path, store_bytes: int | None = None) -> None:
    """Refuse a sweep whose estimated store is larger than the free space for `target`.

    Parameters
    ----------
    config : dict
        Validated config.
    target : str or Path
        The sweep directory (``results/<sweep>``); the free space of its file system (or of its
        nearest existing parent) is compared with the estimate.
    store_bytes : int, optional
        The estimate, if already known (default :func:`estimate_store_bytes`).

    Raises
    ------
    mfsim.config.validate.ConfigError
        ``limits.max_bytes: ...`` stating the estimate and the free space.
    """
    if store_bytes is None:
        store_bytes = estimate_store_bytes(config)
    target = Path(target)
    free = shutil.disk_usage(_existing_ancestor(target)).free
    if store_bytes > free:
        raise ConfigError(
            f"limits.max_bytes: the sweep store needs an estimated {store_bytes:,} bytes "
            f"({_format_bytes(store_bytes)}) but only {free:,} bytes ({_format_bytes(free)}) "
            f"are free for {target}"
        )
