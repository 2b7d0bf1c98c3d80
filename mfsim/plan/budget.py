"""The job budget: the chunk target that keeps a sweep within a number of jobs.

A sweep is packed into chunks of about ``target`` estimated engine seconds
(:func:`mfsim.plan.grid.make_chunks`). ``chunking.target_seconds`` is the target of a small
sweep; a large one would make too many jobs for a scheduler (many SLURM sites cap a user at
about 10^4 queued jobs) or jobs too short for its latency. The effective target is therefore
taken from a ladder ``target_seconds * 2^k`` (:func:`choose_target`): the smallest rung at or
above ``max(target_seconds, min_job_seconds, total cost / max_jobs)`` whose packing has at most
``chunking.max_jobs`` chunks and a mean chunk of at least ``chunking.min_job_seconds``.

Because the target moves only in factors of 2, a small change of the grid (one more d value,
a few more seeds) almost always keeps the rung, and with it every chunk the change does not
touch; crossing a rung re-packs the sweep (new chunk ids). docs/design.md, "Job budget".

An executor's defaults come from its Snakemake profile: the profile's ``config`` list holds
``job_budget={max_jobs: ..., min_job_seconds: ...}`` (:data:`PROFILE_KEY`), applied to the keys
the sweep config's ``chunking`` section does not set (:func:`apply_job_budget`).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "BUDGET_KEYS",
    "LADDER_RUNGS",
    "PROFILE_KEY",
    "apply_job_budget",
    "choose_target",
    "format_budget",
    "read_profile",
]

#: Top-level ``--config`` key of a profile's job budget (never part of a sweep config).
PROFILE_KEY = "job_budget"
#: The ``chunking`` keys a profile's job budget may set.
BUDGET_KEYS = ("max_jobs", "min_job_seconds")
#: Rungs above ``target_seconds`` (2^24 x 20 s is ten years per job: never reached).
LADDER_RUNGS = 24


def choose_target(
    count_chunks: Callable[[float], int],
    total_cost: float,
    total_runs: int,
    chunking,
) -> float:
    """The effective chunk target of a sweep: the smallest fitting rung of the ladder.

    Parameters
    ----------
    count_chunks : callable
        ``count_chunks(target) -> int``: the number of chunks the packing makes at `target`.
    total_cost : float
        Estimated engine seconds of every run of the sweep.
    total_runs : int
        Runs of the sweep.
    chunking : mfsim.config.model.ChunkingSpec
        ``target_seconds``, ``max_jobs``, ``min_job_seconds``, ``max_runs_per_chunk``.

    Returns
    -------
    float
        ``target_seconds * 2^k`` (exact), k >= 0 the smallest rung at or above
        ``max(target_seconds, min_job_seconds, total_cost / max_jobs)`` whose packing has at
        most ``max_jobs`` chunks and a mean chunk cost of at least ``min_job_seconds`` (or one
        chunk, or no fewer chunks than the rung below: ``max_runs_per_chunk`` binds).

    Raises
    ------
    ValueError
        ``max_runs_per_chunk`` alone forces more than ``max_jobs`` chunks, or no rung fits.
    """
    base, max_jobs = chunking.target_seconds, chunking.max_jobs
    least_chunks = math.ceil(total_runs / chunking.max_runs_per_chunk)
    if least_chunks > max_jobs:
        raise ValueError(
            f"chunking.max_jobs = {max_jobs} cannot be met: {total_runs} runs at "
            f"chunking.max_runs_per_chunk = {chunking.max_runs_per_chunk} make at least "
            f"{least_chunks} chunks; raise chunking.max_jobs or chunking.max_runs_per_chunk"
        )
    floor = max(chunking.min_job_seconds, total_cost / max_jobs)
    first = 0
    while math.ldexp(base, first) < floor and first < LADDER_RUNGS:
        first += 1
    previous = None
    for rung in range(first, LADDER_RUNGS + 1):
        target = math.ldexp(base, rung)
        n_chunks = count_chunks(target)
        long_enough = total_cost / n_chunks >= chunking.min_job_seconds
        if n_chunks <= max_jobs and (long_enough or n_chunks in (1, previous)):
            return target
        previous = n_chunks
    raise ValueError(
        f"chunking.max_jobs = {max_jobs}: no chunk target up to "
        f"{math.ldexp(base, LADDER_RUNGS):.3g} s fits; raise chunking.max_jobs"
    )


def apply_job_budget(raw_config: Mapping, budget: Mapping | None) -> dict:
    """A copy of the raw config with the profile's job budget for the unset ``chunking`` keys.

    Parameters
    ----------
    raw_config : mapping
        The sweep config as read (before schema defaults).
    budget : mapping or None
        ``{max_jobs: int, min_job_seconds: number}`` (either key optional), or None.

    Returns
    -------
    dict
        The config; keys the sweep config sets itself are kept (the sweep config wins).

    Raises
    ------
    ValueError
        `budget` is not a mapping or has a key outside :data:`BUDGET_KEYS`.
    """
    config = copy.deepcopy(dict(raw_config))
    if budget is None:
        return config
    if not isinstance(budget, Mapping):
        raise ValueError(
            f"{PROFILE_KEY} = {budget!r}: expected a mapping of {', '.join(BUDGET_KEYS)}"
        )
    unknown = sorted(set(budget) - set(BUDGET_KEYS))
    if unknown:
        raise ValueError(
            f"{PROFILE_KEY}: unknown key(s) {unknown}; allowed: {', '.join(BUDGET_KEYS)}"
        )
    chunking = dict(config.get("chunking") or {})
    for key, value in budget.items():
        chunking.setdefault(key, value)
    config["chunking"] = chunking
    return config


def read_profile(profile_dir: str | os.PathLike) -> dict:
    """The settings of a Snakemake profile that shape the job budget and the queue.

    Parameters
    ----------
    profile_dir : path
        A profile directory (``profiles/slurm``) holding ``config.yaml``.

    Returns
    -------
    dict
        ``name`` (directory name), ``executor`` (``"local"`` unless the profile names one),
        ``jobs`` (int or None: jobs queued or running at once), ``job_budget`` (mapping or
        None: the ``job_budget=...`` entry of the profile's ``config`` list).

    Raises
    ------
    FileNotFoundError
        No ``config.yaml`` in `profile_dir`.
    ValueError
        A ``job_budget`` entry that is not YAML.
    """
    import yaml

    path = Path(profile_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"profile {profile_dir}: no config.yaml there")
    settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    budget = None
    for entry in settings.get("config") or []:
        key, _, value = str(entry).partition("=")
        if key.strip() == PROFILE_KEY:
            try:
                budget = yaml.safe_load(value)
            except yaml.YAMLError as error:
                raise ValueError(f"{path}: {PROFILE_KEY} is not YAML: {value!r}") from error
    jobs = settings.get("jobs")
    return {
        "name": Path(profile_dir).resolve().name,
        "executor": str(settings.get("executor", "local")),
        "jobs": int(jobs) if isinstance(jobs, int) else None,
        "job_budget": budget,
    }


def format_budget(chunks: list, chunking, target: float, profile: Mapping | None) -> str:
    """One line: job count against the budget, effective target, mean job, queue load.

    Parameters
    ----------
    chunks : list of Chunk
        The sweep's chunks.
    chunking : mfsim.config.model.ChunkingSpec
        The ``chunking`` section in effect.
    target : float
        The effective target (:func:`choose_target`).
    profile : mapping or None
        :func:`read_profile` of the profile the sweep runs with (None: local, ``--cores``).
    """
    n_jobs = len(chunks)
    costs = [chunk.cost for chunk in chunks]
    mean, longest = math.fsum(costs) / max(1, n_jobs), max(costs, default=0.0)
    rung = round(math.log2(target / chunking.target_seconds))
    line = (
        f"{n_jobs} simulate job{'s' if n_jobs != 1 else ''} of a budget of {chunking.max_jobs} "
        f"(chunking.max_jobs); chunk target {target:.4g} s = target_seconds x 2^{rung}; "
        f"mean job {mean:.3g} s, longest {longest:.3g} s "
        "of estimated engine time"
    )
    if profile is None:
        return line
    queued = profile.get("jobs")
    if queued:
        rounds = math.ceil(n_jobs / queued)
        line += (
            f"; profile {profile['name']} ({profile['executor']}): {min(queued, n_jobs)} jobs "
            f"queued or running at once (jobs: {queued}), {rounds} round"
            + ("s" if rounds != 1 else "")
        )
    else:
        line += f"; profile {profile['name']} ({profile['executor']}): {n_jobs} jobs queued"
    return line
