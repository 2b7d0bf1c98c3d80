"""The job budget (mfsim.plan.budget): chunk counts within chunking.max_jobs, the ladder of
targets, stable chunk ids under a small grid change, profile defaults, `mfsim plan --profile`."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mfsim.config import parse
from mfsim.plan.budget import (
    LADDER_RUNGS,
    apply_job_budget,
    choose_target,
    read_profile,
)
from mfsim.plan.grid import plan_chunks

ROOT = Path(__file__).resolve().parents[2]


def issue_grid(seeds: int = 64, d_values=None, chunking=None) -> dict:
    """The flat-family grid of issue 24: 31 d x r in 2..6 x 10 kappa x 10 varpi x 10 eta."""
    d = (
        d_values
        if d_values is not None
        else {"start": 100, "stop": 1.0e12, "num": 31, "spacing": "log"}
    )
    return {
        "sweep": "issue24",
        "spectrum": {"family": "flat"},
        "grid": {
            "d": d,
            "r": [2, 3, 4, 5, 6],
            "kappa": {"start": 8, "stop": 100, "num": 10, "spacing": "log"},
            "varpi": {"start": 0.1, "stop": 10, "num": 10, "spacing": "log"},
            "eta": {"start": 0.01, "stop": 0.1, "num": 10, "spacing": "log"},
            "seeds": {"count": seeds},
        },
        "run": {"steps": 30000, "record": {"policy": "log", "num": 20}},
        "chunking": chunking or {},
        "limits": {"max_runs": 10**8, "max_bytes": 10**15},
    }


@pytest.fixture(scope="module")
def ten_million():
    config = parse(issue_grid())
    chunks, target = plan_chunks(config)
    return config, chunks, target


def test_ten_million_runs_fit_the_default_budget(ten_million):
    config, chunks, target = ten_million
    runs = sum(chunk.n_runs for chunk in chunks)
    assert runs == 31 * 5 * 10 * 10 * 10 * 64 == 9_920_000
    assert len(chunks) <= config.chunking.max_jobs == 5000
    rung = math.log2(target / config.chunking.target_seconds)
    assert rung == int(rung) and rung >= 1  # the budget binds: 20 s would make ~10^5 jobs
    # the rung below does not fit: packed at half the target the sweep needs more jobs
    lower = parse(issue_grid(chunking={"target_seconds": target / 2, "max_jobs": 10**6}))
    assert len(plan_chunks(lower)[0]) > config.chunking.max_jobs


def test_the_slurm_profile_budget_gives_fewer_longer_jobs(ten_million):
    config, chunks, _ = ten_million
    budget = read_profile(ROOT / "profiles" / "slurm")["job_budget"]
    assert budget == {"max_jobs": 5000, "min_job_seconds": 600}
    slurm = parse(apply_job_budget(issue_grid(), budget))
    slurm_chunks, _ = plan_chunks(slurm)
    assert len(slurm_chunks) <= 5000
    assert math.fsum(c.cost for c in slurm_chunks) / len(slurm_chunks) >= 600
    assert len(slurm_chunks) < len(chunks)


def test_inserting_one_d_value_changes_few_chunks():
    budget = {"max_jobs": 150}
    d_values = [10**k for k in range(2, 12)]
    before = parse(issue_grid(seeds=4, d_values=d_values, chunking=budget))
    after = parse(issue_grid(seeds=4, d_values=sorted(d_values + [31623]), chunking=budget))
    (old, old_target), (new, new_target) = plan_chunks(before), plan_chunks(after)
    assert old_target == new_target > before.chunking.target_seconds  # the budget binds
    assert len(old) <= 150 and len(new) <= 150
    old_ids, new_ids = {c.chunk_id for c in old}, {c.chunk_id for c in new}
    # chunks of every other (d, r) group keep their ids; the new ones hold the new d
    new_only = [c for c in new if c.chunk_id not in new_ids & old_ids]
    assert all({b.point.d for b in c.batches} == {31623} for c in new_only)
    assert old_ids <= new_ids
    with_new_d = [c for c in new if 31623 in {b.point.d for b in c.batches}]
    assert len(new_only) == len(with_new_d) < len(new) / len(d_values) + 2


def fake_chunking(**values):
    defaults = dict(target_seconds=20.0, max_jobs=100, min_job_seconds=0.0, max_runs_per_chunk=4096)
    return SimpleNamespace(**{**defaults, **values})


def test_choose_target_is_the_smallest_fitting_rung():
    # an independent packing model: chunks of half the target each
    total = 10_000.0

    def count(target):
        return math.ceil(total / (0.5 * target))

    target = choose_target(count, total, 1000, fake_chunking())
    fitting = [20.0 * 2**k for k in range(LADDER_RUNGS) if count(20.0 * 2**k) <= 100]
    assert target == fitting[0] == 320.0
    # a minimum mean job length moves it up: mean = target / 2 >= 600
    assert choose_target(count, total, 1000, fake_chunking(min_job_seconds=600)) == 1280.0


def test_choose_target_names_the_budget_it_cannot_meet():
    with pytest.raises(ValueError, match=r"chunking.max_jobs = 10 .*max_runs_per_chunk = 100"):
        choose_target(lambda t: 1, 1.0, 5000, fake_chunking(max_jobs=10, max_runs_per_chunk=100))
    with pytest.raises(ValueError, match="chunking.max_jobs = 10: no chunk target"):
        choose_target(lambda t: 11, 1.0, 10, fake_chunking(max_jobs=10))


def test_a_budget_fills_only_unset_chunking_keys():
    raw = {"sweep": "x", "chunking": {"max_jobs": 7}}
    merged = apply_job_budget(raw, {"max_jobs": 5000, "min_job_seconds": 600})
    assert merged["chunking"] == {"max_jobs": 7, "min_job_seconds": 600}
    assert raw == {"sweep": "x", "chunking": {"max_jobs": 7}}  # not modified
    with pytest.raises(ValueError, match=r"job_budget: unknown key\(s\) \['target'\]"):
        apply_job_budget(raw, {"target": 3})


def test_mfsim_plan_prints_jobs_and_queue_load_of_the_profile(tmp_path):
    raw = issue_grid(seeds=4, d_values=[100, 1000])
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(raw))
    proc = subprocess.run(
        [sys.executable, "-m", "mfsim.cli", "plan", str(path), "--profile", "profiles/slurm"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    chunks, target = plan_chunks(parse(apply_job_budget(raw, {"min_job_seconds": 600})))
    rounds = math.ceil(len(chunks) / 100)
    assert f"{len(chunks)} simulate job" in proc.stdout
    assert f"chunk target {target:.4g} s" in proc.stdout
    assert f"(jobs: 100), {rounds} round" in proc.stdout
